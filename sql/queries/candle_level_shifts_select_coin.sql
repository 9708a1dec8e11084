-- The days an operator accepted a level shift on for a coin (its breaks), oldest first.
SELECT day FROM candle_level_shifts WHERE coin = %(coin)s ORDER BY day
