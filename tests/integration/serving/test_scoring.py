"""Scoring matured forecasts: realised values from candles <= the scoring day, idempotent."""

from __future__ import annotations

import math
from datetime import date, datetime, timedelta, timezone

import pytest

from cryptolstm import storage
from cryptolstm.serving.scoring import score_matured
from orchestration_seed import insert_candles

AS_OF = date(2025, 1, 10)


def _seed(db, preds):
    """A fake champion and forecasts {(coin, h): pred} for as-of AS_OF."""
    insert_candles(db, AS_OF + timedelta(days=10))
    with storage.transaction(db) as cur:
        cur.execute("INSERT INTO models (model_id, created_for, training_cutoff, feature_version, hyperparams, "
                    "code_version, artifact, artifact_sha256) VALUES ('m', %s, '2025-01-01', 'f', '{}', 't', "
                    "'x', 'y')", (datetime(2025, 1, 2, tzinfo=timezone.utc),))
        cur.execute("SELECT coin, close FROM candles WHERE day = %s", (AS_OF,))
        base = dict(cur.fetchall())
        for (coin, h), r in preds.items():
            cur.execute("INSERT INTO forecasts VALUES (%s, %s, %s, 'm', %s, %s, %s, %s, 'run')",
                        (coin, AS_OF, h, AS_OF + timedelta(days=h), base[coin], r, base[coin] * math.exp(r)))
    return base


def _scores(db):
    with storage.transaction(db) as cur:
        cur.execute("SELECT coin, horizon, realised_log_return, realised_close, direction_hit, abs_error "
                    "FROM forecast_scores ORDER BY coin, horizon")
        return cur.fetchall()


def test_scores_only_matured_cells_with_correct_values(db):
    preds = {("BTC", h): 0.01 for h in range(1, 6)} | {("ETH", h): -0.01 for h in range(1, 6)}
    base = _seed(db, preds)
    out = score_matured(db, AS_OF + timedelta(days=2))
    assert out["scored_new"] == 4 and out["unscorable"] == 0  # h = 1, 2 for two coins
    with storage.transaction(db) as cur:
        cur.execute("SELECT coin, day, close FROM candles WHERE day BETWEEN %s AND %s", (AS_OF, AS_OF + timedelta(days=2)))
        close = {(c, d): v for c, d, v in cur.fetchall()}
    for coin, h, r, c, hit, err in _scores(db):
        expected = math.log(close[(coin, AS_OF + timedelta(days=h))] / base[coin])
        assert r == pytest.approx(expected, abs=1e-12) and c == close[(coin, AS_OF + timedelta(days=h))]
        assert hit == ((expected > 0) == (preds[(coin, h)] > 0))
        assert err == pytest.approx(abs(expected - preds[(coin, h)]), abs=1e-12)


def test_rescoring_is_identical_and_catches_up(db):
    _seed(db, {("BTC", h): 0.01 for h in range(1, 6)})
    score_matured(db, AS_OF + timedelta(days=2))
    first = _scores(db)
    again = score_matured(db, AS_OF + timedelta(days=2))
    assert _scores(db) == first and again["scored_new"] == 0
    out = score_matured(db, AS_OF + timedelta(days=7))
    assert out["scored_new"] == 3 and len(_scores(db)) == 5


def test_missing_candle_is_reported_not_invented(db):
    _seed(db, {("BTC", 1): 0.01})
    with storage.transaction(db) as cur:
        cur.execute("DELETE FROM candles WHERE coin = 'BTC' AND day = %s", (AS_OF + timedelta(days=1),))
    out = score_matured(db, AS_OF + timedelta(days=3))
    assert out["scored_new"] == 0 and out["unscorable"] == 1 and _scores(db) == []


def test_negative_lookback_is_an_error(db):
    with pytest.raises(ValueError):
        score_matured(db, AS_OF, lookback_days=-1)


