"""Issue 26 on PostgreSQL with a real tiny model: every forecast row carries its confidence, members' agreement and
tier, known at t (the candles after t scrambled: the same rows), NULL confidence and tier for a model without a
stored reference, a refused malformed reference, no row from a broken ensemble; live DA by tier
(v_live_accuracy_by_tier) and the high_tier_accuracy alert on the serving model's walk-forward high-tier interval."""

from __future__ import annotations

import io
import json
import logging
import zipfile
from datetime import date, datetime, timedelta, timezone

import numpy as np
import pytest

from cryptolstm import storage
from cryptolstm.config import HORIZONS, TierConfig
from cryptolstm.evaluation import tiers
from cryptolstm.market import panel as panel_mod
from cryptolstm.modelling import features
from cryptolstm.modelling.bundle import TrainedModel
from cryptolstm.serving import registry
from cryptolstm.serving.alerts import AlertConfig, check_alerts
from cryptolstm.serving.forecast import forecast_as_of
from orchestration_seed import bundle_coins, full_panel, insert_candles, make_champion, tiny_model_bytes

CUTOFF = date(2024, 12, 31)
EFFECTIVE = date(2025, 1, 1)
AS_OF = date(2025, 1, 15)
COLS = "coin, horizon, pred_log_return, confidence, members_agree, tier"


def _reference() -> dict:
    """A stored reference (TierConfig's score and cuts) of |ensemble mean| ~ |N(0, 0.003)| at every horizon."""
    cfg = TierConfig()
    q = np.linspace(0, 1, cfg.grid)
    grid = [list(np.quantile(np.abs(np.random.default_rng(h).normal(0, 0.003, 5000)), q)) for h in range(HORIZONS)]
    return {"score": "mean", "high_share": cfg.high_share, "low_share": cfg.low_share, "abs_mean": grid,
            "abs_served": grid, "scores": [list(q)] * HORIZONS, "n_cells": 5000}


def _register(db, model_id: str, artifact: bytes, metrics: dict | None = None, effective: date = EFFECTIVE):
    with storage.transaction(db) as cur:
        registry.register(cur, model_id=model_id, created_for=datetime(2025, 1, 1, tzinfo=timezone.utc),
                          training_cutoff=CUTOFF, feature_version=features.FEATURE_VERSION,
                          hyperparams={"tiny": True, "coins": bundle_coins(artifact)}, code_version="test",
                          metrics=metrics or {}, artifact=artifact)
        registry.promote(cur, model_id, effective)


def _with_reference(ref: dict) -> bytes:
    return TrainedModel.from_bytes(tiny_model_bytes(CUTOFF)).with_confidence_reference(ref).to_bytes()


def _q(db, sql, params=()):
    with storage.transaction(db) as cur:
        cur.execute(sql, params)
        return cur.fetchall()


def _rows(db, as_of=AS_OF):
    return _q(db, f"SELECT {COLS} FROM forecasts WHERE as_of = %s ORDER BY coin, horizon", (as_of,))


def test_each_forecast_carries_its_confidence_and_tier_known_at_t(db):
    insert_candles(db, AS_OF)
    ref = _reference()
    _register(db, "champ", _with_reference(ref))
    out = forecast_as_of(db, AS_OF, "run-1")
    assert out["status"] == "ok" and out["rows"] == 45 and out["with_tier"] == 45
    assert sum(out["tiers"].values()) == 45
    rows = _rows(db)
    R = tiers.Reference.from_json(ref)
    pred = np.array([r[2] for r in rows])
    h = np.array([r[1] for r in rows])
    # the tiny model serves the bare ensemble (K = 1): every stored figure is the reference's of the stored forecast
    np.testing.assert_allclose([r[3] for r in rows], R.confidence(np.abs(pred), h), rtol=0, atol=0)
    assert [r[5] for r in rows] == list(R.tier(R.cell_score(np.abs(pred), np.abs(pred), np.ones(45), np.zeros(45), h), h))
    assert {r[4] for r in rows} == {1.0}  # one member: it agrees with itself
    assert {r[5] for r in rows} <= {"high", "medium", "low"}

    forecast_as_of(db, AS_OF, "run-1")  # a rerun writes the same rows
    assert _rows(db) == rows
    # everything after AS_OF arrives, scrambled: the day's confidence and tier do not move
    p = panel_mod.until(full_panel(), AS_OF + timedelta(days=30))
    later = p[p["day"] > panel_mod.to_day(AS_OF)].copy()
    later[["open", "high", "low", "close"]] *= 3.7
    insert_candles(db, AS_OF + timedelta(days=30), since=AS_OF + timedelta(days=1), panel=later)
    forecast_as_of(db, AS_OF, "run-1")
    assert _rows(db) == rows

    with storage.transaction(db) as cur:  # the view shows them, appended as its last columns
        cur.execute("SELECT * FROM v_latest_forecasts ORDER BY coin, horizon")
        names = [d.name for d in cur.description]
        view = cur.fetchall()
    assert names[-3:] == ["confidence", "members_agree", "tier"]
    assert [(r[0], r[2], *r[-3:]) for r in view] == [(r[0], r[1], *r[3:]) for r in rows]


