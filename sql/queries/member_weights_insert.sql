-- One ensemble piece's one-member model bundle.
INSERT INTO member_weights (model_id, fold, member, seed, training_cutoff, info, artifact, artifact_sha256)
VALUES (%(model_id)s, %(fold)s, %(member)s, %(seed)s, %(training_cutoff)s, %(info)s::jsonb, %(artifact)s,
        %(artifact_sha256)s)
