-- Record an IP ban unless one is already in force (after exchange_bans_lock); the row comes back only
-- when this call recorded it.
INSERT INTO exchange_bans (exchange, coin, interval_start, interval_end, banned_until, in_force_until, message)
SELECT %(exchange)s, %(coin)s, %(interval_start)s, %(interval_end)s, %(banned_until)s, %(in_force_until)s,
       %(message)s
WHERE NOT EXISTS (SELECT 1 FROM exchange_bans WHERE exchange = %(exchange)s AND now() < in_force_until)
RETURNING ban_id
