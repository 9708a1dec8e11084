-- The model whose status is 'champion' now (its range is open-ended); more than one row is corruption.
SELECT model_id, created_for, training_cutoff, feature_version, hyperparams, code_version, metrics,
       artifact_sha256, status, champion_from, champion_until
FROM models
WHERE status = 'champion'
