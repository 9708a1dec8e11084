-- A model's artifact bytes and the sha256 they must match.
SELECT artifact, artifact_sha256 FROM models WHERE model_id = %(model_id)s
