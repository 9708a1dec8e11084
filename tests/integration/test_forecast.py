"""forecast_as_of on PostgreSQL with a real tiny model: point-in-time model and data, idempotent,
future-proof (every candle after the as-of day altered -> identical rows), no champion -> no rows."""

from __future__ import annotations

import math
from datetime import date, timedelta

import pytest

from cryptolstm.config import DEFAULT_COINS
from cryptolstm.market import panel as panel_mod
from cryptolstm.serving import registry
from cryptolstm import storage
from cryptolstm.serving.forecast import forecast_as_of
from orchestration_seed import full_panel, insert_candles, make_champion, register_tiny

CUTOFF = date(2024, 12, 31)
EFFECTIVE = date(2025, 1, 1)
AS_OF = date(2025, 1, 15)


def _rows(dsn, as_of=AS_OF):
    with storage.transaction(dsn) as cur:
        cur.execute("SELECT coin, as_of, horizon, model_id, target_day, base_close, pred_log_return, pred_close "
                    "FROM forecasts WHERE as_of = %s ORDER BY coin, horizon", (as_of,))
        return cur.fetchall()


def test_forecast_rows_are_complete_and_consistent(db):
    insert_candles(db, AS_OF)
    make_champion(db, "champ", CUTOFF, EFFECTIVE)
    out = forecast_as_of(db, AS_OF, "run-1")
    assert out["status"] == "ok" and out["model_id"] == "champ" and out["rows"] == 45
    assert out["champion_age_days"] == 15 and not out["stale"]
    rows = _rows(db)
    assert len(rows) == 45 and {r[0] for r in rows} == set(DEFAULT_COINS)
    closes = full_panel().set_index(["coin", "day"])["close"]
    for coin, as_of, h, model, target, base, r, price in rows:
        assert target == as_of + timedelta(days=h) and model == "champ"
        assert base == closes[(coin, panel_mod.to_day(AS_OF))]
        assert price == pytest.approx(base * math.exp(r), rel=1e-12)


def test_rerun_is_identical_and_only_touches_that_day(db):
    insert_candles(db, AS_OF)
    make_champion(db, "champ", CUTOFF, EFFECTIVE)
    forecast_as_of(db, AS_OF - timedelta(days=1), "run-0")
    forecast_as_of(db, AS_OF, "run-1")
    before, other = _rows(db), _rows(db, AS_OF - timedelta(days=1))
    forecast_as_of(db, AS_OF, "run-1")
    assert _rows(db) == before and _rows(db, AS_OF - timedelta(days=1)) == other


def test_future_candles_do_not_change_the_forecast(db):
    insert_candles(db, AS_OF)
    make_champion(db, "champ", CUTOFF, EFFECTIVE)
    forecast_as_of(db, AS_OF, "run-1")
    before = _rows(db)
    # everything after AS_OF arrives, scrambled
    p = panel_mod.until(full_panel(), AS_OF + timedelta(days=30))
    later = p[p["day"] > panel_mod.to_day(AS_OF)].copy()
    later[["open", "high", "low", "close"]] *= 3.7
    insert_candles(db, AS_OF + timedelta(days=30), since=AS_OF + timedelta(days=1), panel=later)
    forecast_as_of(db, AS_OF, "run-1")
    assert _rows(db) == before


def test_no_champion_and_provisional_off_means_no_forecast(db):
    insert_candles(db, AS_OF)
    register_tiny(db, "cand", CUTOFF)  # registered but never promoted
    out = forecast_as_of(db, AS_OF, "run-1", provisional=False)
    assert out["status"] == "no_champion" and out["rows"] == 0 and "no model" in out["message"]
    assert _rows(db) == []


def test_no_model_at_all_means_no_forecast(db):
    insert_candles(db, AS_OF)
    register_tiny(db, "later", AS_OF)  # trained on the day itself: may not forecast it
    out = forecast_as_of(db, AS_OF, "run-1")
    assert out["status"] == "no_champion" and out["rows"] == 0 and _rows(db) == []


def test_no_champion_newest_model_trained_before_the_day_forecasts_provisionally(db):
    insert_candles(db, AS_OF)
    register_tiny(db, "older", CUTOFF - timedelta(days=7))
    register_tiny(db, "cand", CUTOFF)  # never promoted (e.g. rejected by the first-model gate)
    register_tiny(db, "after", AS_OF)  # trained on the as-of day: never serves it
    out = forecast_as_of(db, AS_OF, "run-1")
    assert out["status"] == "provisional" and out["model_id"] == "cand" and out["rows"] == 45
    rows = _rows(db)
    assert len(rows) == 45 and {r[3] for r in rows} == {"cand"}
    forecast_as_of(db, AS_OF, "run-1")  # a rerun is identical
    assert _rows(db) == rows
    with storage.transaction(db) as cur:
        cur.execute("SELECT DISTINCT served_as FROM v_latest_forecasts")
        assert cur.fetchall() == [("provisional",)]


def test_a_champion_is_preferred_to_a_newer_provisional_model(db):
    insert_candles(db, AS_OF)
    make_champion(db, "champ", CUTOFF - timedelta(days=7), EFFECTIVE)
    register_tiny(db, "cand", CUTOFF)
    out = forecast_as_of(db, AS_OF, "run-1")
    assert out["status"] == "ok" and out["model_id"] == "champ"


def test_day_before_promotion_has_no_champion(db):
    insert_candles(db, AS_OF)
    make_champion(db, "champ", CUTOFF, EFFECTIVE)
    # the champion's own model was trained through CUTOFF, so it cannot serve that day even provisionally
    assert forecast_as_of(db, CUTOFF, "run-1")["status"] == "no_champion"


def test_stale_champion_still_forecasts(db):
    insert_candles(db, AS_OF)
    make_champion(db, "champ", CUTOFF, EFFECTIVE)
    out = forecast_as_of(db, AS_OF, "run-1", stale_after_days=10)
    assert out["status"] == "ok" and out["stale"] and out["rows"] == 45


def test_corrupted_champion_artifact_fails_loudly(db):
    insert_candles(db, AS_OF)
    make_champion(db, "champ", CUTOFF, EFFECTIVE)
    with storage.transaction(db) as cur:
        cur.execute("UPDATE models SET artifact = overlay(artifact placing 'xx' from 100) WHERE model_id = 'champ'")
    with pytest.raises(registry.ArtifactError):
        forecast_as_of(db, AS_OF, "run-1")
    assert _rows(db) == []
