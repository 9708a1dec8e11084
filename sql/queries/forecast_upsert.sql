-- One forecast row; a rerun of the same day and model rewrites it with the same values.
INSERT INTO forecasts (coin, as_of, horizon, model_id, target_day, base_close, pred_log_return, pred_close, run_id)
VALUES (%(coin)s, %(as_of)s, %(horizon)s, %(model_id)s, %(target_day)s, %(base_close)s, %(pred_log_return)s,
        %(pred_close)s, %(run_id)s)
ON CONFLICT (coin, as_of, horizon, model_id) DO UPDATE SET
    target_day = excluded.target_day, base_close = excluded.base_close,
    pred_log_return = excluded.pred_log_return, pred_close = excluded.pred_close, run_id = excluded.run_id
