-- The served coins trading on the as-of day (not yet inactive then) and how many horizons of that day's
-- forecast each has: a complete day has 5 for every one.
SELECT c.coin, count(f.horizon) AS horizons
FROM coins c
LEFT JOIN forecasts f ON f.coin = c.coin AND f.as_of = %(as_of)s
WHERE c.coin = ANY(%(coins)s)
  AND (c.active OR c.inactive_since > %(as_of)s)
GROUP BY c.coin
ORDER BY c.coin
