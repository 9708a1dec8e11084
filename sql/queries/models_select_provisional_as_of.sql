-- The model that serves as-of day %(as_of)s PROVISIONALLY when no model was champion on it (before the
-- first promotion): the newest model trained only on data before the day, whatever its gate said, among
-- the decided models (status other than 'candidate') and those of the newest weekly interval (its decision
-- may still be pending). A candidate of an older week was never decided, and never will be (weeks are
-- decided in calendar order): its gate never ran, so it never serves.
-- Deterministic: latest training cutoff, then latest weekly interval, then model_id.
SELECT model_id, created_for, training_cutoff, feature_version, hyperparams, code_version, metrics,
       artifact_sha256, status, champion_from, champion_until
FROM models
WHERE training_cutoff < %(as_of)s
  AND (status <> 'candidate' OR created_for = (SELECT max(created_for) FROM models))
ORDER BY training_cutoff DESC, created_for DESC, model_id DESC
LIMIT 1
