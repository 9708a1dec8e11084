"""Split-conformal ranges: the quantile rule, the interval score, a point-in-time volatility (truncating
the future changes nothing), pooling below the per-coin minimum, and the walk-forward harness using
only residuals matured before each day."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from cryptolstm.evaluation import backtests
from cryptolstm.evaluation.intervals import (IntervalConfig, calibrate, conformal_quantile, evaluate,
                                             point_in_time_vol, render_markdown, rolling_intervals, served_method,
                                             winkler)


def test_conformal_quantile_is_the_ceil_n_plus_1_order_statistic():
    s = np.arange(1, 10, dtype=float)  # n = 9
    assert conformal_quantile(s, 0.8) == 8.0  # ceil(10 * 0.8) = 8th smallest
    assert conformal_quantile(s, 0.5) == 5.0
    assert conformal_quantile(s, 0.95) == math.inf  # ceil(9.5) = 10 > n: no finite range from 9 residuals
    assert conformal_quantile(np.arange(19, dtype=float)[::-1], 0.95) == 18.0


def test_interval_score_by_hand():
    # inside: width only; below by 0.1 at 80 %: width + 10 * 0.1; above by 0.05 at 95 %: width + 40 * 0.05
    assert winkler([-1], [1], [0.5], 0.8)[0] == pytest.approx(2.0)
    assert winkler([-1], [1], [-1.1], 0.8)[0] == pytest.approx(3.0)
    assert winkler([-1], [1], [1.05], 0.95)[0] == pytest.approx(4.0)


def _panel(days=120, seed=0):
    rng = np.random.default_rng(seed)
    day = pd.date_range("2024-01-01", periods=days)
    rows = []
    for coin, vol in (("BTC", 0.02), ("ETH", 0.04)):
        close = 100 * np.exp(np.cumsum(rng.normal(0, vol, days)))
        rows.append(pd.DataFrame({"coin": coin, "day": day, "close": close}))
    return pd.concat(rows, ignore_index=True)


def test_volatility_is_point_in_time():
    p = _panel()
    full = point_in_time_vol(p, 20)
    cut = pd.Timestamp("2024-03-01")
    trunc = point_in_time_vol(p[p["day"] <= cut], 20)
    a = full[full["day"] <= cut.date()].reset_index(drop=True)
    assert a.equals(trunc.reset_index(drop=True))  # bit for bit
    assert full.groupby("coin")["vol"].apply(lambda v: v.isna().sum()).to_dict() == {"BTC": 20, "ETH": 20}
    last = full.dropna().groupby("coin")["vol"].mean()
    assert last["ETH"] > 1.5 * last["BTC"]


def test_calibrate_pools_coins_with_too_few_residuals():
    res = pd.DataFrame({"coin": ["A"] * 99 + ["B"] * 5, "horizon": 1,
                        "score": list(np.linspace(0.01, 0.99, 99)) + [5.0] * 5})
    q = calibrate(res, IntervalConfig(min_coin_cells=60))
    assert q[("A", 1)]["pooled"] is False and q[("A", 1)]["q"][0.8] == pytest.approx(np.linspace(0.01, 0.99, 99)[79])
    assert q[("B", 1)] is q[("*", 1)] and q[("B", 1)]["n"] == 104


def _frame(days=200, seed=1):
    rng = np.random.default_rng(seed)
    rows = []
    for k in range(days):
        d = (pd.Timestamp("2024-01-01") + pd.Timedelta(days=k)).date()
        for coin in ("BTC", "ETH"):
            for h in (1, 2):
                rows.append((coin, d, h, 0.0, rng.normal(0, 0.02 * math.sqrt(h)), 0.02))
    return pd.DataFrame(rows, columns=["coin", "as_of", "horizon", "pred", "realised", "vol"])


def test_harness_uses_only_residuals_matured_before_the_day():
    f = _frame()
    cfg = IntervalConfig(calib_days=90, min_coin_cells=30)
    base = rolling_intervals(f, "per_coin_fixed", cfg, min_calib_days=30)
    t = pd.Timestamp("2024-05-01")
    # residuals whose target day is on or after t, blown up: ranges of day t do not move
    g = f.copy()
    late = (pd.to_datetime(g["as_of"]) + pd.to_timedelta(g["horizon"], unit="D")) >= t
    g.loc[late, "realised"] *= 100
    again = rolling_intervals(g, "per_coin_fixed", cfg, min_calib_days=30)
    day = lambda x: x[x["as_of"] == t].reset_index(drop=True)[["lo_80", "hi_80", "lo_95", "hi_95"]]  # noqa: E731
    assert len(day(base)) == 4 and day(base).equals(day(again))
    assert base["as_of"].min() > pd.Timestamp("2024-01-30")  # burn-in: 30 calibration days first


def test_evaluate_reports_every_method_on_the_same_cells():
    rng = np.random.default_rng(2)
    p = _panel(days=260)
    close = p.pivot(index="day", columns="coin", values="close")
    rows = []
    for t in close.index[:-5]:
        for coin in close.columns:
            for h in range(1, 6):
                rows.append((coin, t.date(), h, 0.001, math.log(close.at[t + pd.Timedelta(days=h), coin] / close.at[t, coin])))
    pred = pd.DataFrame(rows, columns=["coin", "as_of", "horizon", "pred_log_return", "realised_log_return"])
    res = evaluate(pred, p, IntervalConfig(calib_days=120, min_coin_cells=30), min_calib_days=40)
    assert set(res["methods"]) == {"pooled_fixed", "per_coin_fixed", "per_coin_vol", "per_coin_sqrt_vol"}
    n = {m: r["all"]["n_cells"] for m, r in res["methods"].items()}
    assert len(set(n.values())) == 1 and res["n_cells"] == next(iter(n.values())) > 0
    for r in res["methods"].values():
        assert 0.6 < r["all"]["coverage_80"] < 0.95 and r["all"]["coverage_95"] > r["all"]["coverage_80"]
        assert r["all"]["winkler_95"] > r["all"]["width_95"]
    del rng


def test_evaluate_backtests_each_method_on_the_scored_cells():
    p = _panel(days=260)
    close = p.pivot(index="day", columns="coin", values="close")
    rows = [(coin, t.date(), h, 0.001, math.log(close.at[t + pd.Timedelta(days=h), coin] / close.at[t, coin]))
            for t in close.index[:-5] for coin in close.columns for h in range(1, 6)]
    pred = pd.DataFrame(rows, columns=["coin", "as_of", "horizon", "pred_log_return", "realised_log_return"])
    cfg = IntervalConfig(calib_days=120, min_coin_cells=30)
    res = evaluate(pred, p, cfg, min_calib_days=40)
    assert res["config"]["served_method"] == "per_coin_sqrt_vol" and set(res["backtests"]) == set(res["methods"])
    bt = res["backtests"]["per_coin_sqrt_vol"]["80"]
    assert set(bt["per_coin"]) == {"BTC", "ETH"} and set(bt["repeated_miss_share"]) == {"1", "2", "3", "4", "5", "all"}
    # the per-coin row is the Christoffersen test of exactly the coin's h = 1 cells, scored as in score_intervals
    fr = pred.rename(columns={"pred_log_return": "pred", "realised_log_return": "realised"}).merge(
        point_in_time_vol(p, cfg.vol_days).rename(columns={"day": "as_of"}), on=["coin", "as_of"])
    cells = rolling_intervals(fr, "per_coin_sqrt_vol", cfg, min_calib_days=40)
    btc = cells[(cells["coin"] == "BTC") & (cells["horizon"] == 1)]
    btc = btc[btc["as_of"].dt.date.astype(str) >= res["first_as_of"]]
    miss = backtests.misses(btc["realised"].to_numpy(), btc["lo_80"].to_numpy(), btc["hi_80"].to_numpy())
    assert bt["per_coin"]["BTC"]["n"] == len(btc) and bt["per_coin"]["BTC"]["n_miss"] == int(miss.sum())
    assert 1 - bt["per_coin"]["BTC"]["miss_rate"] == pytest.approx(
        np.mean(~miss))  # the coverage score_intervals would report for BTC at h = 1
    text = render_markdown(res)
    assert "## Range backtests" in text and "| BTC |" in text and "Share of repeated misses" in text


def test_served_method_follows_the_config():
    assert served_method(IntervalConfig(vol_power=0.0)) == "per_coin_fixed"
    assert served_method(IntervalConfig(vol_power=1.0)) == "per_coin_vol"
    assert served_method(IntervalConfig(vol_power=0.3)) is None
