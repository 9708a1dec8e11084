-- Coverage of the stored 80 percent ranges over the last %(window)s fully matured as-of days before %(as_of)s
-- (as-of days <= as_of - 5, so all five horizons have closed): cells with a range and a score, and how
-- many of them held the realised return.
SELECT count(*) AS n_cells,
       count(*) FILTER (WHERE s.realised_log_return BETWEEN f.lo80_log_return AND f.hi80_log_return) AS n_covered
FROM forecasts f
JOIN forecast_scores s USING (coin, as_of, horizon, model_id)
WHERE f.lo80_log_return IS NOT NULL
  AND f.as_of <= %(as_of)s::date - 5
  AND f.as_of > %(as_of)s::date - 5 - %(window)s::int
