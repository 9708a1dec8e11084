-- The alert of (kind, as-of day) was emailed: a rerun of the day does not mail again.
UPDATE alerts SET emailed = true WHERE kind = %(kind)s AND as_of = %(as_of)s
