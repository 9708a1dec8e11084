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


def _rows(dsn, as_of=AS_OF, ranges=False):
    extra = (", lo80_log_return, hi80_log_return, lo95_log_return, hi95_log_return, lo80_close, hi80_close, "
             "lo95_close, hi95_close, interval_method") if ranges else ""
    with storage.transaction(dsn) as cur:
        cur.execute("SELECT coin, as_of, horizon, model_id, target_day, base_close, pred_log_return, pred_close"
                    f"{extra} FROM forecasts WHERE as_of = %s ORDER BY coin, horizon", (as_of,))
        return cur.fetchall()


def _walk_forward_residuals(dsn, model_id, last, days=200):
    """Walk-forward rows for the model: realised from the real candles, a small fixed prediction."""
    p = full_panel()
    close = p.pivot(index="day", columns="coin", values="close")
    rows = []
    for k in range(days):
        t = panel_mod.to_day(last - timedelta(days=k))
        for coin in close.columns:
            for h in range(1, 6):
                y = math.log(close.at[t + timedelta(days=h), coin] / close.at[t, coin])
                rows.append((model_id, coin, t.date(), h, 0, t.date() - timedelta(days=6), 0.001 * h, y))
    import psycopg2.extras

    with storage.transaction(dsn) as cur:
        psycopg2.extras.execute_values(cur, "INSERT INTO validation_predictions VALUES %s", rows)


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
    with storage.transaction(db) as cur:  # decided: an older week's undecided candidate never serves (issue 27)
        cur.execute("UPDATE models SET status = 'rejected' WHERE model_id IN ('older', 'cand')")
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


def test_every_row_carries_nested_ranges_calibrated_before_the_day(db):
    insert_candles(db, AS_OF + timedelta(days=30))
    make_champion(db, "champ", CUTOFF, EFFECTIVE)
    # residuals up to as-of day 2025-01-20: those with target day >= AS_OF must not be used
    _walk_forward_residuals(db, "champ", AS_OF + timedelta(days=5))
    out = forecast_as_of(db, AS_OF, "run-1")
    assert out["rows"] == 45 and out["with_ranges"] == 45
    rows = _rows(db, ranges=True)
    for coin, as_of, h, _, _, base, r, price, lo80, hi80, lo95, hi95, clo80, chi80, clo95, chi95, method in rows:
        assert lo95 < lo80 < r < hi80 < hi95
        assert hi80 - r == pytest.approx(r - lo80)  # symmetric around the point forecast
        for lr, c in ((lo80, clo80), (hi80, chi80), (lo95, clo95), (hi95, chi95)):
            assert c == pytest.approx(base * math.exp(lr), rel=1e-12)
        assert method.startswith("split-conformal")
    # widths grow with the horizon (BTC)
    btc = [r for r in rows if r[0] == "BTC"]
    assert all(a[9] - a[8] < b[9] - b[8] for a, b in zip(btc, btc[1:]))
    # the matured-before rule: residuals whose target day is on or after AS_OF change nothing
    with storage.transaction(db) as cur:
        cur.execute("UPDATE validation_predictions SET realised_log_return = realised_log_return * 50 "
                    "WHERE as_of + horizon >= %s", (AS_OF,))
    forecast_as_of(db, AS_OF, "run-2")
    assert [r[:5] + r[6:] for r in _rows(db, ranges=True)] == [r[:5] + r[6:] for r in rows]
    with storage.transaction(db) as cur:
        cur.execute("SELECT count(*), count(lo80_close) FROM v_latest_forecasts")
        assert cur.fetchone() == (45, 45)


def test_no_walk_forward_residuals_means_no_ranges_not_made_up_ones(db):
    insert_candles(db, AS_OF)
    make_champion(db, "champ", CUTOFF, EFFECTIVE)
    out = forecast_as_of(db, AS_OF, "run-1")
    assert out["rows"] == 45 and out["with_ranges"] == 0
    assert {r[8:] for r in _rows(db, ranges=True)} == {(None,) * 9}


@pytest.mark.parametrize("age,status", [(42, "ok"), (43, "expired")])
def test_expiry_at_the_limit(db, age, status):
    day = CUTOFF + timedelta(days=age)
    insert_candles(db, day)
    make_champion(db, "champ", CUTOFF, EFFECTIVE)
    out = forecast_as_of(db, day, "run-1", stale_after_days=21)
    assert out["status"] == status and out["champion_age_days"] == age
    if status == "ok":
        assert out["stale"] and out["rows"] == 45 and len(_rows(db, day)) == 45
    else:
        assert out["rows"] == 0 and _rows(db, day) == [] and "expired" in out["message"]


def test_a_day_without_candles_is_an_error_not_ok_with_zero_rows(db):
    """Issue 12 §1: a day with no candles returned `status ok, rows 0` and the run was green."""
    from cryptolstm.serving.forecast import MissingDataError

    insert_candles(db, AS_OF - timedelta(days=3))  # the last three days never arrived
    make_champion(db, "champ", CUTOFF, EFFECTIVE)
    with pytest.raises(MissingDataError, match=f"no forecast for {AS_OF}.*latest candle stored up to that day: "
                                               f"{AS_OF - timedelta(days=3)}"):
        forecast_as_of(db, AS_OF, "run-1")
    assert _rows(db) == []


