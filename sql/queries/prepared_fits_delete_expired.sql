-- Retention (PipelineConfig.member_retention_weeks): the preparations of every model registered for a weekly
-- interval ending at or before %(expired_by)s (the run's interval end minus the retention). Keyed by the
-- interval: a rerun deletes nothing more. A preparation of an unregistered model stays.
DELETE FROM prepared_fits f
USING models m
WHERE m.model_id = f.model_id AND m.created_for <= %(expired_by)s
