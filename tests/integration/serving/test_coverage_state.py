"""The online coverage correction on PostgreSQL (issue 26): days served one after another as the daily DAG does
(ranges_for -> forecasts -> score), then: the state and its audit rows are a function of the stored misses
(a rerun rewrites identical rows), it starts at the nominal level, it is carried across a model change, and a
corrected candle changes every later state but no stored range."""

from __future__ import annotations

import json
import math
from datetime import date, datetime, timedelta, timezone

import pandas as pd
import psycopg2.extras
import pytest

from cryptolstm import storage
from cryptolstm.config import DEFAULT_COINS
from cryptolstm.evaluation import coverage
from cryptolstm.evaluation.intervals import IntervalConfig
from cryptolstm.market import candles
from cryptolstm.market import panel as panel_mod
from cryptolstm.serving import confidence, coverage_state
from cryptolstm.serving.forecast import NO_DRIFT, _forecast_rows, ranges_for
from cryptolstm.serving.scoring import score_matured
from orchestration_seed import full_panel, insert_candles

FIRST, SWITCH, LAST = date(2024, 11, 1), date(2024, 11, 21), date(2024, 12, 5)
CONFIG = IntervalConfig(corrections=("aci_0.02", "qt"))
RANGE_COLS = ("lo80_log_return, hi80_log_return, lo95_log_return, hi95_log_return, lo80_log_return_uncorrected, "
              "hi80_log_return_uncorrected, lo95_log_return_uncorrected, hi95_log_return_uncorrected")


def _model(cur, model_id: str, cutoff: date, champion_from: date, champion_until: date | None) -> None:
    cur.execute("INSERT INTO models (model_id, created_for, training_cutoff, feature_version, hyperparams, "
                "code_version, artifact, artifact_sha256, status, champion_from, champion_until) "
                "VALUES (%s, %s, %s, 'v', '{}', 'test', '\\x00', 'x', 'champion', %s, %s)",
                (model_id, datetime.combine(cutoff, datetime.min.time(), timezone.utc), cutoff, champion_from,
                 champion_until))


def _residuals(cur, model_id: str, last: date, pred: float, days: int = 200) -> None:
    """The model's walk-forward rows: realised from the real candles, a fixed small prediction."""
    close = full_panel().pivot(index="day", columns="coin", values="close")
    rows = []
    for k in range(days):
        t = panel_mod.to_day(last - timedelta(days=k))
        for coin in DEFAULT_COINS:
            for h in range(1, 6):
                y = math.log(close.at[t + timedelta(days=h), coin] / close.at[t, coin])
                rows.append((model_id, coin, t.date(), h, 0, t.date() - timedelta(days=6), pred * h, y))
    psycopg2.extras.execute_values(cur, "INSERT INTO validation_predictions VALUES %s", rows)


def _serve(dsn: str, day: date) -> None:
    """One daily run without a network: the champion's ranges for `day`, its forecast rows, then the scoring."""
    model_id, pred = ("m1", 0.002) if day < SWITCH else ("m2", -0.001)
    panel = panel_mod.read_candles(dsn, until=day)
    panel = panel[panel["coin"].isin(DEFAULT_COINS)].reset_index(drop=True)
    preds = pd.DataFrame([(c, h, pred * h) for c in DEFAULT_COINS for h in range(1, 6)],
                         columns=["coin", "horizon", "pred_log_return"])
    with storage.transaction(dsn) as cur:
        ranges = ranges_for(cur, model_id, day, preds, panel, CONFIG)
        rows = [{**r, **NO_DRIFT, **confidence.NONE} for r in _forecast_rows(preds, panel, ranges, model_id, day, "run", CONFIG)]
        storage.execute_batch(cur, "forecasts_upsert", rows)
    score_matured(dsn, day)


def _days(first: date, last: date):
    return [first + timedelta(days=k) for k in range((last - first).days + 1)]


def _tables(dsn: str):
    with storage.transaction(dsn) as cur:
        cur.execute(f"SELECT coin, as_of, horizon, model_id, {RANGE_COLS}, interval_method FROM forecasts "
                    "ORDER BY 1, 2, 3, 4")
        f = cur.fetchall()
        cur.execute("SELECT * FROM range_corrections ORDER BY coin, as_of, horizon, level")
        return f, cur.fetchall()


