-- 006: serving what we know (issue 14).
-- * Every forecast row carries its 80 % and 95 % ranges, of the log return and of the price
--   (close[as_of] * exp(q)), split-conformal on residuals matured before the as-of day
--   (cryptolstm/evaluation/intervals.py); NULL when the model has no calibration residuals.
-- * Promotion decisions record the day-block bootstrap intervals behind them.
-- * Views: the ranges in v_latest_forecasts / v_forecast_outcomes, live coverage and interval score in
--   v_interval_scores, a 95 % interval and two naive rules beside the live DA in v_live_accuracy.
-- CREATE OR REPLACE VIEW only appends columns, so existing readers and the reader role's grants stay.

ALTER TABLE forecasts
    ADD COLUMN lo80_log_return double precision,   -- 80 % range of log(close[target] / close[as_of])
    ADD COLUMN hi80_log_return double precision,
    ADD COLUMN lo95_log_return double precision,   -- 95 % range
    ADD COLUMN hi95_log_return double precision,
    ADD COLUMN lo80_close      double precision,   -- base_close * exp(lo80_log_return), ...
    ADD COLUMN hi80_close      double precision,
    ADD COLUMN lo95_close      double precision,
    ADD COLUMN hi95_close      double precision,
    ADD COLUMN interval_method text,               -- how the ranges were calibrated (NULL: no ranges)
    ADD CONSTRAINT forecasts_ranges_nested CHECK (
        lo80_log_return IS NULL OR (lo95_log_return <= lo80_log_return AND lo80_log_return <= hi80_log_return
                                    AND hi80_log_return <= hi95_log_return));

ALTER TABLE promotion_decisions
    ADD COLUMN challenger_da_ci_low  double precision,  -- 95 % day-block bootstrap interval of the challenger's DA
    ADD COLUMN challenger_da_ci_high double precision,
    ADD COLUMN da_diff_ci_low        double precision,  -- (1 - 2 alpha) interval of DA(challenger) - DA(champion);
    ADD COLUMN da_diff_ci_high       double precision;  -- its lower end is the one-sided bound the test uses

CREATE OR REPLACE VIEW v_latest_forecasts AS
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
       f.run_id,
       CASE WHEN m.champion_from IS NOT NULL AND m.champion_from <= f.as_of
                 AND (m.champion_until IS NULL OR f.as_of < m.champion_until)
            THEN 'champion' ELSE 'provisional' END AS served_as,  -- provisional: no champion on that day yet
       f.lo80_log_return, f.hi80_log_return, f.lo95_log_return, f.hi95_log_return,  -- ranges of the log return
       f.lo80_close, f.hi80_close, f.lo95_close, f.hi95_close,                      -- ranges of the price
       f.interval_method
FROM forecasts f
JOIN latest l USING (coin, as_of, model_id)
JOIN models m USING (model_id);
COMMENT ON VIEW v_latest_forecasts IS
    'Latest 5-day forecast per coin (one row per horizon) with its 80 % / 95 % ranges, from the model that was '
    'champion on that as-of day, or, before the first promotion, from the newest model trained before it '
    '(served_as = provisional).';

CREATE OR REPLACE VIEW v_forecast_outcomes AS
SELECT f.coin, f.as_of, f.horizon, f.target_day, f.model_id,
       f.base_close, f.pred_log_return, f.pred_close,
       s.realised_log_return,                          -- NULL until scored (target day not closed yet)
       s.realised_close,
       s.direction_hit,                                -- NULL when unscored or the realised return is exactly 0
       s.abs_error,                                    -- |realised - predicted| log return
       abs(s.realised_log_return) AS rw_abs_error,     -- error of the random walk (predicts 0) on the same cell
       s.coin IS NOT NULL AS matured,
       f.run_id,
       f.lo80_log_return, f.hi80_log_return, f.lo95_log_return, f.hi95_log_return,
       s.realised_log_return BETWEEN f.lo80_log_return AND f.hi80_log_return AS in_range_80,  -- NULL: no range / unscored
       s.realised_log_return BETWEEN f.lo95_log_return AND f.hi95_log_return AS in_range_95,
       -- interval (Winkler) score: width + 2/(1-L) x distance outside the range; lower is better
       (f.hi80_log_return - f.lo80_log_return)
         + 10 * greatest(f.lo80_log_return - s.realised_log_return, 0)
         + 10 * greatest(s.realised_log_return - f.hi80_log_return, 0) AS winkler_80,
       (f.hi95_log_return - f.lo95_log_return)
         + 40 * greatest(f.lo95_log_return - s.realised_log_return, 0)
         + 40 * greatest(s.realised_log_return - f.hi95_log_return, 0) AS winkler_95
FROM forecasts f
LEFT JOIN forecast_scores s USING (coin, as_of, horizon, model_id);
COMMENT ON VIEW v_forecast_outcomes IS
    'Forecasts joined with realised outcomes (NULL until matured), the random-walk error on the same cell, '
    'and whether the realised return fell in the 80 % / 95 % ranges with their interval scores.';

-- Live calibration of the stored ranges over every matured forecast that has them, per model x coin x
-- horizon (coin = 'ALL' / horizon = 0: roll-ups). coverage_80 near 0.80 and coverage_95 near 0.95 mean
-- the ranges are honest; the interval score rewards narrow ranges and punishes misses.
CREATE VIEW v_interval_scores AS
SELECT model_id,
       COALESCE(coin, 'ALL') AS coin,
       COALESCE(horizon, 0)::smallint AS horizon,
       count(*) AS n_cells,
       avg(in_range_80::int)::double precision AS coverage_80,
       avg(in_range_95::int)::double precision AS coverage_95,
       avg(hi80_log_return - lo80_log_return) AS mean_width_80,
       avg(hi95_log_return - lo95_log_return) AS mean_width_95,
       avg(winkler_80) AS mean_interval_score_80,
       avg(winkler_95) AS mean_interval_score_95,
       min(as_of) AS first_as_of,
       max(as_of) AS last_as_of
