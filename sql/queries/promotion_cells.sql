-- The fair comparison cells: the champion's stored live forecasts with as-of day in [first, last] whose
-- outcome is scored, each with the challenger's walk-forward prediction for the SAME (coin, as-of,
-- horizon) when it has one (has_challenger). The realised return is the scored one.
SELECT f.coin, f.as_of, f.horizon,
       v.pred_log_return AS challenger_pred,
       f.pred_log_return AS champion_pred,
       s.realised_log_return,
       v.model_id IS NOT NULL AS has_challenger
FROM forecasts f
JOIN forecast_scores s USING (coin, as_of, horizon, model_id)
LEFT JOIN validation_predictions v
       ON v.model_id = %(challenger_id)s AND v.coin = f.coin AND v.as_of = f.as_of AND v.horizon = f.horizon
WHERE f.model_id = %(champion_id)s AND f.as_of BETWEEN %(first)s AND %(last)s
ORDER BY f.as_of, f.coin, f.horizon
