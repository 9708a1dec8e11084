-- 010: how far to trust each forecast (issue 19).
-- * Every forecast row carries the input-drift assessment of its window (cryptolstm/modelling/drift.py):
--   its distance to the serving model's training windows, that model's threshold, the flag and its cause.
--   NULL when not assessed (a model registered without a training description).
-- * v_range_backtests: Kupiec and Christoffersen backtests of the stored ranges over matured forecasts,
--   with p-values (the formulas of cryptolstm/evaluation/backtests.py).
-- * v_forecast_evidence: beside each coin's latest forecast, the serving model's walk-forward DA and live DA
--   with their intervals, and the best naive rule's DA on the same live cells.
-- * v_latest_forecasts gains the drift columns (appended: existing readers and grants stay).

ALTER TABLE forecasts
    ADD COLUMN input_distance        double precision,  -- dissimilarity index of the input window; NULL: not assessed,
                                                        -- or a NaN / infinite feature (then input_drifted is true)
    ADD COLUMN input_drift_threshold double precision,  -- the serving model's threshold: the 99th percentile of its
                                                        -- training windows' own distances
    ADD COLUMN input_drifted         boolean,           -- distance > threshold, or a non-finite feature; NULL: not assessed
    ADD COLUMN input_drift_cause     text,              -- why it is flagged (NULL when it is not)
    ADD CONSTRAINT forecasts_drift_cause CHECK ((input_drifted IS TRUE) = (input_drift_cause IS NOT NULL));

-- x ln y with 0 ln 0 = 0 (a likelihood term whose count is 0 vanishes, whatever its probability).
CREATE FUNCTION stat_xlny(x double precision, y double precision) RETURNS double precision
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS $$ SELECT CASE WHEN x = 0 THEN 0::double precision ELSE x * ln(y) END $$;

-- Survival function of chi2 with 1 or 2 degrees of freedom: P(X > x) = erfc(sqrt(x / 2)), resp. exp(-x / 2)
-- (NULL for NULL: a test that is not defined has no p-value).
CREATE FUNCTION stat_chi2_sf(x double precision, df integer) RETURNS double precision
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
    AS $$ SELECT CASE df WHEN 1 THEN erfc(sqrt(greatest(x, 0) / 2)) WHEN 2 THEN exp(-greatest(x, 0) / 2) END $$;

-- 0.975 quantile of Student t: the table to 3 decimals up to 30 degrees of freedom, then the Cornish-Fisher
-- expansion z + (z^3 + z) / 4df + (5z^5 + 16z^3 + 3z) / 96df^2 (within 1e-3 of the exact value from 30 on).
CREATE FUNCTION stat_t975(df integer) RETURNS double precision
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
    AS $$ SELECT CASE WHEN df < 1 THEN NULL
                      WHEN df <= 30 THEN (ARRAY[12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228,
                                                2.201, 2.179, 2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086,
                                                2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045,
                                                2.042]::double precision[])[df]
                      ELSE 1.959964 + (1.959964 ^ 3 + 1.959964) / (4 * df)
                           + (5 * 1.959964 ^ 5 + 16 * 1.959964 ^ 3 + 3 * 1.959964) / (96 * df ^ 2) END $$;

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
       f.input_drift_cause
FROM forecasts f
JOIN latest l USING (coin, as_of, model_id)
JOIN models m USING (model_id);
COMMENT ON VIEW v_latest_forecasts IS
    'Latest 5-day forecast per coin (one row per horizon) with its 80 % / 95 % ranges and its input-drift flag, '
    'from the model that was champion on that as-of day, or, before the first promotion, from the newest model '
    'trained before it (served_as = provisional).';

