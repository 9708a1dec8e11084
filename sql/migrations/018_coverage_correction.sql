-- Issue 26: online coverage correction of the ranges (docs/ranges.md, "Online coverage correction").
-- * forecasts keep their range columns as the SERVED (corrected) ranges and gain the uncorrected split-conformal
--   ranges of the same cells (rows written before this migration were served uncorrected: copied);
-- * range_corrections: the correction state used for each (coin, as-of day, horizon, level), for audit. It is a
--   function of the stored misses whose target day is before the as-of day, keyed by the as-of day (never the
--   clock), carried across model changes (the state is not keyed by model);
-- * v_interval_scores and v_range_backtests gain the uncorrected ranges' figures beside the served ones
--   (columns appended, so their grants and readers stay).

ALTER TABLE forecasts
    ADD COLUMN lo80_log_return_uncorrected double precision,
    ADD COLUMN hi80_log_return_uncorrected double precision,
    ADD COLUMN lo95_log_return_uncorrected double precision,
    ADD COLUMN hi95_log_return_uncorrected double precision;
UPDATE forecasts
SET lo80_log_return_uncorrected = lo80_log_return, hi80_log_return_uncorrected = hi80_log_return,
    lo95_log_return_uncorrected = lo95_log_return, hi95_log_return_uncorrected = hi95_log_return
WHERE lo80_log_return IS NOT NULL;
COMMENT ON COLUMN forecasts.lo80_log_return_uncorrected IS
    'The split-conformal 80 % range before the online coverage correction (lo80_log_return: the served one).';

CREATE TABLE range_corrections (
    coin text NOT NULL,
    as_of date NOT NULL,
    horizon smallint NOT NULL,
    level smallint NOT NULL CHECK (level IN (80, 95)),
    method text NOT NULL,               -- the correction applied: none, aci_<gamma>, qt (evaluation/coverage.py)
    alpha double precision NOT NULL,    -- the miss level the range was built for (ACI: alpha_t; else 1 - level)
    log_factor double precision NOT NULL, -- qt: theta_t, the range's quantile times exp(theta_t); else 0
    n_misses_used integer NOT NULL,     -- matured served ranges (target day < as_of) that fed the state
    n_missed integer NOT NULL,          -- of those, how many missed
    last_target_day date,               -- the newest target day used (NULL: none yet, the nominal level)
    model_id text NOT NULL,             -- the model whose ranges were corrected that day (not part of the state)
    PRIMARY KEY (coin, as_of, horizon, level)
);
COMMENT ON TABLE range_corrections IS
    'The online coverage correction used for each range: its state from the served ranges'' misses matured '
    'before the as-of day, per coin, horizon and level, whatever model served them.';

CREATE OR REPLACE VIEW v_interval_scores AS
SELECT o.model_id,
       COALESCE(o.coin, 'ALL') AS coin,
       COALESCE(o.horizon, 0)::smallint AS horizon,
       count(*) AS n_cells,
       avg(o.in_range_80::int)::double precision AS coverage_80,
       avg(o.in_range_95::int)::double precision AS coverage_95,
       avg(o.hi80_log_return - o.lo80_log_return) AS mean_width_80,
       avg(o.hi95_log_return - o.lo95_log_return) AS mean_width_95,
       avg(o.winkler_80) AS mean_interval_score_80,
       avg(o.winkler_95) AS mean_interval_score_95,
       min(o.as_of) AS first_as_of,
       max(o.as_of) AS last_as_of,
       avg((o.realised_log_return BETWEEN f.lo80_log_return_uncorrected AND f.hi80_log_return_uncorrected)::int)
           ::double precision AS coverage_80_uncorrected,
       avg((o.realised_log_return BETWEEN f.lo95_log_return_uncorrected AND f.hi95_log_return_uncorrected)::int)
           ::double precision AS coverage_95_uncorrected,
       avg(f.hi80_log_return_uncorrected - f.lo80_log_return_uncorrected) AS mean_width_80_uncorrected,
       avg(f.hi95_log_return_uncorrected - f.lo95_log_return_uncorrected) AS mean_width_95_uncorrected,
       avg(f.hi80_log_return_uncorrected - f.lo80_log_return_uncorrected
           + 10 * greatest(f.lo80_log_return_uncorrected - o.realised_log_return, 0)
           + 10 * greatest(o.realised_log_return - f.hi80_log_return_uncorrected, 0)) AS mean_interval_score_80_uncorrected,
       avg(f.hi95_log_return_uncorrected - f.lo95_log_return_uncorrected
           + 40 * greatest(f.lo95_log_return_uncorrected - o.realised_log_return, 0)
           + 40 * greatest(o.realised_log_return - f.hi95_log_return_uncorrected, 0)) AS mean_interval_score_95_uncorrected
FROM v_forecast_outcomes o
JOIN forecasts f USING (coin, as_of, horizon, model_id)
WHERE o.matured AND o.lo80_log_return IS NOT NULL
GROUP BY GROUPING SETS ((o.model_id, o.coin, o.horizon), (o.model_id, o.coin), (o.model_id, o.horizon), (o.model_id));
COMMENT ON VIEW v_interval_scores IS
    'Live coverage, mean width and mean interval (Winkler) score of the served 80 % / 95 % ranges per model, coin, '
    'horizon; the *_uncorrected columns: the same cells'' ranges before the online coverage correction.';

