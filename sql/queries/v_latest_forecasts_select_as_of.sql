-- The forecasts of one as-of day as users see them, in coin and horizon order.
SELECT coin, horizon, pred_log_return, pred_close, base_close, model_id, served_as,
       lo80_close, hi80_close, lo95_close, hi95_close, input_drifted, input_drift_cause,
       confidence, members_agree, tier
FROM v_latest_forecasts
WHERE as_of = %(as_of)s
ORDER BY coin, horizon
