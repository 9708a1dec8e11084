-- Store a weekly preparation under its content key (the same key names the same content: an existing row stays).
INSERT INTO prepared_fits (prep_key, model_id, training_cutoff, artifact, artifact_sha256)
VALUES (%(prep_key)s, %(model_id)s, %(training_cutoff)s, %(artifact)s, %(artifact_sha256)s)
ON CONFLICT (prep_key) DO NOTHING