@pytest.fixture()
def served(db):
    insert_candles(db, LAST + timedelta(days=10))
    with storage.transaction(db) as cur:
        _model(cur, "m1", FIRST - timedelta(days=8), FIRST, SWITCH)
        _model(cur, "m2", SWITCH - timedelta(days=2), SWITCH, None)
        _residuals(cur, "m1", FIRST - timedelta(days=7), 0.002)
        _residuals(cur, "m2", SWITCH - timedelta(days=3), -0.001)
    for day in _days(FIRST, LAST):
        _serve(db, day)
    return db


def _fold(dsn: str, as_of: date, coin: str, h: int, level: float) -> tuple[float, int]:
    """The state recomputed by hand from the stored misses: every served range of the series matured before as_of."""
    with storage.transaction(dsn) as cur:
        cur.execute("SELECT f.as_of, NOT (s.realised_log_return BETWEEN f.lo{k}_log_return AND f.hi{k}_log_return) "
                    "FROM forecasts f JOIN forecast_scores s USING (coin, as_of, horizon, model_id) "
                    "WHERE f.coin = %s AND f.horizon = %s AND f.target_day < %s ORDER BY f.as_of"
                    .format(k=round(level * 100)), (coin, h, as_of))
        misses = [m for _, m in cur.fetchall()]
    name = CONFIG.corrections[CONFIG.levels.index(level)]
    return coverage.state_from_misses(misses, level, coverage.by_name(name)), len(misses)


def test_before_any_live_miss_the_level_is_nominal(served):
    with storage.transaction(served) as cur:
        cur.execute("SELECT level, method, alpha, log_factor, n_misses_used, last_target_day FROM range_corrections "
                    "WHERE as_of = %s", (FIRST,))
        first = cur.fetchall()
        cur.execute(f"SELECT {RANGE_COLS} FROM forecasts WHERE as_of = %s", (FIRST,))
        ranges = cur.fetchall()
    assert len(first) == 9 * 5 * 2
    for level, method, alpha, log_factor, n_used, last_target in first:
        assert (method, n_used, last_target, log_factor) == ({80: "aci_0.02", 95: "qt"}[level], 0, None, 0.0)
        assert alpha == pytest.approx(1 - level / 100)
    assert all(r[:4] == r[4:] for r in ranges)  # at the nominal level the served ranges are the uncorrected ones


def test_state_is_the_fold_of_the_stored_misses_carried_across_the_model_change(served):
    with storage.transaction(served) as cur:
        cur.execute("SELECT coin, horizon, level, alpha, log_factor, n_misses_used, model_id FROM range_corrections "
                    "WHERE as_of = %s", (SWITCH,))
        at_switch = cur.fetchall()
    assert {r[6] for r in at_switch} == {"m2"}
    for coin, h, level, alpha, log_factor, n_used, _ in at_switch:
        state, n = _fold(served, SWITCH, coin, h, level / 100)
        assert n_used == n == (SWITCH - FIRST).days - h  # every miss of m1's ranges, none of m2's yet
        assert (alpha if level == 80 else log_factor) == state  # bit for bit
    # the correction has moved somewhere by then (m1's ranges, not m2's, fed it)
    assert any(abs(r[3] - 0.2) > 1e-9 for r in at_switch if r[2] == 80)
    assert any(r[4] != 0.0 for r in at_switch if r[2] == 95)
    with storage.transaction(served) as cur:
        cur.execute("SELECT count(*), count(*) FILTER (WHERE lo80_log_return <> lo80_log_return_uncorrected) "
                    "FROM forecasts WHERE as_of >= %s", (SWITCH,))
        n, moved = cur.fetchone()
    assert n == 45 * ((LAST - SWITCH).days + 1) and moved > 0


def test_a_rerun_of_every_day_rewrites_identical_rows(served):
    before = _tables(served)
    for day in _days(FIRST, LAST):
        _serve(served, day)
    assert _tables(served) == before
    for day in (LAST, SWITCH + timedelta(days=3), FIRST):  # out of order too
        _serve(served, day)
    assert _tables(served) == before


