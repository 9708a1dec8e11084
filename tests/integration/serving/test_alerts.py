"""Alert state machine on PostgreSQL: recorded every day, emailed once per change, never twice."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

from cryptolstm import storage
from cryptolstm.serving.alerts import AlertConfig, check_alerts

START = date(2025, 1, 1)


def _seed(db, hits_by_target_day: dict[date, list[bool]]):
    """A champion from START (cutoff START - 1) and scored forecasts with the given hits."""
    with storage.transaction(db) as cur:
        cur.execute("INSERT INTO models (model_id, created_for, training_cutoff, feature_version, hyperparams, "
                    "code_version, artifact, artifact_sha256, status, champion_from) VALUES ('m', %s, %s, 'f', "
                    "'{}', 't', 'x', 'y', 'champion', %s)",
                    (datetime(2025, 1, 1, tzinfo=timezone.utc), START - timedelta(days=1), START))
        coins = ["BTC", "ETH", "BNB", "XRP", "ADA", "SOL", "DOGE", "LTC", "LINK"]
        for target, hits in hits_by_target_day.items():
            for i, hit in enumerate(hits):
                coin, h = coins[i % 9], 1 + i // 9
                as_of = target - timedelta(days=h)
                cur.execute("INSERT INTO forecasts VALUES (%s, %s, %s, 'm', %s, 1, 0.01, 1.01, 'r')",
                            (coin, as_of, h, target))
                realised = 0.02 if hit else -0.02
                cur.execute("INSERT INTO forecast_scores VALUES (%s, %s, %s, 'm', %s, 1, %s, 0.01)",
                            (coin, as_of, h, realised, hit))


def _rows(db):
    with storage.transaction(db) as cur:
        cur.execute("SELECT kind, as_of, state, emailed FROM alerts ORDER BY as_of, kind")
        return cur.fetchall()


# blocks of one day: a 3-day window has 3 blocks (the production default, 5-day blocks, needs longer windows)
CFG = AlertConfig(window_days=3, min_da=0.5, min_cells=9, block_days=1, stale_after_days=30, recipients=("x@y",))


def test_email_once_per_change_of_state(db):
    d = lambda k: START + timedelta(days=k)
    # days 1-3 bad (2/9 right), days 7-9 good (8/9 right)
    _seed(db, {d(k): [i < 2 for i in range(9)] for k in (1, 2, 3)} | {d(k): [i < 8 for i in range(9)] for k in (7, 8, 9)})
    sent = []
    send = lambda mail: sent.append((mail.subject, mail.html))
    r1 = check_alerts(db, d(3), send, CFG)
    assert r1["states"]["live_accuracy"] == "firing" and r1["emailed"] == ["live_accuracy"]
    assert "LIVE_ACCURACY FIRING" in sent[0][0].upper() and "22.2%" in sent[0][1]
    r2 = check_alerts(db, d(4), send, CFG)  # still firing -> recorded, not mailed
    assert r2["states"]["live_accuracy"] == "firing" and r2["emailed"] == [] and len(sent) == 1
    check_alerts(db, d(3), send, CFG)  # rerun of a mailed day -> not mailed again
    assert len(sent) == 1
    r5 = check_alerts(db, d(6), send, CFG)  # window d4..d6 is empty: not enough cells, state kept
    assert r5["states"]["live_accuracy"] == "firing" and "state stays firing" in r5["messages"]["live_accuracy"]
    r9 = check_alerts(db, d(9), send, CFG)
    assert r9["states"]["live_accuracy"] == "ok" and r9["emailed"] == ["live_accuracy"] and "OK" in sent[-1][0]
    rows = {(k, a): (s, e) for k, a, s, e in _rows(db)}
    assert rows[("live_accuracy", d(3))] == ("firing", True)
    assert rows[("live_accuracy", d(4))] == ("firing", False)
    assert rows[("live_accuracy", d(9))] == ("ok", True)


def test_failed_send_is_retried_by_the_next_attempt(db):
    _seed(db, {START + timedelta(days=k): [False] * 9 for k in (1, 2)})  # two days: one alone is no evidence
    def broken(mail):
        raise ConnectionError("smtp down")
    try:
        check_alerts(db, START + timedelta(days=2), broken, CFG)
        raise AssertionError("send error swallowed")
    except ConnectionError:
        pass
    sent = []
    check_alerts(db, START + timedelta(days=2), lambda m: sent.append(m.subject), CFG)
    assert len(sent) == 1 and "live_accuracy" in sent[0]


def test_no_champion_and_stale_champion(db):
    _seed(db, {})
    sent = []
    r = check_alerts(db, START - timedelta(days=1), lambda m: sent.append(m.subject), CFG)
    assert r["states"]["no_champion"] == "firing" and r["emailed"] == ["no_champion"]
    r = check_alerts(db, START + timedelta(days=5), lambda m: sent.append(m.subject), CFG)
    assert r["states"] == {"no_champion": "ok", "stale_champion": "ok", "live_accuracy": "ok",
                           "interval_coverage": "ok", "expired": "ok", "input_drift": "ok",
                           "high_tier_accuracy": "ok"}
    assert r["emailed"] == ["no_champion"]  # the change back to ok
    r = check_alerts(db, START + timedelta(days=40), lambda m: sent.append(m.subject), CFG)
    assert r["states"]["stale_champion"] == "firing" and "41 days old" in r["messages"]["stale_champion"]
    assert r["states"]["expired"] == "ok" and len(sent) == 3
    # expiry at both limits (default 42 days): 42 days old still serves, 43 is expired and says so loudly
    assert check_alerts(db, START + timedelta(days=41), lambda m: sent.append(m.subject), CFG)["states"]["expired"] == "ok"
    r = check_alerts(db, START + timedelta(days=42), lambda m: sent.append((m.subject, m.html)), CFG)
    assert r["states"]["expired"] == "firing" and r["emailed"] == ["expired"]
    assert "EXPIRED" in sent[-1][0] and "NO FORECAST" in sent[-1][0] and "43 days old" in sent[-1][1]


def test_degraded_accuracy_email_states_the_interval_and_the_comparison(db):
    """A champion promoted on walk-forward DA 0.56 whose signs flipped: 10 days of 2/9 right."""
    d = lambda k: START + timedelta(days=k)  # noqa: E731
    _seed(db, {d(k): [i < 2 for i in range(9)] for k in range(1, 11)})
    with storage.transaction(db) as cur:
        cur.execute("UPDATE models SET metrics = '{\"da\": 0.56}' WHERE model_id = 'm'")
    sent = []
    cfg = AlertConfig(window_days=10, min_cells=45, block_days=2, stale_after_days=30)
    r = check_alerts(db, d(10), lambda m: sent.append((m.subject, m.html, m.text)), cfg)
    assert r["states"]["live_accuracy"] == "firing" and len(sent) == 1
    body = sent[0][1]
    assert "95 % day-block interval" in body and "walk-forward DA 56.0%" in body and "22.2%" in body
    # the plain-text alternative says the same, wrapped for a terminal, without markup
    text = sent[0][2]
    assert max(map(len, text.splitlines())) <= 78 and "<" not in text.replace("<=", "")
    words = " ".join(text.split())
    assert "95 % day-block interval" in words and "walk-forward DA 56.0%" in words and "22.2%" in words
    with storage.transaction(db) as cur:
        cur.execute("SELECT details FROM alerts WHERE kind = 'live_accuracy' AND as_of = %s", (d(10),))
        det = cur.fetchone()[0]
    assert det["walk_forward_da"] == 0.56 and det["da_ci95"][1] < 0.5


def test_range_coverage_alert(db):
    """80 % ranges that hold the realised return on only half the cells of the last 60 matured days."""
    _seed(db, {})
    with storage.transaction(db) as cur:
        for k in range(60):
            as_of = START + timedelta(days=k)
            for i, coin in enumerate(["BTC", "ETH", "BNB", "XRP", "ADA", "SOL", "DOGE", "LTC", "LINK"]):
                cur.execute("INSERT INTO forecasts (coin, as_of, horizon, model_id, target_day, base_close, "
                            "pred_log_return, pred_close, run_id, lo80_log_return, hi80_log_return, lo95_log_return, "
                            "hi95_log_return) VALUES (%s, %s, 1, 'm', %s, 1, 0, 1, 'r', -0.01, 0.01, -0.02, 0.02)",
                            (coin, as_of, as_of + timedelta(days=1)))
                realised = 0.005 if (i + k) % 2 else 0.015  # inside the 80 % range on half the cells
                cur.execute("INSERT INTO forecast_scores VALUES (%s, %s, 1, 'm', %s, 1, true, 0.01)",
                            (coin, as_of, realised))
    sent = []
    cfg = AlertConfig(min_cells=10 ** 6, coverage_min_cells=100, stale_after_days=90)
    r = check_alerts(db, START + timedelta(days=64), lambda m: sent.append(m.subject), cfg)
    assert r["states"]["interval_coverage"] == "firing" and "50.0% of 540 cells" in r["messages"]["interval_coverage"]
    assert any("interval_coverage FIRING" in s for s in sent)
    with storage.transaction(db) as cur:
        cur.execute("SELECT n_cells, coverage_80, coverage_95 FROM v_interval_scores WHERE coin = 'ALL' AND horizon = 0")
        assert cur.fetchone() == (540, 0.5, 1.0)
