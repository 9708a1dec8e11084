-- The final fit's member's one-member bundle and its sha256.
SELECT artifact, artifact_sha256 FROM member_weights
WHERE model_id = %(model_id)s AND fold = -1 AND member = %(member)s
