-- Forecasts whose target day is <= %(as_of)s but which cannot be scored yet (a candle is missing).
SELECT f.coin, f.as_of, f.horizon, f.target_day
FROM forecasts f
LEFT JOIN forecast_scores s USING (coin, as_of, horizon, model_id)
WHERE f.target_day <= %(as_of)s AND s.coin IS NULL
ORDER BY f.target_day, f.coin, f.horizon
