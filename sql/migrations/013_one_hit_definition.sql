-- 013: one definition of a directional hit (docs/sql.md, docs/evaluation.md), the one
-- `cryptolstm.evaluation.metrics.direction_hits` computes in Python:
--   hit = 1 when sign(prediction) = sign(realised), 0 when they differ, 1/2 when the prediction is exactly 0 (no
--   call: a coin flip, so the random walk scores 0.5), NULL (not scored) when the realised return is exactly 0;
--   DA = sum of the hits / count of the scored cells.
-- The live views counted a prediction of exactly 0 as a miss (forecast_scores.direction_hit is false there): they
-- now score through `direction_score`, as the walk-forward cells and the naive rules already did. The stored
-- boolean forecast_scores.direction_hit keeps its meaning (the signs agree: direction_score = 1).

CREATE OR REPLACE FUNCTION direction_score(pred double precision, realised double precision) RETURNS double precision
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
    AS $$ SELECT CASE WHEN realised = 0 THEN NULL
                      WHEN pred = 0 THEN 0.5
                      ELSE (sign(pred) = sign(realised))::int::double precision END $$;
COMMENT ON FUNCTION direction_score(double precision, double precision) IS
    'Directional hit of one cell: 1 same sign, 0 opposite, 0.5 when the prediction is 0, NULL when the outcome is 0.';

CREATE OR REPLACE VIEW v_live_accuracy AS
WITH scored AS (
    SELECT s.*, abs(s.realised_log_return) AS rw_abs_error,
           direction_score(f.pred_log_return, s.realised_log_return) AS hit,
           direction_score(1, s.realised_log_return) AS always_up_hit,
           direction_score(ln(c3.close / c0.close), s.realised_log_return) AS reversal_3_hit
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
           count(hit) AS n_direction_cells,
           avg(hit) AS da,
           avg(abs_error) AS mae,
           avg(rw_abs_error) AS rw_mae,
           avg(abs_error) / NULLIF(avg(rw_abs_error), 0) AS mae_ratio_rw,
           min(as_of) AS first_as_of,
           max(as_of) AS last_as_of,
           avg(always_up_hit) AS always_up_da,
           avg(reversal_3_hit) AS reversal_3_da,
           NULLIF(count(hit), 0)::double precision AS nd
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

CREATE OR REPLACE VIEW v_forecast_evidence AS
WITH serving AS (
    SELECT DISTINCT coin, model_id, as_of FROM v_latest_forecasts
), wf AS (
    SELECT s.coin, s.model_id, 'walk_forward'::text AS kind, v.as_of,
           direction_score(v.pred_log_return, v.realised_log_return) AS hit
    FROM serving s
    JOIN validation_predictions v USING (model_id, coin)
), live AS (
    SELECT s.coin, s.model_id, f.as_of, f.horizon, sc.realised_log_return AS y,
           direction_score(f.pred_log_return, sc.realised_log_return) AS hit
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
), calls AS (  -- each naive rule's hit on the live cells: k = 0 always up, else direction x the k-day move
    SELECT l.coin, l.model_id, r.rule,
           direction_score(CASE WHEN r.k = 0 THEN 1 ELSE r.direction * ln(c0.close / ck.close) END, l.y) AS hit
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
