-- One ensemble piece's training facts, and for the final fit (fold NULL, stored as -1) its one-member bundle.
INSERT INTO member_weights (model_id, fold, member, seed, training_cutoff, info, artifact, artifact_sha256)
VALUES (%(model_id)s, coalesce(%(fold)s, -1), %(member)s, %(seed)s, %(training_cutoff)s, %(info)s::jsonb,
        %(artifact)s, %(artifact_sha256)s)
