-- UPSERT daily candles of one coin (psycopg2 execute_values expands the VALUES placeholder).
-- An identical row is left alone (the WHERE makes the rerun a no-op); a changed one is a revision:
-- revision + 1 and revised_in = the data interval end of this run (never now()).
-- RETURNING gives one row per inserted or revised candle; (xmax = 0) is true for fresh inserts.
INSERT INTO candles AS c (coin, day, open, high, low, close, volume, first_seen_in)
VALUES %s
ON CONFLICT (coin, day) DO UPDATE
SET open = excluded.open, high = excluded.high, low = excluded.low, close = excluded.close,
    volume = excluded.volume, revised_in = excluded.first_seen_in, revision = c.revision + 1
WHERE (c.open, c.high, c.low, c.close, c.volume)
      IS DISTINCT FROM (excluded.open, excluded.high, excluded.low, excluded.close, excluded.volume)
RETURNING c.day, (c.xmax = 0) AS inserted
