-- One forecast row with its served (corrected) and uncorrected ranges, input-drift assessment and confidence
-- (issue 26); a rerun of the same day and model rewrites it with the same values.
INSERT INTO forecasts (coin, as_of, horizon, model_id, target_day, base_close, pred_log_return, pred_close, run_id,
                       lo80_log_return, hi80_log_return, lo95_log_return, hi95_log_return,
                       lo80_close, hi80_close, lo95_close, hi95_close, interval_method,
                       input_distance, input_drift_threshold, input_drifted, input_drift_cause,
                       lo80_log_return_uncorrected, hi80_log_return_uncorrected, lo95_log_return_uncorrected,
                       hi95_log_return_uncorrected, confidence, members_agree, tier)
VALUES (%(coin)s, %(as_of)s, %(horizon)s, %(model_id)s, %(target_day)s, %(base_close)s, %(pred_log_return)s,
        %(pred_close)s, %(run_id)s, %(lo80_log_return)s, %(hi80_log_return)s, %(lo95_log_return)s,
        %(hi95_log_return)s, %(lo80_close)s, %(hi80_close)s, %(lo95_close)s, %(hi95_close)s, %(interval_method)s,
        %(input_distance)s, %(input_drift_threshold)s, %(input_drifted)s, %(input_drift_cause)s,
        %(lo80_log_return_uncorrected)s, %(hi80_log_return_uncorrected)s, %(lo95_log_return_uncorrected)s,
        %(hi95_log_return_uncorrected)s, %(confidence)s, %(members_agree)s, %(tier)s)
ON CONFLICT (coin, as_of, horizon, model_id) DO UPDATE SET
    target_day = excluded.target_day, base_close = excluded.base_close,
    pred_log_return = excluded.pred_log_return, pred_close = excluded.pred_close, run_id = excluded.run_id,
    lo80_log_return = excluded.lo80_log_return, hi80_log_return = excluded.hi80_log_return,
    lo95_log_return = excluded.lo95_log_return, hi95_log_return = excluded.hi95_log_return,
    lo80_close = excluded.lo80_close, hi80_close = excluded.hi80_close,
    lo95_close = excluded.lo95_close, hi95_close = excluded.hi95_close,
    interval_method = excluded.interval_method,
    input_distance = excluded.input_distance, input_drift_threshold = excluded.input_drift_threshold,
    input_drifted = excluded.input_drifted, input_drift_cause = excluded.input_drift_cause,
    lo80_log_return_uncorrected = excluded.lo80_log_return_uncorrected,
    hi80_log_return_uncorrected = excluded.hi80_log_return_uncorrected,
    lo95_log_return_uncorrected = excluded.lo95_log_return_uncorrected,
    hi95_log_return_uncorrected = excluded.hi95_log_return_uncorrected,
    confidence = excluded.confidence, members_agree = excluded.members_agree, tier = excluded.tier