def test_day_coverage_names_the_served_coins_without_a_forecast(db):
    from cryptolstm.serving.forecast import day_coverage

    insert_candles(db, AS_OF)
    make_champion(db, "champ", CUTOFF, EFFECTIVE)
    forecast_as_of(db, AS_OF, "run-1")
    full = day_coverage(db, AS_OF, DEFAULT_COINS)
    assert full["complete"] and full["missing"] == [] and full["expected"] == sorted(DEFAULT_COINS)
    with storage.transaction(db) as cur:
        cur.execute("DELETE FROM forecasts WHERE coin IN ('SOL', 'XRP') AND as_of = %s", (AS_OF,))
        cur.execute("DELETE FROM forecasts WHERE coin = 'BTC' AND as_of = %s AND horizon = 5", (AS_OF,))
    out = day_coverage(db, AS_OF, DEFAULT_COINS)
    assert not out["complete"] and out["missing"] == ["BTC", "SOL", "XRP"]
    assert f"forecast of {AS_OF} is incomplete: no 5-day forecast for BTC, SOL, XRP" in out["message"]
    # a coin the exchange stopped trading by the day is not expected; one delisted later still is
    with storage.transaction(db) as cur:
        cur.execute("UPDATE coins SET active = false, inactive_since = %s WHERE coin IN ('SOL', 'XRP', 'BTC')",
                    (AS_OF,))
        cur.execute("UPDATE coins SET inactive_since = %s WHERE coin = 'XRP'", (AS_OF + timedelta(days=1),))
    assert day_coverage(db, AS_OF, DEFAULT_COINS)["missing"] == ["XRP"]


def test_a_coin_warming_up_after_an_accepted_level_shift_is_named_not_missing(db):
    """Issue 20 §4: after an operator accepts a level shift, the coin's history restarts at the break and it
    has no full input window for the warm-up plus one window; `day_complete` failed every such day. It is now
    named as warming up, and missing again once that span has passed."""
    from cryptolstm.serving.forecast import day_coverage

    insert_candles(db, AS_OF)
    make_champion(db, "champ", CUTOFF, EFFECTIVE)
    forecast_as_of(db, AS_OF, "run-1")
    with storage.transaction(db) as cur:
        cur.execute("DELETE FROM forecasts WHERE coin IN ('SOL', 'XRP') AND as_of = %s", (AS_OF,))
        cur.execute("INSERT INTO candle_level_shifts (coin, day, ratio, reason) VALUES ('SOL', %s, 0.05, 'test')",
                    (AS_OF - timedelta(days=30),))
    out = day_coverage(db, AS_OF, DEFAULT_COINS, warmup_days=40)
    assert (out["missing"], out["warming_up"], out["complete"]) == (["XRP"], ["SOL"], False)
    assert "SOL still warming up after an accepted level shift" in out["message"]
    assert day_coverage(db, AS_OF, DEFAULT_COINS, warmup_days=30)["missing"] == ["SOL", "XRP"]


def test_the_forecast_reads_the_candles_once_and_builds_the_features_once(db, monkeypatch):
    """One pass over the data: with a model, the forecast step reads the candle history once, builds the
    features once and forecasts from that frame. A day no model may serve reads nothing: the only reason
    it did was the `features` table, written for no reader and dropped by migration 008."""
    from cryptolstm.market import panel as panel_module
    from cryptolstm.modelling import features

    calls = {"read_candles": 0, "build_features": 0}

    def counted(module, name):
        real = getattr(module, name)

        def wrapper(*args, **kwargs):
            calls[name] += 1
            return real(*args, **kwargs)
        monkeypatch.setattr(module, name, wrapper)

    counted(panel_module, "read_candles")
    counted(features, "build_features")

    insert_candles(db, AS_OF)
    assert forecast_as_of(db, AS_OF, "run-1")["status"] == "no_champion"
    assert calls == {"read_candles": 0, "build_features": 0}
    make_champion(db, "champ", CUTOFF, EFFECTIVE)
    out = forecast_as_of(db, AS_OF, "run-1")
    assert out["status"] == "ok" and out["rows"] == 45
    assert calls == {"read_candles": 1, "build_features": 1}  # per daily forecast step, with a model
    with storage.transaction(db) as cur:
        cur.execute("SELECT to_regclass('public.features')")
        assert cur.fetchone()[0] is None


def test_a_model_built_for_other_features_fails_at_once(db, monkeypatch):
    """Issue 20: a model whose feature version the code no longer computes was refused with a ValueError,
    which the DAG retried twice for nothing. It is a FeatureVersionError now, one a retry cannot fix."""
    from cryptolstm.errors import Permanent
    from cryptolstm.modelling import features

    insert_candles(db, AS_OF)
    make_champion(db, "champ", CUTOFF, EFFECTIVE)
    monkeypatch.setattr(features, "FEATURE_VERSION", "f-next")  # the code moved on since the model was trained
    with pytest.raises(Exception, match="model uses features .+, code computes f-next") as refused:
        forecast_as_of(db, AS_OF, "run-1")
    assert isinstance(refused.value, Permanent)  # a retry cannot fix it
    assert _rows(db) == []
