-- One piece's model bundle and its sha256.
SELECT artifact, artifact_sha256 FROM member_weights
WHERE model_id = %(model_id)s AND fold = %(fold)s AND member = %(member)s