def test_a_revised_candle_rescores_the_scores_that_read_it_as_base_or_target(db):
    """Issue 20 §3: the ingest of day T re-fetches days >= T - 3 (the overlap); a correction of day D = T - 3
    must reach every score reading D: as its base (as-of D) and as its target (as-of D - 1, h = 1)."""
    from cryptolstm.config import OVERLAP_DAYS
    from cryptolstm.market import candles

    day = AS_OF
    today = day + timedelta(days=OVERLAP_DAYS)  # the run whose ingest re-fetched `day` (its first overlap day)
    _seed(db, {("BTC", h): 0.01 for h in range(1, 4)})  # base `day`
    with storage.transaction(db) as cur:  # a forecast whose target is `day`
        cur.execute("SELECT close FROM candles WHERE coin = 'BTC' AND day = %s", (day - timedelta(days=1),))
        (base_before,) = cur.fetchone()
        cur.execute("INSERT INTO forecasts VALUES ('BTC', %s, 1, 'm', %s, %s, 0.01, %s, 'run')",
                    (day - timedelta(days=1), day, base_before, base_before))
    score_matured(db, today)
    with storage.transaction(db) as cur:  # the exchange corrects `day`; the ingest stores it (history kept)
        cur.execute("SELECT day, open, high, low, close, volume FROM candles WHERE coin = 'BTC' AND day = %s", (day,))
        d, o, h, lo, c, v = cur.fetchone()
        revised = candles.Candle(d, o, max(h, c * 1.05), lo, c * 1.05, v)
        assert candles.upsert_candles(cur, "BTC", [revised], datetime.combine(
            today + timedelta(days=1), datetime.min.time(), timezone.utc)) == (0, 1)
    out = score_matured(db, today)
    with storage.transaction(db) as cur:
        cur.execute("SELECT day, close FROM candles WHERE coin = 'BTC'")
        close = dict(cur.fetchall())
        cur.execute("SELECT s.as_of, s.horizon, s.realised_log_return, s.realised_close FROM forecast_scores s "
                    "ORDER BY s.as_of, s.horizon")
        scores = cur.fetchall()
    assert [(a, h) for a, h, _, _ in scores] == [(day - timedelta(days=1), 1), (day, 1), (day, 2), (day, 3)]
    for as_of, h, realised, realised_close in scores:
        target = as_of + timedelta(days=h)
        assert realised == pytest.approx(math.log(close[target] / close[as_of]), abs=1e-12), (as_of, h)
        assert realised_close == close[target], (as_of, h)
    assert out["rescored"] >= 4


def test_a_revision_older_than_the_overlap_still_rescores(db):
    """A gap re-requested weeks later can revise an old candle too: its scores follow, whatever their age."""
    _seed(db, {("BTC", 1): 0.01})
    today = AS_OF + timedelta(days=10)
    score_matured(db, today)
    with storage.transaction(db) as cur:
        cur.execute("UPDATE candles SET close = low WHERE coin = 'BTC' AND day = %s", (AS_OF,))
        cur.execute("SELECT day, close FROM candles WHERE coin = 'BTC' AND day IN (%s, %s)",
                    (AS_OF, AS_OF + timedelta(days=1)))
        close = dict(cur.fetchall())
    assert score_matured(db, today)["rescored"] == 1
    [(_, _, realised, _, _, _)] = _scores(db)
    assert realised == pytest.approx(math.log(close[AS_OF + timedelta(days=1)] / close[AS_OF]), abs=1e-12)


def test_a_forecast_across_an_accepted_level_shift_is_neither_scored_nor_unscorable(db):
    """Issue 20 §4: a close on another scale is no outcome of a forecast made before the break."""
    _seed(db, {("BTC", h): 0.01 for h in range(1, 4)})
    with storage.transaction(db) as cur:
        cur.execute("INSERT INTO candle_level_shifts (coin, day, ratio, reason) VALUES ('BTC', %s, 0.05, 'test')",
                    (AS_OF + timedelta(days=2),))
    out = score_matured(db, AS_OF + timedelta(days=5))
    assert [(c, h) for c, h, *_ in _scores(db)] == [("BTC", 1)]  # h = 2, 3 read a close after the break
    assert (out["scored_new"], out["unscorable"]) == (1, 0)
