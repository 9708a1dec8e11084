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


def _cells(hit_rates, per_day=30):
    """[N] realised, pred, day of consecutive days whose share of hits is the given rate."""
    import numpy as np

    y, p, d = [], [], []
    for k, rate in enumerate(hit_rates):
        hits = round(rate * per_day)
        y += [0.01] * per_day
        p += [0.02] * hits + [-0.02] * (per_day - hits)
        d += [k] * per_day
    return np.array(y), np.array(p), np.array(d)


def test_high_tier_accuracy_fires_on_evidence_below_the_walk_forward_interval_and_clears_at_the_line():
    from cryptolstm.serving.alert_rules import high_tier_accuracy

    wf = {"da": 0.58, "ci": [0.55, 0.61], "n": 900}
    kw = {"walk_forward": wf, "min_cells": 60, "block_days": 1}
    state, msg, details = high_tier_accuracy(*_cells([0.4, 0.43, 0.4, 0.37, 0.4]), "ok", **kw)
    assert state == "firing" and details["line"] == 0.55 and details["da_ci95"][1] < 0.55 and "below" in msg
    # the interval reaches the line but the point is still below it: stays firing (no flapping) ...
    y, p, d = _cells([0.2, 0.9, 0.3, 0.8, 0.4])
    assert high_tier_accuracy(y, p, d, "firing", **kw)[0] == "firing"
    assert high_tier_accuracy(y, p, d, "ok", **kw)[0] == "ok"  # ... and was no evidence to fire on
    assert high_tier_accuracy(*_cells([0.6] * 5), "firing", **kw)[0] == "ok"  # back at the line: clears
    few = _cells([0.0], per_day=30)
    assert high_tier_accuracy(*few, "firing", **kw)[:1] == ("firing",)  # too few cells: the state stays
    assert "state stays" in high_tier_accuracy(*few, "ok", **kw)[1]
    none = high_tier_accuracy(*_cells([0.0] * 5), "firing", walk_forward=None, min_cells=60)
    assert none[0] == "ok" and "no walk-forward evidence" in none[1]  # a model without tiers gives no line
