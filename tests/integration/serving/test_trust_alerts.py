"""The input_drift alert and the coverage alert's backtest on PostgreSQL: recorded every day, emailed on a
change of state, and a message that names clustered misses."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import numpy as np

from cryptolstm import storage
from cryptolstm.serving.alerts import AlertConfig, check_alerts
from backtest_helpers import markov_misses

START = date(2025, 1, 1)
COINS = ["BTC", "ETH", "BNB", "XRP", "ADA", "SOL", "DOGE", "LTC", "LINK"]
CFG = AlertConfig(min_cells=10 ** 6, coverage_min_cells=100, stale_after_days=90)


def _model(cur):
    cur.execute("INSERT INTO models (model_id, created_for, training_cutoff, feature_version, hyperparams, "
                "code_version, artifact, artifact_sha256, status, champion_from) VALUES ('m', %s, %s, 'f', "
                "'{}', 't', 'x', 'y', 'champion', %s)",
                (datetime(2025, 1, 1, tzinfo=timezone.utc), START - timedelta(days=1), START))


def _forecast(cur, coin, as_of, drifted, lo=None, hi=None):
    cause = "distance 4.20 > threshold 1.60" if drifted else None
    cur.execute("INSERT INTO forecasts (coin, as_of, horizon, model_id, target_day, base_close, pred_log_return, "
                "pred_close, run_id, lo80_log_return, hi80_log_return, lo95_log_return, hi95_log_return, "
                "input_distance, input_drift_threshold, input_drifted, input_drift_cause) "
                "VALUES (%s, %s, 1, 'm', %s, 1, 0, 1, 'r', %s, %s, %s, %s, %s, 1.6, %s, %s)",
                (coin, as_of, as_of + timedelta(days=1), lo, hi, None if lo is None else 2 * lo,
                 None if hi is None else 2 * hi, None if drifted is None else (4.2 if drifted else 0.9), drifted,
                 cause))


def test_input_drift_alert_fires_on_most_coins_and_clears(db):
    days = {START + timedelta(days=1): 6, START + timedelta(days=2): 7, START + timedelta(days=3): 1,
            START + timedelta(days=4): None}
    with storage.transaction(db) as cur:
        _model(cur)
        for day, n in days.items():
            for i, coin in enumerate(COINS):
                _forecast(cur, coin, day, None if n is None else i < n)
    sent = []
    states = {d: check_alerts(db, d, lambda *mail: sent.append(mail), CFG) for d in days}
    s = {d: r["states"]["input_drift"] for d, r in states.items()}
    assert list(s.values()) == ["firing", "firing", "ok", "ok"]  # the unassessed day keeps the state
    assert "6 of 9 coins" in states[START + timedelta(days=1)]["messages"]["input_drift"]
    assert "state stays ok" in states[START + timedelta(days=4)]["messages"]["input_drift"]
    mailed = [d for d, r in states.items() if "input_drift" in r["emailed"]]
    assert mailed == [START + timedelta(days=1), START + timedelta(days=3)]  # once per change of state
    with storage.transaction(db) as cur:
        cur.execute("SELECT details->'flagged' FROM alerts WHERE kind = 'input_drift' AND as_of = %s",
                    (START + timedelta(days=1),))
        assert cur.fetchone()[0] == sorted(COINS[:6])


def test_coverage_alert_names_clustered_misses(db):
    """Coverage near 80 % over the last 60 matured days, but every coin's misses come in runs."""
    with storage.transaction(db) as cur:
        _model(cur)
        for j, coin in enumerate(COINS):
            miss = markov_misses(60, 0.05, 0.8, j)
            for k in range(60):
                as_of = START + timedelta(days=k)
                _forecast(cur, coin, as_of, False, -0.01, 0.01)
                cur.execute("INSERT INTO forecast_scores VALUES (%s, %s, 1, 'm', %s, 1, true, 0.01)",
                            (coin, as_of, 0.015 if miss[k] else 0.005))
    r = check_alerts(db, START + timedelta(days=64), lambda *mail: None, CFG)
    msg = r["messages"]["interval_coverage"]
    assert r["states"]["interval_coverage"] == "firing" and "too clustered" in msg, msg
    assert "Christoffersen independence p" in msg
