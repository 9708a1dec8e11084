-- Stored closes a batch of candles is checked against for plausibility: the last stored day before
-- %(first)s and every stored day from there through %(last)s.
SELECT day, close FROM candles
WHERE coin = %(coin)s AND day <= %(last)s
  AND day >= coalesce((SELECT max(day) FROM candles WHERE coin = %(coin)s AND day < %(first)s), %(first)s)
ORDER BY day
