-- The served coins trading on the as-of day (not yet inactive then), how many horizons of that day's
-- forecast each has (a complete day has 5 for every one), and whether the coin is still warming up after a
-- level shift accepted within the last %(warmup_days)s days (its history restarts at the break, so it has no
-- full input window yet: excused, and named, rather than missing).
SELECT c.coin, count(f.horizon) AS horizons,
       EXISTS (SELECT 1 FROM candle_level_shifts s
               WHERE s.coin = c.coin AND s.day <= %(as_of)s
                 AND s.day > %(as_of)s::date - %(warmup_days)s::int) AS warming_up
FROM coins c
LEFT JOIN forecasts f ON f.coin = c.coin AND f.as_of = %(as_of)s
WHERE c.coin = ANY(%(coins)s)
  AND (c.active OR c.inactive_since > %(as_of)s)
GROUP BY c.coin
ORDER BY c.coin
