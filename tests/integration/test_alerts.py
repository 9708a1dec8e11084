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


CFG = AlertConfig(window_days=3, min_da=0.5, min_cells=9, stale_after_days=30, recipients=("x@y",))


def test_email_once_per_change_of_state(db):
    d = lambda k: START + timedelta(days=k)
    # days 1-3 bad (2/9 right), days 7-9 good (8/9 right)
    _seed(db, {d(k): [i < 2 for i in range(9)] for k in (1, 2, 3)} | {d(k): [i < 8 for i in range(9)] for k in (7, 8, 9)})
    sent = []
    send = lambda subject, body: sent.append((subject, body))
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
    _seed(db, {START + timedelta(days=1): [False] * 9})
    def broken(subject, body):
        raise ConnectionError("smtp down")
    try:
        check_alerts(db, START + timedelta(days=1), broken, CFG)
        raise AssertionError("send error swallowed")
    except ConnectionError:
        pass
    sent = []
    check_alerts(db, START + timedelta(days=1), lambda s, b: sent.append(s), CFG)
    assert len(sent) == 1 and "live_accuracy" in sent[0]


def test_no_champion_and_stale_champion(db):
    _seed(db, {})
    sent = []
    r = check_alerts(db, START - timedelta(days=1), lambda s, b: sent.append(s), CFG)
    assert r["states"]["no_champion"] == "firing" and r["emailed"] == ["no_champion"]
    r = check_alerts(db, START + timedelta(days=5), lambda s, b: sent.append(s), CFG)
    assert r["states"] == {"no_champion": "ok", "stale_champion": "ok", "live_accuracy": "ok"}
    assert r["emailed"] == ["no_champion"]  # the change back to ok
    r = check_alerts(db, START + timedelta(days=40), lambda s, b: sent.append(s), CFG)
    assert r["states"]["stale_champion"] == "firing" and "41 days old" in r["messages"]["stale_champion"]
    assert len(sent) == 3
