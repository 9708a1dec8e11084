-- 002: what the orchestration adds to the core schema: the challenger's walk-forward predictions
-- (the evidence of every promotion decision) and the documented read-only views for users and
-- dashboards. The views only read tables, so they never change what the pipeline computes.
-- "Champion of a day" below means the model whose [champion_from, champion_until) range contains the
-- as-of day: the point-in-time rule the daily DAG uses to choose the model that forecasts that day.

-- Out-of-sample walk-forward predictions of a registered model, made by its own configuration
-- retrained on data strictly before each fold (fold cutoff < as_of - purge). The weekly promotion
-- compares them with the champion's stored live forecasts on exactly the same cells.
CREATE TABLE validation_predictions (
    model_id            text NOT NULL REFERENCES models(model_id) ON DELETE CASCADE,
    coin                text NOT NULL,
    as_of               date NOT NULL,
    horizon             smallint NOT NULL CHECK (horizon BETWEEN 1 AND 5),
    fold                smallint NOT NULL,
    fold_cutoff         date NOT NULL,            -- last day whose targets the fold's model trained on
    pred_log_return     double precision NOT NULL,
    realised_log_return double precision NOT NULL,
    always_up           double precision NOT NULL, -- the always-up baseline on the same cell (> 0)
    PRIMARY KEY (model_id, coin, as_of, horizon),
    CHECK (fold_cutoff < as_of)
);

-- Latest forecast per coin: the most recent as-of day that has a forecast, from the model that was
-- champion on that day (the only model the daily DAG forecasts with). One row per horizon 1..5.
CREATE VIEW v_latest_forecasts AS
WITH latest AS (
    SELECT DISTINCT ON (f.coin) f.coin, f.as_of, f.model_id
    FROM forecasts f
    JOIN models m USING (model_id)
    ORDER BY f.coin, f.as_of DESC,
             (m.champion_from IS NOT NULL AND m.champion_from <= f.as_of
              AND (m.champion_until IS NULL OR f.as_of < m.champion_until)) DESC,
             m.created_for DESC, f.model_id
)
SELECT f.coin, f.as_of, f.horizon, f.target_day, f.model_id,
       f.base_close,                                   -- close of the as-of day
       f.pred_log_return,                              -- predicted log(close[target] / close[as_of])
       f.pred_close,                                   -- implied price: base_close * exp(pred_log_return)
       sign(f.pred_log_return)::int AS pred_direction, -- +1 up, -1 down, 0 flat
       f.run_id
FROM forecasts f
JOIN latest l USING (coin, as_of, model_id);
COMMENT ON VIEW v_latest_forecasts IS
    'Latest 5-day forecast per coin (one row per horizon) from the model that was champion on that as-of day.';

-- Every forecast with its realised outcome once the target day has closed and been scored.
CREATE VIEW v_forecast_outcomes AS
SELECT f.coin, f.as_of, f.horizon, f.target_day, f.model_id,
       f.base_close, f.pred_log_return, f.pred_close,
       s.realised_log_return,                          -- NULL until scored (target day not closed yet)
       s.realised_close,
       s.direction_hit,                                -- NULL when unscored or the realised return is exactly 0
       s.abs_error,                                    -- |realised - predicted| log return
       abs(s.realised_log_return) AS rw_abs_error,     -- error of the random walk (predicts 0) on the same cell
       s.coin IS NOT NULL AS matured,
       f.run_id
FROM forecasts f
LEFT JOIN forecast_scores s USING (coin, as_of, horizon, model_id);
COMMENT ON VIEW v_forecast_outcomes IS
    'Forecasts joined with realised outcomes (NULL until matured) and the random-walk error on the same cell.';

-- Live accuracy over the last 30 as-of days whose forecasts have been scored (relative to the newest
-- scored target day), per model x coin x horizon, with roll-ups: coin = 'ALL' and/or horizon = 0
-- mean "all coins" / "all horizons". DA counts only cells whose realised return is not exactly 0.
-- mae_ratio_rw < 1 means the model's absolute error is below the random walk's on the same cells.
CREATE VIEW v_live_accuracy AS
WITH scored AS (
    SELECT s.*, abs(s.realised_log_return) AS rw_abs_error
    FROM forecast_scores s
    JOIN forecasts f USING (coin, as_of, horizon, model_id)
    WHERE f.target_day > (SELECT max(f2.target_day) FROM forecast_scores s2
                          JOIN forecasts f2 USING (coin, as_of, horizon, model_id)) - 30
)
SELECT model_id,
       COALESCE(coin, 'ALL') AS coin,
       COALESCE(horizon, 0)::smallint AS horizon,
       count(*) AS n_cells,
       count(direction_hit) AS n_direction_cells,
       avg(direction_hit::int)::double precision AS da,   -- directional accuracy, 0..1
       avg(abs_error) AS mae,
       avg(rw_abs_error) AS rw_mae,
       avg(abs_error) / NULLIF(avg(rw_abs_error), 0) AS mae_ratio_rw,
       min(as_of) AS first_as_of,
       max(as_of) AS last_as_of
FROM scored
GROUP BY GROUPING SETS ((model_id, coin, horizon), (model_id, coin), (model_id, horizon), (model_id));
COMMENT ON VIEW v_live_accuracy IS
    'Rolling 30-day live DA / MAE / MAE vs random walk per model, coin and horizon (ALL / 0 = roll-up).';

-- Every weekly promotion decision with both models' registry facts, newest first when ordered by decided_for.
CREATE VIEW v_promotion_history AS
SELECT d.decided_for, d.challenger_id, d.champion_id, d.promoted,
       d.challenger_da, d.champion_da,
       d.challenger_da - d.champion_da AS da_difference,
       d.n_cells,                                      -- (coin, as-of, horizon) cells both were scored on
       d.p_value,                                      -- McNemar exact p-value on discordant cells
       d.reason,
       c.training_cutoff AS challenger_cutoff, c.status AS challenger_status,
       c.champion_from AS challenger_champion_from, c.champion_until AS challenger_champion_until,
       p.training_cutoff AS champion_cutoff,
       d.details
FROM promotion_decisions d
JOIN models c ON c.model_id = d.challenger_id
LEFT JOIN models p ON p.model_id = d.champion_id;
COMMENT ON VIEW v_promotion_history IS
    'Weekly promotion decisions: both DAs, cell count, McNemar p-value, reason and the models involved.';

-- The registry without the artifact bytes (what an analyst wants to see about each model).
CREATE VIEW v_models AS
SELECT model_id, created_for, training_cutoff, feature_version, code_version, status,
       champion_from, champion_until, hyperparams, metrics, artifact_sha256,
       octet_length(artifact) AS artifact_bytes
FROM models;
COMMENT ON VIEW v_models IS 'Model registry rows without the artifact bytes; champion_from/until are as-of days.';

-- Alert state history (one row per kind and as-of day; emailed = a change of state was mailed).
CREATE VIEW v_alerts AS
SELECT kind, as_of, state, emailed, message, details FROM alerts;
COMMENT ON VIEW v_alerts IS 'Daily alert states; emailed is true on the days the state changed and a mail went out.';
