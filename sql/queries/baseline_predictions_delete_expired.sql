-- Retention (PipelineConfig.member_retention_weeks): the fold baselines' predictions of every model registered for
-- a weekly interval ending at or before %(expired_by)s (the run's interval end minus the retention). Keyed by the
-- interval: a rerun deletes nothing more. Rows of an unregistered model stay.
DELETE FROM baseline_predictions b
USING models m
WHERE m.model_id = b.model_id AND m.created_for <= %(expired_by)s