def test_a_model_without_a_reference_serves_without_confidence_or_tier(db, caplog):
    insert_candles(db, AS_OF)
    make_champion(db, "old", CUTOFF, EFFECTIVE)  # a bundle made before issue 26
    with caplog.at_level(logging.WARNING, logger="cryptolstm.serving.confidence"):
        out = forecast_as_of(db, AS_OF, "run-1")
    assert out["status"] == "ok" and out["rows"] == 45 and out["with_tier"] == 0
    said = [r.getMessage() for r in caplog.records if "confidence reference" in r.getMessage()]
    assert len(said) == 1 and "old" in said[0]
    assert {(r[3], r[4], r[5]) for r in _rows(db)} == {(None, 1.0, None)}


def test_a_malformed_reference_or_a_broken_ensemble_writes_no_forecast(db, monkeypatch):
    insert_candles(db, AS_OF)
    src, out = zipfile.ZipFile(io.BytesIO(_with_reference(_reference()))), io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        for name in src.namelist():
            data = src.read(name)
            if name == "meta.json":  # a reference whose grid was altered after the bundle was written
                meta = json.loads(data)
                meta["confidence_reference"]["abs_mean"][2] = meta["confidence_reference"]["abs_mean"][2][::-1]
                data = json.dumps(meta).encode()
            z.writestr(name, data)
    _register(db, "bad", out.getvalue())
    with pytest.raises(registry.ArtifactError, match="confidence reference"):
        forecast_as_of(db, AS_OF, "run-1")
    assert _rows(db) == []

    with storage.transaction(db) as cur:
        cur.execute("DELETE FROM models WHERE model_id = 'bad'")
    _register(db, "champ", _with_reference(_reference()))
    real = TrainedModel.predict_with_members

    def damaged(how):
        return lambda self, *a, **k: (lambda p, m: (p, how(m)))(*real(self, *a, **k))

    monkeypatch.setattr(TrainedModel, "predict_with_members", damaged(lambda m: m[:, :-1]))
    with pytest.raises(ValueError, match="do not match"):  # a member of another shape: no tier, no row
        forecast_as_of(db, AS_OF, "run-1")
    monkeypatch.setattr(TrainedModel, "predict_with_members", damaged(lambda m: m * np.nan))
    with pytest.raises(ValueError, match="not finite"):
        forecast_as_of(db, AS_OF, "run-1")
    assert _rows(db) == []


START = date(2025, 1, 1)
COINS = ["BTC", "ETH", "BNB", "XRP", "ADA", "SOL", "DOGE", "LTC", "LINK"]


