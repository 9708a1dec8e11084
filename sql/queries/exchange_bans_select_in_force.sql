-- The latest IP ban of an exchange still in force now (see exchange_bans.in_force_until).
SELECT coin, in_force_until, banned_until IS NOT NULL AS said, message
FROM exchange_bans
WHERE exchange = %(exchange)s AND now() < in_force_until
ORDER BY recorded_at DESC
LIMIT 1
