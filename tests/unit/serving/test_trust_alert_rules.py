"""The input-drift alert and the coverage alert's backtest: majority rule, state kept without evidence, and
a message that says whether misses are too many, too clustered, or both."""

from __future__ import annotations

import json

import numpy as np

from cryptolstm.evaluation import backtests
from cryptolstm.serving import alert_rules
from backtest_helpers import markov_misses

COV = dict(low=0.7, high=0.9, min_cells=100, window_days=60)


def test_input_drift_fires_on_a_majority_and_clears_without_one():
    coins = ["BTC", "ETH", "XRP", "ADA", "SOL"]
    most = {c: i < 3 for i, c in enumerate(coins)}
    state, msg, details = alert_rules.input_drift(most, {c: "distance 3.1 > threshold 1.6" for c in coins}, "ok")
    assert state == "firing" and "3 of 5 coins" in msg and details["flagged"] == ["BTC", "ETH", "XRP"]
    assert set(details["causes"]) == {"BTC", "ETH", "XRP"}
    json.dumps(details)
    state, msg, _ = alert_rules.input_drift({c: i < 2 for i, c in enumerate(coins)}, {}, "firing")
    assert state == "ok" and "2 of 5" in msg
    half = {"BTC": True, "ETH": False}  # exactly half is not "most"
    assert alert_rules.input_drift(half, {}, "ok")[0] == "ok"


def test_input_drift_without_any_assessment_keeps_the_state():
    older = {"BTC": None, "ETH": None}  # a model without a training description: NULL flags
    for previous in ("ok", "firing"):
        state, msg, _ = alert_rules.input_drift(older, {}, previous)
        assert state == previous and "no forecast of the day has an input-drift assessment" in msg
    # the unassessed coins do not count in the majority
    assert alert_rules.input_drift({"BTC": True, "ETH": None, "XRP": None}, {}, "ok")[0] == "firing"


def test_coverage_alert_says_too_many_too_clustered_or_both():
    independent = (np.random.default_rng(0).random(540) < 0.2).astype(int)
    clustered = markov_misses(540, 0.06, 0.76, 1)  # miss rate ~0.2, P(miss | miss) 0.76
    ok = backtests.christoffersen(independent, 0.8)
    bad = backtests.christoffersen(clustered, 0.8)
    state, msg, details = alert_rules.interval_coverage(540, 432, "ok", **COV, backtest=ok)
    assert state == "ok" and "Kupiec p" in msg and details["verdict"] == []
    state, msg, details = alert_rules.interval_coverage(540, 432, "ok", **COV, backtest=bad)
    assert state == "firing" and msg.endswith("misses: too clustered") and "inside [70%, 90%]" in msg
    state, msg, _ = alert_rules.interval_coverage(540, 270, "ok", **COV, backtest=bad)
    assert state == "firing" and msg.endswith("misses: too many and too clustered")
    state, msg, _ = alert_rules.interval_coverage(540, 270, "ok", **COV, backtest=ok)
    assert state == "firing" and msg.endswith("misses: too many")
    state, msg, _ = alert_rules.interval_coverage(540, 530, "ok", **COV, backtest=ok)
    assert state == "firing" and "too few (ranges too wide)" in msg
    json.dumps(details)


def test_coverage_alert_without_a_backtest_is_the_coverage_band_alone():
    assert alert_rules.interval_coverage(540, 432, "ok", **COV)[0] == "ok"
    state, msg, details = alert_rules.interval_coverage(540, 270, "ok", **COV)
    assert state == "firing" and "OUTSIDE" in msg and "Kupiec" not in msg and "h1_p_ind" not in details
    assert alert_rules.interval_coverage(50, 10, "firing", **COV)[0] == "firing"  # too few cells: state kept


def test_undefined_backtest_figures_are_stored_as_null():
    r = backtests.christoffersen(np.array([1, 0]), 0.8, np.array([1, 3]))  # no transition: independence undefined
    details = alert_rules.interval_coverage(200, 160, "ok", **COV, backtest=r)[2]
    assert details["h1_p_ind"] is None and "NaN" not in json.dumps(details)
