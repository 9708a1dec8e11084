-- The calibration residuals of the ranges of model %(model_id)s for as-of day %(as_of)s: its own
-- out-of-sample walk-forward predictions whose target day is before the as-of day and whose as-of day
-- lies in the %(calib_days)s days before it. Fixed at registration, so a rerun reads the same rows.
SELECT coin, as_of, horizon, pred_log_return, realised_log_return
FROM validation_predictions
WHERE model_id = %(model_id)s
  AND as_of + horizon < %(as_of)s
  AND as_of >= %(as_of)s::date - %(calib_days)s::int
ORDER BY coin, horizon, as_of
