-- The matured high-tier cells behind the high_tier_accuracy alert of day %(as_of)s (issue 26): every scored forecast
-- of tier 'high' whose target day lies in the %(window)s days ending at %(as_of)s (as-of day, prediction, realised).
SELECT f.as_of, f.pred_log_return, s.realised_log_return
FROM forecasts f
JOIN forecast_scores s USING (coin, as_of, horizon, model_id)
WHERE f.tier = 'high' AND f.target_day <= %(as_of)s AND f.target_day > %(as_of)s::date - %(window)s::int
ORDER BY f.as_of, f.coin, f.horizon, f.model_id
