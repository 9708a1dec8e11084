-- The h = 1 cells of the 80 percent coverage check of day %(as_of)s (the same %(window)s fully matured as-of
-- days): one series per coin and model, its as-of day, and whether the realised return fell outside the
-- stored range (backtested for clustered misses).
SELECT f.coin || '/' || f.model_id AS series,
       f.as_of,
       NOT (s.realised_log_return BETWEEN f.lo80_log_return AND f.hi80_log_return) AS miss
FROM forecasts f
JOIN forecast_scores s USING (coin, as_of, horizon, model_id)
WHERE f.lo80_log_return IS NOT NULL
  AND f.horizon = 1
  AND f.as_of <= %(as_of)s::date - 5
  AND f.as_of > %(as_of)s::date - 5 - %(window)s::int
ORDER BY series, f.as_of
