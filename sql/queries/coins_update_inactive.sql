-- The exchange no longer trades the coin: mark it inactive from the day after its last stored candle.
-- Its candles stay. Idempotent: an inactive coin keeps its first inactive_since and reason.
UPDATE coins SET active = false,
                 inactive_since = (SELECT max(day) + 1 FROM candles WHERE coin = %(coin)s),
                 inactive_reason = %(reason)s
WHERE coin = %(coin)s AND active
RETURNING inactive_since
