-- A coin not registered yet gets its configured embedding id (its position in config.COIN_ORDER) when that
-- id is free, else the next id after every configured one; a known coin is left as is. So ids do not
-- depend on the order in which coins are first ingested (the daily DAG ingests them in parallel).
INSERT INTO coins (coin, symbol, exchange, coin_index)
SELECT %(coin)s, %(symbol)s, %(exchange)s,
       CASE WHEN %(preferred)s::int IS NOT NULL
                 AND NOT EXISTS (SELECT 1 FROM coins WHERE coin_index = %(preferred)s::int)
            THEN %(preferred)s::int
            ELSE greatest(coalesce((SELECT max(coin_index) + 1 FROM coins), 0), %(reserved)s::int) END
ON CONFLICT (coin) DO NOTHING