-- Backtests of the stored ranges per model x coin x horizon x level (coin = 'ALL': every coin's series,
-- transitions never crossing coins). A miss is a matured cell whose realised return lies outside its range.
-- Transitions (n_ij: miss i on as-of day t - 1, miss j on t) are counted only between consecutive as-of days
-- of one model, coin and horizon. The independence and conditional-coverage tests are reported at h = 1 only:
-- at h > 1 consecutive targets overlap by h - 1 days, so clustered misses are expected there.
CREATE VIEW v_range_backtests AS
WITH cells AS (
    SELECT o.model_id, o.coin, o.horizon, o.as_of, l.level,
           NOT CASE l.level WHEN 80 THEN o.in_range_80 ELSE o.in_range_95 END AS miss
    FROM v_forecast_outcomes o
    CROSS JOIN (VALUES (80), (95)) AS l(level)
    WHERE o.matured AND o.lo80_log_return IS NOT NULL
), chained AS (
    SELECT c.*,
           lag(c.miss) OVER w AS prev_miss,
           lag(c.as_of) OVER w = c.as_of - 1 AS chained
    FROM cells c
    WINDOW w AS (PARTITION BY c.model_id, c.coin, c.horizon, c.level ORDER BY c.as_of)
), counts AS (
    SELECT model_id, COALESCE(coin, 'ALL') AS coin, horizon, level::smallint AS level,
           count(*) AS n_cells,
           count(*) FILTER (WHERE miss) AS n_miss,
           count(*) FILTER (WHERE chained AND NOT prev_miss AND NOT miss) AS n_00,
           count(*) FILTER (WHERE chained AND NOT prev_miss AND miss) AS n_01,
           count(*) FILTER (WHERE chained AND prev_miss AND NOT miss) AS n_10,
           count(*) FILTER (WHERE chained AND prev_miss AND miss) AS n_11,
           min(as_of) AS first_as_of,
           max(as_of) AS last_as_of
    FROM chained
    GROUP BY GROUPING SETS ((model_id, coin, horizon, level), (model_id, horizon, level))
), rates AS (
    SELECT *,
           n_miss::double precision / n_cells AS miss_rate,
           1 - level / 100.0::double precision AS p,
           (n_01 + n_11)::double precision / NULLIF(n_00 + n_01 + n_10 + n_11, 0) AS pi_2,
           n_01::double precision / NULLIF(n_00 + n_01, 0) AS pi_01,
           n_11::double precision / NULLIF(n_10 + n_11, 0) AS pi_11
    FROM counts
), lr AS (
    SELECT *,
           -- Kupiec: -2 ln[(1-p)^(n-x) p^x] + 2 ln[(1-pi)^(n-x) pi^x], pi = x / n
           greatest(-2 * (stat_xlny(n_cells - n_miss, 1 - p) + stat_xlny(n_miss, p))
                    + 2 * (stat_xlny(n_cells - n_miss, 1 - miss_rate) + stat_xlny(n_miss, miss_rate)), 0) AS lr_uc,
           -- Christoffersen: -2 ln[(1-pi_2)^(n00+n10) pi_2^(n01+n11)]
           --                 + 2 ln[(1-pi_01)^n00 pi_01^n01 (1-pi_11)^n10 pi_11^n11]
           CASE WHEN horizon = 1 AND pi_2 IS NOT NULL THEN greatest(
               -2 * (stat_xlny(n_00 + n_10, 1 - pi_2) + stat_xlny(n_01 + n_11, pi_2))
               + 2 * (stat_xlny(n_00, 1 - COALESCE(pi_01, 0)) + stat_xlny(n_01, COALESCE(pi_01, 0))
                      + stat_xlny(n_10, 1 - COALESCE(pi_11, 0)) + stat_xlny(n_11, COALESCE(pi_11, 0))), 0) END AS lr_ind
    FROM rates
)
SELECT model_id, coin, horizon, level,
       n_cells, n_miss,
       miss_rate,                                    -- 1 - coverage
       p AS expected_miss_rate,                      -- 1 - level / 100
       lr_uc AS kupiec_lr,
       stat_chi2_sf(lr_uc, 1) AS kupiec_p,           -- small: the miss rate is not the promised one
       pi_11 AS repeated_miss_share,                 -- P(miss on t | miss on t - 1); about p if misses are independent
       pi_01,                                        -- P(miss on t | no miss on t - 1)
       n_00, n_01, n_10, n_11,
       lr_ind AS independence_lr,                    -- h = 1 only
       stat_chi2_sf(lr_ind, 1) AS independence_p,    -- small: misses cluster (or alternate)
       lr_uc + lr_ind AS conditional_coverage_lr,
       stat_chi2_sf(lr_uc + lr_ind, 2) AS conditional_coverage_p,
       first_as_of, last_as_of
