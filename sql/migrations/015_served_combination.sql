-- 015: issue 28 — a model may serve a combination of its ensemble with the rules' and the logistic classifier's
-- signals (TrainConfig.combination; cryptolstm/evaluation/combination.py). v_models shows which, and a stacked
-- model's weights (per horizon h = 1..5, one weight per signal lstm, r_1, r_3, r_7, logit), from the hyperparams
-- the registry already stores (the bundle holds the same numbers and refuses to load without them).

CREATE OR REPLACE VIEW v_models AS
SELECT model_id, created_for, training_cutoff, feature_version, code_version, status,
       champion_from, champion_until, hyperparams, metrics, artifact_sha256,
       octet_length(artifact) AS artifact_bytes,
       coalesce((metrics -> 'ensemble' ->> 'members')::int, (hyperparams ->> 'n_seeds')::int) AS members,
       (metrics -> 'ensemble' ->> 'da_min')::double precision AS member_da_min,  -- the members' walk-forward DA:
       (metrics -> 'ensemble' ->> 'da_max')::double precision AS member_da_max,  -- lowest and highest
       (metrics -> 'ensemble' ->> 'pred_sd')::double precision AS member_pred_sd, -- mean cross-member sd of pred_log_return
       coalesce(hyperparams ->> 'combination', 'none') AS combination,          -- what it serves on top of the members
       hyperparams -> 'served_combination' -> 'weights' -> 'weights' AS combination_weights  -- stacked: [h][signal]
FROM models;
COMMENT ON VIEW v_models IS
    'Model registry rows without the artifact bytes; champion_from/until are as-of days; members: ensemble size, '
    'with the members'' walk-forward DA range and mean cross-member sd of the predicted log return; combination: '
    'none, blend_equal or stacked (issue 28), with a stacked model''s weights per horizon and signal.';
