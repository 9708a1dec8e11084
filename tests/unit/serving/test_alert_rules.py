"""Alert configuration and thresholds (pure parts); the state machine is tested on PostgreSQL."""

from __future__ import annotations

from datetime import date, datetime, timezone

import pytest

from cryptolstm.config import AlertConfig
from cryptolstm.environment import load_alerts, load_pipeline
from cryptolstm.serving.alerts import threshold
from cryptolstm.serving.registry import ModelRecord


def _model(da):
    return ModelRecord("m", datetime(2025, 1, 5, tzinfo=timezone.utc), date(2025, 1, 4), "f", {}, "v",
                       {"da": da} if da is not None else {}, "x", "champion", date(2025, 1, 5), None)


def test_fixed_threshold_by_default():
    assert threshold(AlertConfig(), _model(0.56)) == (0.5, "fixed 0.5000")


def test_threshold_from_validation_da_minus_pp():
    t, how = threshold(AlertConfig(below_validation_pp=3), _model(0.56))
    assert abs(t - 0.53) < 1e-12 and "validation" in how
    # without a validation DA the fixed threshold applies
    assert threshold(AlertConfig(below_validation_pp=3), _model(None))[0] == 0.5


def test_alert_config_from_env():
    c = load_alerts({"CRYPTOLSTM_ALERT_WINDOW_DAYS": "14", "CRYPTOLSTM_ALERT_MIN_DA": "0.52",
                     "CRYPTOLSTM_ALERT_TO": "a@x, b@y"})
    assert (c.window_days, c.min_da, c.recipients) == (14, 0.52, ("a@x", "b@y"))


def test_pipeline_config_stale_days_reach_alerts():
    c = load_pipeline({"CRYPTOLSTM_STALE_DAYS": "10", "CRYPTOLSTM_TRAIN_PROFILE": "tiny"})
    assert c.alerts.stale_after_days == 10 and c.train_config().window == 10


def test_pipeline_config_provisional_switch():
    assert load_pipeline({}).provisional is True
    assert load_pipeline({"CRYPTOLSTM_PROVISIONAL": "0"}).provisional is False
    assert load_pipeline({"CRYPTOLSTM_PROVISIONAL": "on"}).provisional is True
    with pytest.raises(ValueError, match="CRYPTOLSTM_PROVISIONAL"):
        load_pipeline({"CRYPTOLSTM_PROVISIONAL": "maybe"})