-- The backtests of migration 010, computed twice on the same cells: on the served (corrected) ranges as before,
-- and on the uncorrected ranges (the *_uncorrected columns, appended).
CREATE OR REPLACE VIEW v_range_backtests AS
WITH cells AS (
    SELECT o.model_id, o.coin, o.horizon, o.as_of, l.level,
           NOT CASE l.level WHEN 80 THEN o.in_range_80 ELSE o.in_range_95 END AS miss,
           NOT CASE l.level
                   WHEN 80 THEN o.realised_log_return BETWEEN f.lo80_log_return_uncorrected AND f.hi80_log_return_uncorrected
                   ELSE o.realised_log_return BETWEEN f.lo95_log_return_uncorrected AND f.hi95_log_return_uncorrected
               END AS miss_u
    FROM v_forecast_outcomes o
    JOIN forecasts f USING (coin, as_of, horizon, model_id)
    CROSS JOIN (VALUES (80), (95)) AS l(level)
    WHERE o.matured AND o.lo80_log_return IS NOT NULL
), chained AS (
    SELECT c.*,
           lag(c.miss) OVER w AS prev_miss,
           lag(c.miss_u) OVER w AS prev_miss_u,
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
           max(as_of) AS last_as_of,
           count(*) FILTER (WHERE miss_u) AS n_miss_u,
           count(*) FILTER (WHERE chained AND NOT prev_miss_u AND NOT miss_u) AS n_00_u,
           count(*) FILTER (WHERE chained AND NOT prev_miss_u AND miss_u) AS n_01_u,
           count(*) FILTER (WHERE chained AND prev_miss_u AND NOT miss_u) AS n_10_u,
           count(*) FILTER (WHERE chained AND prev_miss_u AND miss_u) AS n_11_u
    FROM chained
    GROUP BY GROUPING SETS ((model_id, coin, horizon, level), (model_id, horizon, level))
), rates AS (
    SELECT *,
           n_miss::double precision / n_cells AS miss_rate,
           1 - level / 100.0::double precision AS p,
           (n_01 + n_11)::double precision / NULLIF(n_00 + n_01 + n_10 + n_11, 0) AS pi_2,
           n_01::double precision / NULLIF(n_00 + n_01, 0) AS pi_01,
           n_11::double precision / NULLIF(n_10 + n_11, 0) AS pi_11,
           n_miss_u::double precision / n_cells AS miss_rate_u,
           (n_01_u + n_11_u)::double precision / NULLIF(n_00_u + n_01_u + n_10_u + n_11_u, 0) AS pi_2_u,
           n_01_u::double precision / NULLIF(n_00_u + n_01_u, 0) AS pi_01_u,
           n_11_u::double precision / NULLIF(n_10_u + n_11_u, 0) AS pi_11_u
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
                      + stat_xlny(n_10, 1 - COALESCE(pi_11, 0)) + stat_xlny(n_11, COALESCE(pi_11, 0))), 0) END AS lr_ind,
           greatest(-2 * (stat_xlny(n_cells - n_miss_u, 1 - p) + stat_xlny(n_miss_u, p))
                    + 2 * (stat_xlny(n_cells - n_miss_u, 1 - miss_rate_u) + stat_xlny(n_miss_u, miss_rate_u)), 0)
               AS lr_uc_u,
           CASE WHEN horizon = 1 AND pi_2_u IS NOT NULL THEN greatest(
               -2 * (stat_xlny(n_00_u + n_10_u, 1 - pi_2_u) + stat_xlny(n_01_u + n_11_u, pi_2_u))
               + 2 * (stat_xlny(n_00_u, 1 - COALESCE(pi_01_u, 0)) + stat_xlny(n_01_u, COALESCE(pi_01_u, 0))
                      + stat_xlny(n_10_u, 1 - COALESCE(pi_11_u, 0)) + stat_xlny(n_11_u, COALESCE(pi_11_u, 0))), 0)
               END AS lr_ind_u
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
       first_as_of, last_as_of,
       -- the same tests on the uncorrected ranges of the same cells
       n_miss_u AS n_miss_uncorrected,
       miss_rate_u AS miss_rate_uncorrected,
       stat_chi2_sf(lr_uc_u, 1) AS kupiec_p_uncorrected,
       pi_11_u AS repeated_miss_share_uncorrected,
       stat_chi2_sf(lr_ind_u, 1) AS independence_p_uncorrected,
       stat_chi2_sf(lr_uc_u + lr_ind_u, 2) AS conditional_coverage_p_uncorrected
FROM lr;
COMMENT ON VIEW v_range_backtests IS
    'Kupiec (unconditional coverage) and, at h = 1, Christoffersen (independence, conditional coverage) backtests of '
    'the stored (served) 80 % / 95 % ranges over matured forecasts per model, coin (ALL = every coin) and horizon, '
    'with p-values and the share of repeated misses; the *_uncorrected columns: the same tests on the ranges before '
    'the online coverage correction.';
