-- A model's own walk-forward cells (the first-model rule): prediction, always-up baseline, realised.
SELECT coin, as_of, horizon, pred_log_return, always_up, realised_log_return
FROM validation_predictions
WHERE model_id = %(model_id)s
ORDER BY as_of, coin, horizon
