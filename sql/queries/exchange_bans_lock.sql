-- Serialise the ban recorders of one exchange until the transaction ends (tasks ingesting in parallel may
-- meet the same ban); the insert that follows then sees any ban committed meanwhile.
SELECT pg_advisory_xact_lock(hashtext('exchange_bans:' || %(exchange)s))
