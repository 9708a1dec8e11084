"""Online coverage correction (issue 26): the ACI and quantile-tracking recursions against hand-worked values,
their bounds, the due day of a miss, and the corrected walk: nothing after a day moves its range (truncate the
future, recompute, compare bit for bit), a rerun gives the same ranges, and the stepwise tracker equals the fold
over the due misses."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from cryptolstm.evaluation import coverage
from cryptolstm.evaluation.coverage import (CANDIDATES, Correction, Tracker, by_name, capped_quantile, due,
                                            state_from_misses, step)
from cryptolstm.evaluation.intervals import IntervalConfig, conformal_quantile, rolling_intervals, score_intervals

ACI = Correction("aci", 0.01)


def test_aci_recursion_by_hand():
    # a = 0.2, gamma = 0.01: a miss lowers alpha by 0.008, a hit raises it by 0.002
    s = state_from_misses([True, False, False, True], 0.8, ACI)
    assert s == pytest.approx(0.2 - 0.008 + 0.002 + 0.002 - 0.008)  # 0.188
    assert step(0.188, False, 0.8, ACI) == pytest.approx(0.190)
    assert state_from_misses([], 0.8, ACI) == pytest.approx(0.2)  # no miss yet: nominal


def test_qt_recursion_by_hand():
    qt = by_name("qt")
    # eta = 0.05, a = 0.05: a miss raises theta by 0.0475, a hit lowers it by 0.0025
    assert state_from_misses([True, False], 0.95, qt) == pytest.approx(0.0475 - 0.0025)
    assert coverage.corrected_quantile(np.array([1.0]), 0.95, math.log(1.5), qt, 2.0) == pytest.approx(3.0)


def test_the_level_is_bounded():
    # 95 %: alpha in [0.01, 0.10] whatever the run of misses or hits
    assert state_from_misses([True] * 1000, 0.95, Correction("aci", 0.02)) == pytest.approx(0.01)
    assert state_from_misses([False] * 10000, 0.95, Correction("aci", 0.02)) == pytest.approx(0.10)
    assert state_from_misses([True] * 1000, 0.8, by_name("qt")) == pytest.approx(math.log(2))
    assert state_from_misses([False] * 10000, 0.8, by_name("qt")) == pytest.approx(-math.log(2))
    # the corrected quantile is finite even when the level asks for more than the calibration set has
    s = np.sort(np.arange(1.0, 61.0))  # n = 60: ceil(61 * 0.99) = 61 > n
    assert conformal_quantile(s, 0.99) == math.inf and capped_quantile(s, 0.99) == 60.0
    assert capped_quantile(s, 0.8) == conformal_quantile(s, 0.8)


def test_none_never_moves_and_names_are_the_pre_registered_ones():
    assert list(CANDIDATES) == ["none", "aci_0.005", "aci_0.01", "aci_0.02", "qt"]
    assert state_from_misses([True] * 50, 0.8, by_name("none")) == pytest.approx(0.2)
    with pytest.raises(ValueError):
        by_name("aci_0.03")
    with pytest.raises(ValueError):
        Correction("aci", 0.0)


def test_a_miss_is_due_the_day_after_its_target_day():
    assert due(10, 1) == 12 and due(10, 5) == 16  # as-of 10, h = 5: target 15, first usable as-of day 16
    tr = Tracker(0.8, ACI)
    tr.record(10, 5, True)
    assert tr.at(15) == pytest.approx(0.2) and tr.used == 0  # the target day itself: not yet
    assert tr.at(16) == pytest.approx(0.192) and tr.used == 1


def test_tracker_equals_the_fold_over_due_misses():
    rng = np.random.default_rng(3)
    miss = rng.random(300) < 0.3
    for h in (1, 3):
        tr = Tracker(0.8, ACI)
        for t in range(300):
            got = tr.at(t)
            want = state_from_misses([miss[s] for s in range(300) if due(s, h) <= t], 0.8, ACI)
            assert got == want  # bit for bit: the same steps in the same order
            tr.record(t, h, miss[t])


def _frame(days=260, seed=1):
    rng = np.random.default_rng(seed)
    rows = []
    for k in range(days):
        d = (pd.Timestamp("2024-01-01") + pd.Timedelta(days=k)).date()
        for coin, v in (("BTC", 0.02), ("ETH", 0.03)):
            vol = v * (2.0 if k > 150 else 1.0)  # a volatility jump the trailing calibration lags
            for h in (1, 2):
                rows.append((coin, d, h, 0.0, rng.normal(0, vol * math.sqrt(h)), vol))
    return pd.DataFrame(rows, columns=["coin", "as_of", "horizon", "pred", "realised", "vol"])


CFG = IntervalConfig(calib_days=90, min_coin_cells=30)


@pytest.mark.parametrize("name", ["aci_0.02", "qt"])
def test_corrected_ranges_read_nothing_after_the_day(name):
    f = _frame()
    full = rolling_intervals(f, "per_coin_sqrt_vol", CFG, min_calib_days=30, correction=by_name(name))
    cut = pd.Timestamp("2024-07-01").date()
    # the future cut off, and every outcome not matured by the cut (target day >= cut) blown up
    g = f[f["as_of"] <= cut].copy()
    late = pd.to_datetime(g["as_of"]) + pd.to_timedelta(g["horizon"], unit="D") >= pd.Timestamp(cut)
    g.loc[late, "realised"] = 99.0
    trunc = rolling_intervals(g, "per_coin_sqrt_vol", CFG, min_calib_days=30, correction=by_name(name))
    cols = ["coin", "as_of", "horizon", "lo_80", "hi_80", "lo_95", "hi_95", "state_80", "state_95",
            "lo_80_uncorrected", "hi_95_uncorrected"]
    a = full[full["as_of"] <= pd.Timestamp(cut)][cols].reset_index(drop=True)
    assert len(a) and a.equals(trunc[cols].reset_index(drop=True))  # bit for bit


def test_correction_is_idempotent_and_none_is_todays_method():
    f = _frame()
    once = rolling_intervals(f, "per_coin_sqrt_vol", CFG, min_calib_days=30, correction=ACI)
    again = rolling_intervals(f, "per_coin_sqrt_vol", CFG, min_calib_days=30, correction=ACI)
    assert once.equals(again)
    plain = rolling_intervals(f, "per_coin_sqrt_vol", CFG, min_calib_days=30)
    none = rolling_intervals(f, "per_coin_sqrt_vol", CFG, min_calib_days=30, correction=by_name("none"))
    for k in ("lo_80", "hi_80", "lo_95", "hi_95"):
        assert none[k].equals(plain[k]) and once[f"{k}_uncorrected"].equals(plain[k])
    assert not once["lo_80"].equals(plain["lo_80"])  # the correction moved something


def test_aci_moves_coverage_towards_nominal_after_a_volatility_jump():
    f = _frame(days=400, seed=5)
    kw = dict(min_calib_days=30, first="2024-05-01")
    plain = score_intervals(rolling_intervals(f, "per_coin_sqrt_vol", CFG, **kw))["all"]["coverage_80"]
    aci = score_intervals(rolling_intervals(f, "per_coin_sqrt_vol", CFG, correction=Correction("aci", 0.02),
                                            **kw))["all"]["coverage_80"]
    assert plain < 0.78 and abs(aci - 0.8) < abs(plain - 0.8)


def test_evaluate_scores_and_backtests_the_corrections_on_the_served_cells():
    from cryptolstm.evaluation.intervals import evaluate, render_markdown

    f = _frame(days=220)
    pred = f.rename(columns={"pred": "pred_log_return", "realised": "realised_log_return"}).drop(columns="vol")
    rng = np.random.default_rng(0)
    day = pd.date_range("2023-12-01", "2024-08-20")
    panel = pd.concat([pd.DataFrame({"coin": c, "day": day, "close": 100 * np.exp(np.cumsum(rng.normal(0, 0.02, len(day))))})
                       for c in ("BTC", "ETH")], ignore_index=True)
    res = evaluate(pred, panel, CFG, min_calib_days=30, corrections=("aci_0.02", "qt"))
    assert list(res["corrections"]) == ["aci_0.02", "qt"]
    served = res["methods"]["per_coin_sqrt_vol"]["all"]["n_cells"]
    assert all(r["all"]["n_cells"] == served for r in res["corrections"].values())  # the same cells
    assert set(res["correction_backtests"]["qt"]) == {"80", "95"}
    md = render_markdown(res)
    assert "Online coverage correction of per_coin_sqrt_vol" in md and "| aci_0.02 | 80 % |" in md