FROM v_forecast_outcomes
WHERE matured AND lo80_log_return IS NOT NULL
GROUP BY GROUPING SETS ((model_id, coin, horizon), (model_id, coin), (model_id, horizon), (model_id));
COMMENT ON VIEW v_interval_scores IS
    'Live coverage, mean width and mean interval (Winkler) score of the 80 % / 95 % ranges per model, coin, horizon.';

-- v_live_accuracy gains, on the same matured cells: a 95 % WILSON score interval of DA (it treats cells
-- as independent; 9 co-moving coins and 5 overlapping horizons make it too narrow, which is why the alert
-- uses a day-block interval instead, see cryptolstm/serving/alert_rules.py), and the live DA of two
-- naive rules: always-up, and reversal_3 (calls the opposite of the last 3 days' move; half a hit when
-- that move is exactly 0; NULL when close[as_of - 3] is missing).
CREATE OR REPLACE VIEW v_live_accuracy AS
WITH scored AS (
    SELECT s.*, abs(s.realised_log_return) AS rw_abs_error,
           CASE WHEN s.direction_hit IS NULL THEN NULL
                ELSE (s.realised_log_return > 0)::int::double precision END AS always_up_hit,
           CASE WHEN s.direction_hit IS NULL OR c3.close IS NULL THEN NULL
                WHEN c0.close = c3.close THEN 0.5
                ELSE (sign(ln(c3.close / c0.close)) = sign(s.realised_log_return))::int::double precision
           END AS reversal_3_hit
    FROM forecast_scores s
    JOIN forecasts f USING (coin, as_of, horizon, model_id)
    LEFT JOIN candles c0 ON c0.coin = s.coin AND c0.day = s.as_of
    LEFT JOIN candles c3 ON c3.coin = s.coin AND c3.day = s.as_of - 3
    WHERE f.target_day > (SELECT max(f2.target_day) FROM forecast_scores s2
                          JOIN forecasts f2 USING (coin, as_of, horizon, model_id)) - 30
), agg AS (
    SELECT model_id,
           COALESCE(coin, 'ALL') AS coin,
           COALESCE(horizon, 0)::smallint AS horizon,
           count(*) AS n_cells,
           count(direction_hit) AS n_direction_cells,
           avg(direction_hit::int)::double precision AS da,
           avg(abs_error) AS mae,
           avg(rw_abs_error) AS rw_mae,
           avg(abs_error) / NULLIF(avg(rw_abs_error), 0) AS mae_ratio_rw,
           min(as_of) AS first_as_of,
           max(as_of) AS last_as_of,
           avg(always_up_hit) AS always_up_da,
           avg(reversal_3_hit) AS reversal_3_da,
           NULLIF(count(direction_hit), 0)::double precision AS nd
    FROM scored
    GROUP BY GROUPING SETS ((model_id, coin, horizon), (model_id, coin), (model_id, horizon), (model_id))
)
SELECT model_id, coin, horizon, n_cells, n_direction_cells, da, mae, rw_mae, mae_ratio_rw, first_as_of, last_as_of,
       -- Wilson 95 %: (p + z^2/2n -+ z sqrt(p(1-p)/n + z^2/4n^2)) / (1 + z^2/n), z = 1.96
       (da + 1.96 ^ 2 / (2 * nd)
        - 1.96 * sqrt(da * (1 - da) / nd + 1.96 ^ 2 / (4 * nd ^ 2)))
         / (1 + 1.96 ^ 2 / nd) AS da_wilson_low,
       (da + 1.96 ^ 2 / (2 * nd)
        + 1.96 * sqrt(da * (1 - da) / nd + 1.96 ^ 2 / (4 * nd ^ 2)))
         / (1 + 1.96 ^ 2 / nd) AS da_wilson_high,
       always_up_da,
       reversal_3_da
FROM agg;
COMMENT ON VIEW v_live_accuracy IS
    'Rolling 30-day live DA (with a 95 % Wilson interval) / MAE / MAE vs random walk per model, coin and horizon '
    '(ALL / 0 = roll-up), beside the live DA of always-up and reversal_3 on the same cells.';

CREATE OR REPLACE VIEW v_promotion_history AS
SELECT d.decided_for, d.challenger_id, d.champion_id, d.promoted,
       d.challenger_da, d.champion_da,
       d.challenger_da - d.champion_da AS da_difference,
       d.n_cells,                                      -- (coin, as-of, horizon) cells both were scored on
       d.p_value,                                      -- one-sided day-block bootstrap p of the DA difference
       d.reason,
       c.training_cutoff AS challenger_cutoff, c.status AS challenger_status,
       c.champion_from AS challenger_champion_from, c.champion_until AS challenger_champion_until,
       p.training_cutoff AS champion_cutoff,
       d.details,
       d.challenger_da_ci_low, d.challenger_da_ci_high,  -- 95 % day-block bootstrap interval of the challenger's DA
       d.da_diff_ci_low, d.da_diff_ci_high               -- interval of the DA difference (vs the champion)
FROM promotion_decisions d
JOIN models c ON c.model_id = d.challenger_id
LEFT JOIN models p ON p.model_id = d.champion_id;
COMMENT ON VIEW v_promotion_history IS
    'Weekly promotion decisions: both DAs, the bootstrap intervals and one-sided p-value, cells, reason, models.';
