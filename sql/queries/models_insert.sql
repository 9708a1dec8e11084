-- Register a new candidate model (status defaults to 'candidate').
INSERT INTO models (model_id, created_for, training_cutoff, feature_version, hyperparams, code_version,
                    metrics, artifact, artifact_sha256)
VALUES (%(model_id)s, %(created_for)s, %(training_cutoff)s, %(feature_version)s, %(hyperparams)s::jsonb,
        %(code_version)s, %(metrics)s::jsonb, %(artifact)s, %(artifact_sha256)s)