def test_views_report_the_served_and_the_uncorrected_ranges(served):
    with storage.transaction(served) as cur:
        cur.execute("SELECT n_cells, coverage_80, coverage_80_uncorrected, mean_interval_score_95, "
                    "mean_interval_score_95_uncorrected FROM v_interval_scores WHERE model_id = 'm1' AND coin = 'ALL' "
                    "AND horizon = 0")
        n, cov, cov_u, ws, ws_u = cur.fetchone()
        cur.execute("SELECT n_miss, n_miss_uncorrected, kupiec_p, kupiec_p_uncorrected FROM v_range_backtests "
                    "WHERE model_id = 'm1' AND coin = 'ALL' AND horizon = 1 AND level = 80")
        n_miss, n_miss_u, p, p_u = cur.fetchone()
        cur.execute("SELECT count(*) FILTER (WHERE NOT (s.realised_log_return BETWEEN f.lo80_log_return_uncorrected "
                    "AND f.hi80_log_return_uncorrected)) FROM forecasts f JOIN forecast_scores s "
                    "USING (coin, as_of, horizon, model_id) WHERE f.model_id = 'm1' AND f.horizon = 1")
        (want_u,) = cur.fetchone()
    assert n > 0 and 0 <= cov <= 1 and 0 <= cov_u <= 1 and ws > 0 and ws_u > 0
    assert n_miss_u == want_u and 0 <= p <= 1 and 0 <= p_u <= 1


def test_a_corrected_candle_changes_later_states_not_stored_ranges(served):
    nxt = LAST + timedelta(days=1)
    _serve(served, nxt)
    stored_before = _tables(served)
    with storage.transaction(served) as cur:
        cur.execute("SELECT alpha, n_missed FROM range_corrections WHERE coin = 'BTC' AND horizon = 1 AND level = 80 "
                    "AND as_of = %s", (nxt,))
        alpha_before, missed_before = cur.fetchone()
        # a BTC h = 1 range that was a hit, whose target day the exchange now corrects far outside it
        cur.execute("SELECT f.as_of, f.target_day FROM forecasts f JOIN forecast_scores s "
                    "USING (coin, as_of, horizon, model_id) WHERE f.coin = 'BTC' AND f.horizon = 1 "
                    "AND s.realised_log_return BETWEEN f.lo80_log_return AND f.hi80_log_return "
                    "AND f.target_day <= %s ORDER BY f.as_of DESC LIMIT 1", (LAST - timedelta(days=2),))
        as_of, target = cur.fetchone()
        cur.execute("SELECT day, open, high, low, close, volume FROM candles WHERE coin = 'BTC' AND day = %s", (target,))
        d, o, hi, lo, c, v = cur.fetchone()
        revised = candles.Candle(d, o, max(hi, c * 1.3), lo, c * 1.3, v)
        assert candles.upsert_candles(cur, "BTC", [revised], datetime.combine(
            nxt + timedelta(days=1), datetime.min.time(), timezone.utc)) == (0, 1)
    score_matured(served, nxt)  # the scoring rewrites the scores that read the corrected candle
    forecasts_after, corrections_after = _tables(served)
    assert forecasts_after == stored_before[0]  # no stored range is rewritten
    assert corrections_after == stored_before[1]
    _serve(served, nxt)  # the next run of the day (or any later day) reads the corrected misses
    with storage.transaction(served) as cur:
        cur.execute("SELECT alpha, n_missed FROM range_corrections WHERE coin = 'BTC' AND horizon = 1 AND level = 80 "
                    "AND as_of = %s", (nxt,))
        alpha_after, missed_after = cur.fetchone()
    assert missed_after >= missed_before + 1 and alpha_after < alpha_before
    assert alpha_after == _fold(served, nxt, "BTC", 1, 0.8)[0]
    with storage.transaction(served) as cur:  # the stored range of the corrected cell is the one served then
        cur.execute(f"SELECT {RANGE_COLS} FROM forecasts WHERE coin = 'BTC' AND horizon = 1 AND as_of = %s", (as_of,))
        assert cur.fetchall() == [r[4:12] for r in stored_before[0] if r[0] == "BTC" and r[1] == as_of and r[2] == 1]


def test_states_is_pure_and_reads_only_what_it_is_given():
    misses = pd.DataFrame([("BTC", 1, date(2025, 1, 1), date(2025, 1, 2), True, False),
                           ("BTC", 1, date(2025, 1, 2), date(2025, 1, 3), False, False)],
                          columns=coverage_state.MISS_COLUMNS)
    corr = {0.8: coverage.by_name("aci_0.02"), 0.95: coverage.by_name("qt")}
    s = coverage_state.states(misses, [("BTC", 1), ("ETH", 1)], corr)
    assert s[("BTC", 1, 0.8)]["state"] == pytest.approx(0.2 - 0.016 + 0.004)
    assert s[("BTC", 1, 0.8)]["n_missed"] == 1 and s[("BTC", 1, 0.8)]["last_target_day"] == date(2025, 1, 3)
    assert s[("ETH", 1, 0.95)] == {"state": 0.0, "n_misses_used": 0, "n_missed": 0, "last_target_day": None}
    assert json.dumps(s[("BTC", 1, 0.95)], default=str)
