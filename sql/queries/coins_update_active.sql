-- An inactive coin the exchange trades again (a candle on or after inactive_since was stored): active again.
UPDATE coins SET active = true, inactive_since = NULL, inactive_reason = NULL
WHERE coin = %(coin)s AND NOT active
  AND EXISTS (SELECT 1 FROM candles c WHERE c.coin = %(coin)s AND c.day >= coins.inactive_since)
RETURNING coin
