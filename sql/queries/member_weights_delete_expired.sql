-- Retention (PipelineConfig.member_retention_weeks): the one-member bundles of every model registered for a
-- weekly interval ending at or before %(expired_by)s (the run's interval end minus the retention). Keyed by
-- the interval: a rerun deletes nothing more. Pieces of an unregistered model stay.
DELETE FROM member_weights w
USING models m
WHERE m.model_id = w.model_id AND m.created_for <= %(expired_by)s
