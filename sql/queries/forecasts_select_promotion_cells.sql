-- The fair comparison cells: the champion's stored live forecasts with as-of day in [first, last]
-- (so every target day is <= last + 5 = the training cutoff), each with the challenger's walk-forward
-- prediction for the SAME (coin, as-of, horizon) when it has one (has_challenger). The realised return
-- comes from the stored candles (the weekly run ingested them), not from forecast_scores, so the
-- comparison does not depend on whether today's daily scoring has run yet.
SELECT f.coin, f.as_of, f.horizon,
       v.pred_log_return AS challenger_pred,
       f.pred_log_return AS champion_pred,
       ln(ct.close / cb.close) AS realised_log_return,
       v.model_id IS NOT NULL AS has_challenger
FROM forecasts f
JOIN candles cb ON cb.coin = f.coin AND cb.day = f.as_of
JOIN candles ct ON ct.coin = f.coin AND ct.day = f.target_day
LEFT JOIN validation_predictions v
       ON v.model_id = %(challenger_id)s AND v.coin = f.coin AND v.as_of = f.as_of AND v.horizon = f.horizon
WHERE f.model_id = %(champion_id)s AND f.as_of BETWEEN %(first)s AND %(last)s
ORDER BY f.as_of, f.coin, f.horizon
