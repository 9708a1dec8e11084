-- The last stored day of a coin and how many days are stored.
SELECT max(day), count(*) FROM candles WHERE coin = %(coin)s
