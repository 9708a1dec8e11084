-- The last recorded state of alert %(kind)s before day %(as_of)s (none: treated as 'ok').
SELECT state, as_of FROM alerts WHERE kind = %(kind)s AND as_of < %(as_of)s ORDER BY as_of DESC LIMIT 1
