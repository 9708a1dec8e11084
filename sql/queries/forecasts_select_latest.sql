-- The latest forecast per coin made on or before `as_of`: one model per coin, preferring the model
-- that was champion on that as-of day, then the newest model. One row per horizon, with its stored
-- 80 / 95 percent ranges (the fan chart and the page draw these numbers; they never recompute them), its
-- input-drift flag and its confidence and tier (issue 26).
WITH latest AS (
    SELECT DISTINCT ON (f.coin) f.coin, f.as_of, f.model_id
    FROM forecasts f
    JOIN models m USING (model_id)
    WHERE f.as_of <= %(as_of)s
    ORDER BY f.coin, f.as_of DESC,
             (m.champion_from IS NOT NULL AND m.champion_from <= f.as_of
              AND (m.champion_until IS NULL OR f.as_of < m.champion_until)) DESC,
             m.created_for DESC, f.model_id
)
SELECT f.coin, f.as_of, f.horizon, f.target_day, f.model_id, f.base_close, f.pred_log_return,
       f.pred_close, f.run_id, f.lo80_close, f.hi80_close, f.lo95_close, f.hi95_close,
       f.lo80_log_return, f.hi80_log_return, f.lo95_log_return, f.hi95_log_return,
       f.input_drifted, f.input_distance, f.input_drift_threshold, f.input_drift_cause,
       f.confidence, f.members_agree, f.tier
FROM forecasts f
JOIN latest l USING (coin, as_of, model_id)
ORDER BY f.coin, f.horizon