FROM lr;
COMMENT ON VIEW v_range_backtests IS
    'Kupiec (unconditional coverage) and, at h = 1, Christoffersen (independence, conditional coverage) backtests of '
    'the stored 80 % / 95 % ranges over matured forecasts per model, coin (ALL = every coin) and horizon, with '
    'p-values and the share of repeated misses.';

-- The record of the model behind each coin's latest forecast, on that coin:
-- * walk-forward DA: its out-of-sample walk-forward cells (validation_predictions);
-- * live DA: its scored forecasts whose target day lies in the 60 days up to the latest as-of day;
-- * the best naive rule on the same live cells: always-up, momentum_k and reversal_k (k = 1, 3, 7: the
--   sign, or the opposite sign, of log(close[t] / close[t - k]); half a hit when that move is 0; no call
--   when close[t - k] is missing).
-- Intervals: 95 % day-block, as the live-accuracy alert computes them (cryptolstm/serving/alert_rules.py):
-- as-of days cut into blocks of 5 consecutive days counted back from the newest, the cluster-robust variance
-- of DA = sum hits / sum scored over the B blocks, Student t with B - 1 degrees of freedom ([0, 1] when B < 2).
CREATE VIEW v_forecast_evidence AS
WITH serving AS (
    SELECT DISTINCT coin, model_id, as_of FROM v_latest_forecasts
), wf AS (
    SELECT s.coin, s.model_id, 'walk_forward'::text AS kind, v.as_of,
           CASE WHEN v.realised_log_return = 0 THEN NULL
                WHEN v.pred_log_return = 0 THEN 0.5
                ELSE (sign(v.pred_log_return) = sign(v.realised_log_return))::int::double precision END AS hit
    FROM serving s
    JOIN validation_predictions v USING (model_id, coin)
), live AS (
    SELECT s.coin, s.model_id, f.as_of, f.horizon, sc.realised_log_return AS y,
           sc.direction_hit::int::double precision AS hit
    FROM serving s
    JOIN forecasts f ON f.coin = s.coin AND f.model_id = s.model_id
    JOIN forecast_scores sc
      ON sc.coin = f.coin AND sc.as_of = f.as_of AND sc.horizon = f.horizon AND sc.model_id = f.model_id
    WHERE f.target_day > s.as_of - 60 AND f.target_day <= s.as_of
), both_kinds AS (
    SELECT coin, model_id, kind, as_of, hit FROM wf
    UNION ALL
    SELECT coin, model_id, 'live', as_of, hit FROM live
), blocks AS (
    SELECT coin, model_id, kind,
           (dense_rank() OVER (PARTITION BY coin, model_id, kind ORDER BY as_of DESC) - 1) / 5 AS blk,
           hit, as_of
    FROM both_kinds
), per_block AS (
    SELECT coin, model_id, kind, blk, COALESCE(sum(hit), 0) AS h, count(hit) AS n, min(as_of) AS first_as_of,
           max(as_of) AS last_as_of
    FROM blocks
    GROUP BY coin, model_id, kind, blk
), totals AS (
    SELECT coin, model_id, kind, count(*) AS n_blocks, sum(n) AS n_cells,
           sum(h) / NULLIF(sum(n), 0) AS da, min(first_as_of) AS first_as_of, max(last_as_of) AS last_as_of
    FROM per_block
    GROUP BY coin, model_id, kind
), intervals AS (
    SELECT t.coin, t.model_id, t.kind, t.da, t.n_cells, t.n_blocks, t.first_as_of, t.last_as_of,
           CASE WHEN t.n_blocks < 2 OR t.da IS NULL THEN NULL
                ELSE sqrt(t.n_blocks / (t.n_blocks - 1.0) * sum((b.h - t.da * b.n) ^ 2)) / t.n_cells END AS se
    FROM totals t
    JOIN per_block b USING (coin, model_id, kind)
    GROUP BY t.coin, t.model_id, t.kind, t.da, t.n_cells, t.n_blocks, t.first_as_of, t.last_as_of
), ci AS (
    SELECT *,
           CASE WHEN da IS NULL THEN NULL WHEN se IS NULL THEN 0 ELSE greatest(0, da - stat_t975(n_blocks::int - 1) * se) END AS lo,
           CASE WHEN da IS NULL THEN NULL WHEN se IS NULL THEN 1 ELSE least(1, da + stat_t975(n_blocks::int - 1) * se) END AS hi
    FROM intervals
), calls AS (  -- each naive rule's hit on the live cells: k = 0 always up, else direction x sign of the k-day move
    SELECT l.coin, l.model_id, r.rule,
           CASE WHEN l.hit IS NULL THEN NULL
                WHEN r.k = 0 THEN (l.y > 0)::int::double precision
                WHEN c0.close IS NULL OR ck.close IS NULL THEN NULL
                WHEN c0.close = ck.close THEN 0.5
                ELSE (r.direction * sign(ln(c0.close / ck.close)) = sign(l.y))::int::double precision END AS hit
    FROM live l
    CROSS JOIN (VALUES ('always_up', 0, 1), ('momentum_1', 1, 1), ('momentum_3', 3, 1), ('momentum_7', 7, 1),
                       ('reversal_1', 1, -1), ('reversal_3', 3, -1), ('reversal_7', 7, -1)) AS r(rule, k, direction)
    LEFT JOIN candles c0 ON c0.coin = l.coin AND c0.day = l.as_of
    LEFT JOIN candles ck ON ck.coin = l.coin AND ck.day = l.as_of - r.k
), best AS (
    SELECT DISTINCT ON (coin, model_id) coin, model_id, rule, avg(hit) AS da, count(hit) AS n_cells
    FROM calls
    GROUP BY coin, model_id, rule
    HAVING count(hit) > 0
    ORDER BY coin, model_id, avg(hit) DESC, rule
)
SELECT s.coin, s.model_id, s.as_of,
       w.da AS wf_da, w.lo AS wf_da_low, w.hi AS wf_da_high,       -- walk-forward DA on the coin, 95 % interval
       w.n_cells AS wf_n_cells, w.first_as_of AS wf_first_as_of, w.last_as_of AS wf_last_as_of,
       l.da AS live_da, l.lo AS live_da_low, l.hi AS live_da_high, -- live DA, last 60 days of target days
       l.n_cells AS live_n_cells, l.first_as_of AS live_first_as_of, l.last_as_of AS live_last_as_of,
       b.rule AS best_naive_rule, b.da AS best_naive_da,           -- best naive rule on the same live cells
       b.n_cells AS best_naive_n_cells
FROM serving s
LEFT JOIN ci w ON w.coin = s.coin AND w.model_id = s.model_id AND w.kind = 'walk_forward'
LEFT JOIN ci l ON l.coin = s.coin AND l.model_id = s.model_id AND l.kind = 'live'
LEFT JOIN best b ON b.coin = s.coin AND b.model_id = s.model_id;
COMMENT ON VIEW v_forecast_evidence IS
    'Per coin, for the model behind its latest forecast: walk-forward DA and live DA (target days in the last 60 '
    'days) with 95 % day-block intervals, and the best naive rule''s DA on the same live cells.';
