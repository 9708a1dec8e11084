"""Range backtests: Kupiec and Christoffersen by hand, transitions that never bridge a gap or a coin,
simulated correct / too-many / clustered misses, and the per-coin table of scored ranges."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from cryptolstm.evaluation.backtests import (TOO_CLUSTERED, TOO_MANY, backtest_cells, christoffersen, kupiec, misses,
                                             repeated_miss_share, transitions, verdict)
from backtest_helpers import markov_misses


def test_kupiec_by_hand():
    miss = np.r_[np.ones(10), np.zeros(90)]  # 10 misses of a 95 % range in 100 cells
    lr = -2 * (90 * math.log(0.95) + 10 * math.log(0.05)) + 2 * (90 * math.log(0.9) + 10 * math.log(0.1))
    r = kupiec(miss, 0.95)
    assert (r["n"], r["n_miss"], r["miss_rate"]) == (100, 10, 0.1)
    assert r["expected_rate"] == pytest.approx(0.05)
    assert r["lr_uc"] == pytest.approx(lr)
    assert r["p_uc"] == pytest.approx(math.erfc(math.sqrt(lr / 2)))  # chi2(1) survival


def test_kupiec_at_the_nominal_rate_and_with_no_miss():
    r = kupiec(np.r_[np.ones(20), np.zeros(80)], 0.80)
    assert r["lr_uc"] == pytest.approx(0.0, abs=1e-12) and r["p_uc"] == pytest.approx(1.0)
    r = kupiec(np.zeros(100), 0.80)  # 0 ln 0 = 0: LR = -2 * 100 ln 0.8
    assert r["lr_uc"] == pytest.approx(-200 * math.log(0.8))


def test_christoffersen_by_hand():
    miss = np.array([0, 0, 1, 1, 0, 0, 0, 1, 0, 1, 1, 1, 0, 0])
    # pairs: 00 x4, 01 x3, 10 x3, 11 x3
    assert transitions(miss).tolist() == [[4, 3], [3, 3]]
    r = christoffersen(miss, 0.8)
    pi2 = 6 / 13
    lr_ind = -2 * (7 * math.log(1 - pi2) + 6 * math.log(pi2)) + 2 * (
        4 * math.log(4 / 7) + 3 * math.log(3 / 7) + 3 * math.log(0.5) + 3 * math.log(0.5))
    assert r["pi_01"] == pytest.approx(3 / 7) and r["pi_11"] == pytest.approx(0.5)
    assert r["lr_ind"] == pytest.approx(lr_ind)
    assert r["p_ind"] == pytest.approx(math.erfc(math.sqrt(lr_ind / 2)))
    assert r["lr_cc"] == pytest.approx(r["lr_uc"] + lr_ind)
    assert r["p_cc"] == pytest.approx(math.exp(-r["lr_cc"] / 2))  # chi2(2) survival
    assert repeated_miss_share(miss) == pytest.approx(0.5)


def test_transitions_never_bridge_a_gap_or_another_series():
    miss = np.array([1, 1, 1, 1, 0, 1])
    day = np.array([1, 2, 4, 5, 1, 2])  # day 3 missing in series A
    coin = np.array(["A", "A", "A", "A", "B", "B"])
    assert transitions(miss, day, coin).tolist() == [[0, 1], [0, 2]]  # A: 1->2, 4->5 ; B: 0->1
    shuffled = np.array([3, 0, 5, 1, 4, 2])  # order of the cells does not matter
    assert transitions(miss[shuffled], day[shuffled], coin[shuffled]).tolist() == [[0, 1], [0, 2]]
    with pytest.raises(ValueError, match="two cells on one day"):
        transitions(np.array([0, 1]), np.array([1, 1]))


def test_no_transition_leaves_the_independence_test_undefined():
    r = christoffersen(np.array([1, 0]), 0.8, day=np.array([1, 3]))
    assert r["n"] == 2 and math.isnan(r["lr_ind"]) and math.isnan(r["p_cc"])
    assert verdict(r) == []
    assert math.isnan(repeated_miss_share(np.array([0, 0, 1])))  # the only miss has no next day


def test_simulated_correct_too_many_and_clustered_misses():
    rng = np.random.default_rng(0)
    ok = (rng.random(2000) < 0.2).astype(int)  # 80 % range, independent misses
    r = christoffersen(ok, 0.8)
    assert r["p_uc"] > 0.05 and r["p_ind"] > 0.05 and verdict(r) == []
    many = (rng.random(2000) < 0.3).astype(int)
    assert verdict(christoffersen(many, 0.8)) == [TOO_MANY]
    clustered = markov_misses(2000, 0.08, 0.68, 1)  # stationary miss rate 0.08 / (1 - 0.68 + 0.08) = 0.2
    r = christoffersen(clustered, 0.8)
    assert r["p_ind"] < 1e-6 and verdict(r) == [TOO_CLUSTERED]
    assert repeated_miss_share(clustered) > 0.6
    assert verdict(christoffersen(markov_misses(2000, 0.2, 0.75, 2), 0.8)) == [TOO_MANY, TOO_CLUSTERED]
    too_few = (rng.random(2000) < 0.1).astype(int)  # ranges too wide: Kupiec rejects, neither verdict
    r = christoffersen(too_few, 0.8)
    assert r["p_uc"] < 0.05 and verdict(r) == []


def test_input_checks():
    with pytest.raises(ValueError, match="0/1"):
        kupiec(np.array([0, 2]), 0.8)
    with pytest.raises(ValueError, match="non-empty"):
        kupiec(np.array([]), 0.8)
    with pytest.raises(ValueError, match="level"):
        kupiec(np.array([0, 1]), 1.0)
    with pytest.raises(ValueError, match="non-finite"):
        misses(np.array([np.nan]), np.array([0.0]), np.array([1.0]))
    with pytest.raises(ValueError, match="lo > hi"):
        misses(np.array([0.0]), np.array([1.0]), np.array([0.0]))
    assert misses(np.array([-2.0, 0.0, 2.0]), np.zeros(3) - 1, np.ones(3)).tolist() == [True, False, True]


def test_backtest_cells_per_coin_at_h1_and_repeated_share_per_horizon():
    rng = np.random.default_rng(3)
    days = pd.date_range("2024-01-01", periods=400)
    rows = []
    for coin, clustered in (("BTC", False), ("ETH", True)):
        for h in (1, 2):
            m = markov_misses(len(days), 0.08, 0.68, h) if clustered else (rng.random(len(days)) < 0.2).astype(int)
            y = np.where(m == 1, 2.0, 0.0)
            rows.append(pd.DataFrame({"coin": coin, "as_of": days.date, "horizon": h, "realised": y,
                                      "lo_80": -1.0, "hi_80": 1.0, "lo_95": -3.0, "hi_95": 3.0}))
    table = backtest_cells(pd.concat(rows, ignore_index=True))
    t80 = table["80"]
    assert set(t80["per_coin"]) == {"BTC", "ETH"} and t80["test_horizon"] == 1
    assert t80["per_coin"]["BTC"]["n"] == 400 and verdict(t80["per_coin"]["BTC"]) == []
    assert TOO_CLUSTERED in verdict(t80["per_coin"]["ETH"])
    assert t80["all_coins"]["n"] == 800 and t80["all_coins"]["n_00"] + t80["all_coins"]["n_01"] + \
        t80["all_coins"]["n_10"] + t80["all_coins"]["n_11"] == 798  # one chain per coin, never across
    assert set(t80["repeated_miss_share"]) == {"1", "2", "all"}
    assert table["95"]["per_coin"]["BTC"]["n_miss"] == 0  # every realised value lies inside +-3
