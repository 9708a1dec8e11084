-- One model's registry row (without the artifact bytes), by id.
SELECT model_id, created_for, training_cutoff, feature_version, hyperparams, code_version, metrics,
       artifact_sha256, status, champion_from, champion_until
FROM models
WHERE model_id = %(model_id)s