def _seed_tiers(db, days: int, high_hits: float, other_hits: float, metrics: dict):
    """A champion from START with `metrics` and, per target day, 9 coins x 5 horizons of scored forecasts: the
    coins' h = 1, 2 forecasts tier high, the rest medium / low, hitting at the given rates."""
    with storage.transaction(db) as cur:
        cur.execute("INSERT INTO models (model_id, created_for, training_cutoff, feature_version, hyperparams, "
                    "code_version, artifact, artifact_sha256, status, champion_from, metrics) VALUES ('m', %s, %s, "
                    "'f', '{}', 't', 'x', 'y', 'champion', %s, %s)",
                    (datetime(2025, 1, 1, tzinfo=timezone.utc), START - timedelta(days=1), START, json.dumps(metrics)))
        for k in range(1, days + 1):
            target = START + timedelta(days=k)
            for i, coin in enumerate(COINS):
                for h in range(1, HORIZONS + 1):
                    tier = "high" if h <= 2 else ("medium" if h <= 4 else "low")
                    rate = high_hits if tier == "high" else other_hits
                    hit = (i + k) % 9 < round(rate * 9)
                    as_of = target - timedelta(days=h)
                    cur.execute("INSERT INTO forecasts (coin, as_of, horizon, model_id, target_day, base_close, "
                                "pred_log_return, pred_close, run_id, confidence, members_agree, tier) VALUES "
                                "(%s, %s, %s, 'm', %s, 1, 0.01, 1.01, 'r', 0.5, 1, %s)",
                                (coin, as_of, h, target, tier))
                    cur.execute("INSERT INTO forecast_scores VALUES (%s, %s, %s, 'm', %s, 1, %s, 0.01)",
                                (coin, as_of, h, 0.02 if hit else -0.02, hit))


def test_live_accuracy_by_tier_and_the_high_tier_alert(db):
    wf = {"tiers": {"high": {"da": 0.6, "ci": [0.56, 0.64], "n": 1800}}}
    _seed_tiers(db, 10, high_hits=2 / 9, other_hits=6 / 9, metrics=wf)
    by_tier = {(t, h): (n, da, lo, hi) for t, h, n, da, lo, hi in _q(
        db, "SELECT tier, horizon, n_direction_cells, da, da_wilson_low, da_wilson_high FROM v_live_accuracy_by_tier "
            "WHERE model_id = 'm'")}
    n, da, lo, hi = by_tier[("high", 0)]
    assert n == 10 * 9 * 2 and da == pytest.approx(2 / 9) and lo < da < hi
    assert by_tier[("medium", 0)][1] == pytest.approx(6 / 9) and by_tier[("low", 5)][0] == 10 * 9
    assert {t for t, _ in by_tier} == {"high", "medium", "low"}
    with storage.transaction(db) as cur:  # the reader role reads it
        cur.execute("SET ROLE cryptolstm_reader")
        cur.execute("SELECT count(*) FROM v_live_accuracy_by_tier")
        assert cur.fetchone()[0] > 0

    sent = []
    cfg = AlertConfig(window_days=10, min_cells=10 ** 6, high_tier_min_cells=90, block_days=2, stale_after_days=30)
    day = START + timedelta(days=10)
    r = check_alerts(db, day, lambda m: sent.append((m.subject, m.text)), cfg)
    assert r["states"]["high_tier_accuracy"] == "firing" and r["emailed"] == ["high_tier_accuracy"]
    assert "high_tier_accuracy FIRING" in sent[0][0] and "56.0%" in " ".join(sent[0][1].split())
    assert check_alerts(db, day, lambda m: sent.append(m), cfg)["emailed"] == [] and len(sent) == 1  # idempotent
    (details,), = _q(db, "SELECT details FROM alerts WHERE kind = 'high_tier_accuracy' AND as_of = %s", (day,))
    assert details["line"] == 0.56 and details["da_ci95"][1] < 0.56 and details["n_direction_cells"] == 180
    # too few high-tier cells: the state stays; a model without tier evidence gives no line
    strict = AlertConfig(window_days=10, min_cells=10 ** 6, high_tier_min_cells=10 ** 6, stale_after_days=30)
    assert check_alerts(db, day + timedelta(days=1), lambda m: None, strict)["states"]["high_tier_accuracy"] == "firing"
    with storage.transaction(db) as cur:
        cur.execute("UPDATE models SET metrics = '{}' WHERE model_id = 'm'")
    assert check_alerts(db, day + timedelta(days=2), sent.append, cfg)["states"]["high_tier_accuracy"] == "ok"
