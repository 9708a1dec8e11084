-- Accept a coin's level shift from %(day)s on. ratio = the close of the latest quarantined implausible
-- candle of that day / the last stored close before it. No row comes back (nothing recorded) when the day
-- has no such quarantined candle or the coin no stored close before it; accepting again keeps the first.
INSERT INTO candle_level_shifts (coin, day, ratio, reason)
SELECT %(coin)s, %(day)s, (r.raw -> 'row' ->> 4)::double precision / c.close, %(reason)s
FROM (SELECT raw FROM rejected_candles
      WHERE coin = %(coin)s AND day = %(day)s AND reason LIKE 'implausible close:%%'
      ORDER BY interval_end DESC LIMIT 1) r,
     (SELECT close FROM candles WHERE coin = %(coin)s AND day < %(day)s ORDER BY day DESC LIMIT 1) c
ON CONFLICT (coin, day) DO NOTHING
RETURNING ratio
