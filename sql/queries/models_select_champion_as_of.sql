-- The point-in-time champion of as-of day %(as_of)s: its [champion_from, champion_until) range contains
-- the day AND it was trained only on data before the day. At most one row by construction.
SELECT model_id, created_for, training_cutoff, feature_version, hyperparams, code_version, metrics,
       artifact_sha256, status, champion_from, champion_until
FROM models
WHERE champion_from <= %(as_of)s
  AND (champion_until IS NULL OR %(as_of)s < champion_until)
  AND training_cutoff < %(as_of)s
  AND status IN ('champion', 'retired')
ORDER BY champion_from DESC
LIMIT 1
