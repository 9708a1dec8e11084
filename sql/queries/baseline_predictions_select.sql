-- Every stored baseline prediction of a weekly model's walk-forward folds (the gather scores the ensemble beside them).
SELECT fold, coin, as_of, horizon, predictions
FROM baseline_predictions
WHERE model_id = %(model_id)s
ORDER BY fold, coin, as_of, horizon
