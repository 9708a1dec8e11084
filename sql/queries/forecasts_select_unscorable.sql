-- Forecasts whose target day is <= %(as_of)s but which cannot be scored yet (a candle is missing); one
-- across an accepted level shift is never scored (forecast_scores_upsert_matured) and not listed.
SELECT f.coin, f.as_of, f.horizon, f.target_day
FROM forecasts f
LEFT JOIN forecast_scores s USING (coin, as_of, horizon, model_id)
WHERE f.target_day <= %(as_of)s AND s.coin IS NULL
  AND NOT EXISTS (SELECT 1 FROM candle_level_shifts b
                  WHERE b.coin = f.coin AND b.day > f.as_of AND b.day <= f.target_day)
ORDER BY f.target_day, f.coin, f.horizon
