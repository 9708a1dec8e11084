-- Every member prediction of a model's walk-forward pieces (the gather averages them per cell).
SELECT fold, member, coin, as_of, horizon, pred_log_return, realised_log_return
FROM member_predictions
WHERE model_id = %(model_id)s
ORDER BY fold, member, coin, as_of, horizon
