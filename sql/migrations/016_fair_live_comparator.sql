-- 016: issue 26 — a live comparator fixed before the live cells are known.
-- v_forecast_evidence showed "the best naive rule on the same live cells": the best of seven rules picked AFTER
-- seeing the outcomes, biased upward (with ten live cells per coin a rule showed 80-100 %). The comparator is now
-- the naive rule that was best in the serving model's OWN walk-forward (models.metrics -> 'baseline_da', written
-- when the model was registered, before any of its live cells): `comparator_rule`, with its walk-forward DA and
-- its live DA on the same live cells as the model, with the same day-block interval. Every rule's live DA stays
-- readable in v_live_rule_accuracy, each with its interval; no view shows a maximum over rules.
-- The evidence view loses the best_naive_* columns, so it is dropped and created again (the reader role's default
-- privileges of 003 grant SELECT on it again; nothing depends on it).

DROP VIEW IF EXISTS v_forecast_evidence;

-- The live cells of the model behind each coin's latest forecast: its scored forecasts of that coin with a target
-- day in the 60 days up to the latest as-of day (what the evidence and the rules' live DA are computed on).
CREATE VIEW v_serving_live_cells AS
WITH serving AS (
    SELECT DISTINCT coin, model_id, as_of FROM v_latest_forecasts
)
SELECT s.coin, s.model_id, s.as_of AS serving_as_of, f.as_of, f.horizon, sc.realised_log_return AS y,
       direction_score(f.pred_log_return, sc.realised_log_return) AS hit
FROM serving s
JOIN forecasts f ON f.coin = s.coin AND f.model_id = s.model_id
JOIN forecast_scores sc
  ON sc.coin = f.coin AND sc.as_of = f.as_of AND sc.horizon = f.horizon AND sc.model_id = f.model_id
WHERE f.target_day > s.as_of - 60 AND f.target_day <= s.as_of;
COMMENT ON VIEW v_serving_live_cells IS
    'The scored forecasts (target day in the last 60 days) of the model behind each coin''s latest forecast: the '
    'live cells of v_forecast_evidence and v_live_rule_accuracy.';

-- The naive rule each model was best with in its own walk-forward (ties: by name), fixed at registration.
CREATE VIEW v_model_comparator AS
SELECT DISTINCT ON (m.model_id) m.model_id, r.rule,
       (m.metrics -> 'baseline_da' ->> r.rule)::double precision AS wf_da
FROM models m
CROSS JOIN (VALUES ('always_up'), ('momentum_1'), ('momentum_3'), ('momentum_7'),
                   ('reversal_1'), ('reversal_3'), ('reversal_7')) AS r(rule)
WHERE (m.metrics -> 'baseline_da' ->> r.rule) IS NOT NULL
ORDER BY m.model_id, (m.metrics -> 'baseline_da' ->> r.rule)::double precision DESC, r.rule;
COMMENT ON VIEW v_model_comparator IS
    'Per model: the naive rule (always up, momentum or reversal over 1, 3, 7 days) with the best DA in the model''s '
    'own walk-forward, and that DA: the live comparator, chosen before any live cell.';

-- Every naive rule's live DA on the serving model's live cells of each coin, with the evidence's interval
-- (5-day blocks of as-of days, Student t), and whether it is the model's fixed comparator.
CREATE VIEW v_live_rule_accuracy AS
WITH calls AS (  -- k = 0: always up; else direction x the k-day move up to the as-of day (candles <= t)
    SELECT l.coin, l.model_id, l.serving_as_of, r.rule, l.as_of,
           direction_score(CASE WHEN r.k = 0 THEN 1 ELSE r.direction * ln(c0.close / ck.close) END, l.y) AS hit
    FROM v_serving_live_cells l
    CROSS JOIN (VALUES ('always_up', 0, 1), ('momentum_1', 1, 1), ('momentum_3', 3, 1), ('momentum_7', 7, 1),
                       ('reversal_1', 1, -1), ('reversal_3', 3, -1), ('reversal_7', 7, -1)) AS r(rule, k, direction)
    LEFT JOIN candles c0 ON c0.coin = l.coin AND c0.day = l.as_of
    LEFT JOIN candles ck ON ck.coin = l.coin AND ck.day = l.as_of - r.k
), blocks AS (
    SELECT coin, model_id, serving_as_of, rule, hit, as_of,
           (dense_rank() OVER (PARTITION BY coin, model_id, rule ORDER BY as_of DESC) - 1) / 5 AS blk
    FROM calls
), per_block AS (
    SELECT coin, model_id, serving_as_of, rule, blk, COALESCE(sum(hit), 0) AS h, count(hit) AS n
    FROM blocks
    GROUP BY coin, model_id, serving_as_of, rule, blk
), totals AS (
    SELECT coin, model_id, serving_as_of, rule, count(*) AS n_blocks, sum(n) AS n_cells,
           sum(h) / NULLIF(sum(n), 0) AS da
    FROM per_block
    GROUP BY coin, model_id, serving_as_of, rule
), intervals AS (
    SELECT t.coin, t.model_id, t.serving_as_of, t.rule, t.da, t.n_cells, t.n_blocks,
           CASE WHEN t.n_blocks < 2 OR t.da IS NULL THEN NULL
                ELSE sqrt(t.n_blocks / (t.n_blocks - 1.0) * sum((b.h - t.da * b.n) ^ 2)) / t.n_cells END AS se
    FROM totals t
    JOIN per_block b USING (coin, model_id, serving_as_of, rule)
    GROUP BY t.coin, t.model_id, t.serving_as_of, t.rule, t.da, t.n_cells, t.n_blocks
)
SELECT i.coin, i.model_id, i.serving_as_of AS as_of, i.rule,
       i.da AS live_da,
       CASE WHEN i.da IS NULL THEN NULL WHEN i.se IS NULL THEN 0
            ELSE greatest(0, i.da - stat_t975(i.n_blocks::int - 1) * i.se) END AS live_da_low,
       CASE WHEN i.da IS NULL THEN NULL WHEN i.se IS NULL THEN 1
            ELSE least(1, i.da + stat_t975(i.n_blocks::int - 1) * i.se) END AS live_da_high,
       i.n_cells AS live_n_cells,
       (m.metrics -> 'baseline_da' ->> i.rule)::double precision AS wf_da,  -- the rule in the model's walk-forward
       c.rule IS NOT DISTINCT FROM i.rule AS is_comparator
FROM intervals i
JOIN models m ON m.model_id = i.model_id
LEFT JOIN v_model_comparator c ON c.model_id = i.model_id;
COMMENT ON VIEW v_live_rule_accuracy IS
    'Every naive rule''s live DA [95 % day-block interval] on the live cells of the model behind each coin''s '
    'latest forecast, its walk-forward DA in that model''s registration, and whether it is the model''s fixed '
    'comparator. Read it rule by rule: the best of these after the fact is not a fair comparator.';

CREATE VIEW v_forecast_evidence AS
WITH serving AS (
    SELECT DISTINCT coin, model_id, as_of FROM v_latest_forecasts
), wf AS (
    SELECT s.coin, s.model_id, 'walk_forward'::text AS kind, v.as_of,
           direction_score(v.pred_log_return, v.realised_log_return) AS hit
    FROM serving s
    JOIN validation_predictions v USING (model_id, coin)
), both_kinds AS (
    SELECT coin, model_id, kind, as_of, hit FROM wf
    UNION ALL
    SELECT coin, model_id, 'live', as_of, hit FROM v_serving_live_cells
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
)
SELECT s.coin, s.model_id, s.as_of,
       w.da AS wf_da, w.lo AS wf_da_low, w.hi AS wf_da_high,       -- walk-forward DA on the coin, 95 % interval
       w.n_cells AS wf_n_cells, w.first_as_of AS wf_first_as_of, w.last_as_of AS wf_last_as_of,
       l.da AS live_da, l.lo AS live_da_low, l.hi AS live_da_high, -- live DA, last 60 days of target days
       l.n_cells AS live_n_cells, l.first_as_of AS live_first_as_of, l.last_as_of AS live_last_as_of,
       c.rule AS comparator_rule, c.wf_da AS comparator_wf_da,    -- fixed before the live cells: best in its walk-forward
       r.live_da AS comparator_live_da, r.live_da_low AS comparator_live_da_low, r.live_da_high AS comparator_live_da_high,
       r.live_n_cells AS comparator_live_n_cells                 -- the comparator on the same live cells
FROM serving s
LEFT JOIN ci w ON w.coin = s.coin AND w.model_id = s.model_id AND w.kind = 'walk_forward'
LEFT JOIN ci l ON l.coin = s.coin AND l.model_id = s.model_id AND l.kind = 'live'
LEFT JOIN v_model_comparator c ON c.model_id = s.model_id
LEFT JOIN v_live_rule_accuracy r ON r.coin = s.coin AND r.model_id = s.model_id AND r.rule = c.rule;
COMMENT ON VIEW v_forecast_evidence IS
    'The record of the model behind each coin''s latest forecast: walk-forward and live DA with 95 % day-block '
    'intervals, and its comparator: the naive rule that was best in the model''s own walk-forward (fixed before '
    'the live cells), with its live DA on the same cells. Every rule: v_live_rule_accuracy.';
