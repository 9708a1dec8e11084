-- 017: how confident each forecast is (issue 26; cryptolstm/evaluation/tiers.py, cryptolstm/serving/confidence.py).
-- * Every forecast row carries, known at its as-of day: confidence (the percentile of |ensemble mean| among the
--   serving model's walk-forward cells of its horizon), members_agree (the share of the K ensemble members with the
--   mean's sign) and tier (high / medium / low of the model's score against its walk-forward reference). NULL
--   confidence and tier: a model registered before issue 26, without a stored reference.
-- * v_latest_forecasts gains them (appended: existing readers and grants stay).
-- * v_live_accuracy_by_tier: live DA per serving model and tier, on v_live_accuracy's cells and hit definition.

ALTER TABLE forecasts
    ADD COLUMN confidence    double precision,  -- percentile in [0, 1] of |ensemble mean| vs the walk-forward's
    ADD COLUMN members_agree double precision,  -- share in [0, 1] of the members whose sign is the mean's
    ADD COLUMN tier          text CHECK (tier IN ('high', 'medium', 'low'));

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
       f.interval_method,
       f.input_drifted,                                -- the input window lies outside the training windows
       f.input_distance, f.input_drift_threshold,      -- (distance > threshold), or has a NaN / infinite feature
       f.input_drift_cause,
       f.confidence,                                   -- percentile of |ensemble mean| vs the walk-forward's
       f.members_agree,                                -- share of the members with the mean's sign
       f.tier                                          -- high / medium / low (NULL: a model without a reference)
FROM forecasts f
JOIN latest l USING (coin, as_of, model_id)
JOIN models m USING (model_id);
COMMENT ON VIEW v_latest_forecasts IS
    'Latest 5-day forecast per coin (one row per horizon) with its 80 % / 95 % ranges, its input-drift flag and its '
    'confidence and tier, from the model that was champion on that as-of day, or, before the first promotion, from '
    'the newest model trained before it (served_as = provisional).';

-- Live DA per model and tier (horizon 0 = every horizon) on v_live_accuracy's cells: the scored forecasts whose
-- target day lies in the 30 days ending at the newest scored target day, hits by direction_score (013). The 95 %
-- Wilson interval treats cells as independent (too narrow for co-moving coins); the high_tier_accuracy alert uses a
-- day-block interval instead (cryptolstm/serving/alert_rules.py).
CREATE VIEW v_live_accuracy_by_tier AS
WITH scored AS (
    SELECT s.model_id, f.tier, s.horizon, s.as_of,
           direction_score(f.pred_log_return, s.realised_log_return) AS hit
    FROM forecast_scores s
    JOIN forecasts f USING (coin, as_of, horizon, model_id)
    WHERE f.tier IS NOT NULL
      AND f.target_day > (SELECT max(f2.target_day) FROM forecast_scores s2
                          JOIN forecasts f2 USING (coin, as_of, horizon, model_id)) - 30
), agg AS (
    SELECT model_id, tier,
           COALESCE(horizon, 0)::smallint AS horizon,
           count(*) AS n_cells,
           count(hit) AS n_direction_cells,
           avg(hit) AS da,
           min(as_of) AS first_as_of,
           max(as_of) AS last_as_of,
           NULLIF(count(hit), 0)::double precision AS nd
    FROM scored
    GROUP BY GROUPING SETS ((model_id, tier, horizon), (model_id, tier))
)
SELECT model_id, tier, horizon, n_cells, n_direction_cells, da, first_as_of, last_as_of,
       -- Wilson 95 %: (p + z^2/2n -+ z sqrt(p(1-p)/n + z^2/4n^2)) / (1 + z^2/n), z = 1.96
       (da + 1.96 ^ 2 / (2 * nd)
        - 1.96 * sqrt(da * (1 - da) / nd + 1.96 ^ 2 / (4 * nd ^ 2)))
         / (1 + 1.96 ^ 2 / nd) AS da_wilson_low,
       (da + 1.96 ^ 2 / (2 * nd)
        + 1.96 * sqrt(da * (1 - da) / nd + 1.96 ^ 2 / (4 * nd ^ 2)))
         / (1 + 1.96 ^ 2 / nd) AS da_wilson_high
FROM agg;
COMMENT ON VIEW v_live_accuracy_by_tier IS
    'Rolling 30-day live DA per model and confidence tier (horizon 0 = roll-up) with a 95 % Wilson interval.';
-- the reader role reads it (003's default privileges cover views created by the same owner; said here too)
GRANT SELECT ON v_live_accuracy_by_tier TO cryptolstm_reader;
