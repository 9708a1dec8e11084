-- Stored days of one coin in [first, last].
SELECT day FROM candles WHERE coin = %(coin)s AND day BETWEEN %(first)s AND %(last)s
