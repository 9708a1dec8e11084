-- The largest common set of out-of-sample cells of challenger %(challenger_id)s and champion
-- %(champion_id)s: every (coin, as-of, horizon) the challenger has a walk-forward prediction for and the
-- champion has either a live forecast matured by the training cutoff %(cutoff)s (preferred: what it
-- served) or a walk-forward prediction of its own. Every prediction comes from a model trained before
-- the day (validation_predictions: CHECK fold_cutoff < as_of; forecasts: the point-in-time champion).
-- The realised return is the challenger's, computed from the candles up to the cutoff.
SELECT v.coin, v.as_of, v.horizon,
       v.pred_log_return AS challenger_pred,
       COALESCE(f.pred_log_return, c.pred_log_return) AS champion_pred,
       v.realised_log_return,
       f.coin IS NOT NULL AS live
FROM validation_predictions v
LEFT JOIN forecasts f
       ON f.model_id = %(champion_id)s AND f.coin = v.coin AND f.as_of = v.as_of AND f.horizon = v.horizon
      AND f.target_day <= %(cutoff)s
LEFT JOIN validation_predictions c
       ON c.model_id = %(champion_id)s AND c.coin = v.coin AND c.as_of = v.as_of AND c.horizon = v.horizon
WHERE v.model_id = %(challenger_id)s AND (f.coin IS NOT NULL OR c.coin IS NOT NULL)
ORDER BY v.as_of, v.coin, v.horizon
