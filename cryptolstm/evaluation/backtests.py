"""Range backtests: are the misses of an L-level range as rare as promised, and independent?

A *miss* is a cell whose realised return lies outside its range: I_t = 1 if y_t < lo_t or y_t > hi_t.
Under a correct range the misses of one coin and horizon are Bernoulli(p), p = 1 - L; at h = 1 they
are also independent from one as-of day to the next (at h > 1 consecutive targets overlap by h - 1
days, so clustered misses are expected there: only the share is reported, no independence test).

* Kupiec (1995) unconditional coverage, x misses in n cells, pi = x / n:
      LR_uc = -2 ln[(1 - p)^(n - x) p^x] + 2 ln[(1 - pi)^(n - x) pi^x]        ~ chi2(1)
* Christoffersen (1998) independence, n_ij = #{I_{t-1} = i, I_t = j} over consecutive days,
  pi_01 = n_01 / (n_00 + n_01), pi_11 = n_11 / (n_10 + n_11), pi_2 = (n_01 + n_11) / (n_00 + n_01 + n_10 + n_11):
      LR_ind = -2 ln[(1 - pi_2)^(n_00 + n_10) pi_2^(n_01 + n_11)]
               + 2 ln[(1 - pi_01)^n_00 pi_01^n_01 (1 - pi_11)^n_10 pi_11^n_11]     ~ chi2(1)
* conditional coverage: LR_cc = LR_uc + LR_ind                                     ~ chi2(2)
* repeated-miss share = pi_11 = P(miss on day t | miss on day t - 1), to set beside p.

0 ln 0 = 0 throughout. A pair of cells counts as a transition only when their as-of days are
consecutive calendar days of the same series (a gap breaks the chain; it is not bridged).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from scipy import special, stats

from cryptolstm.config import LEVELS

TOO_MANY, TOO_CLUSTERED = "too many", "too clustered"  # the verdicts of `verdict`


def misses(realised: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """[N] bool: y outside [lo, hi]. Every input is [N] and finite."""
    y, lo, hi = (np.asarray(v, dtype=np.float64) for v in (realised, lo, hi))
    if not (y.shape == lo.shape == hi.shape) or y.ndim != 1:
        raise ValueError(f"need three [N] arrays, got {y.shape}, {lo.shape}, {hi.shape}")
    if not (np.isfinite(y).all() and np.isfinite(lo).all() and np.isfinite(hi).all()):
        raise ValueError("non-finite values")
    if (lo > hi).any():
        raise ValueError("a range with lo > hi")
    return (y < lo) | (y > hi)


def _miss_array(miss: np.ndarray) -> np.ndarray:
    m = np.asarray(miss)
    if m.ndim != 1 or m.size == 0:
        raise ValueError("need a non-empty [N] miss sequence")
    if not np.isin(m, (0, 1)).all():
        raise ValueError("misses must be 0/1 (or bool)")
    return m.astype(bool)


def _check_level(level: float) -> float:
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1), got {level}")
    return float(level)


def kupiec(miss: np.ndarray, level: float) -> dict:
    """Kupiec's unconditional coverage test of [N] misses of an L-level range: {n, n_miss, miss_rate,
    expected_rate, lr_uc, p_uc} (formula in the module docstring)."""
    m, p = _miss_array(miss), 1 - _check_level(level)
    n, x = int(m.size), int(m.sum())
    pi = x / n
    lr = -2 * (special.xlogy(n - x, 1 - p) + special.xlogy(x, p)) + 2 * (
        special.xlogy(n - x, 1 - pi) + special.xlogy(x, pi))
    lr = max(float(lr), 0.0)  # rounding can leave -1e-13 when pi == p
    return {"n": n, "n_miss": x, "miss_rate": pi, "expected_rate": p, "lr_uc": lr,
            "p_uc": float(stats.chi2.sf(lr, 1))}


def transitions(miss: np.ndarray, day: np.ndarray | None = None, series: np.ndarray | None = None) -> np.ndarray:
    """[2, 2] counts n[i, j] of (miss on day t - 1 = i, miss on day t = j) over consecutive as-of days of
    the same series. miss, day (integer day numbers, e.g. date ordinals), series (e.g. the coin): [N]; day
    None = the cells are consecutive days; series None = one series."""
    m = _miss_array(miss)
    d = np.arange(m.size) if day is None else np.asarray(day, dtype=np.int64)
    s = np.zeros(m.size, dtype=np.int64) if series is None else pd.factorize(np.asarray(series))[0]
    if d.shape != m.shape or s.shape != m.shape:
        raise ValueError("miss, day and series must all be [N]")
    order = np.lexsort((d, s))  # by series, then day
    m, d, s = m[order], d[order], s[order]
    if ((np.diff(d) == 0) & (np.diff(s) == 0)).any():
        raise ValueError("a series has two cells on one day")
    chained = (np.diff(d) == 1) & (np.diff(s) == 0)  # [N - 1] pairs (t - 1, t) of one series
    prev, cur = m[:-1][chained].astype(int), m[1:][chained].astype(int)
    return np.bincount(prev * 2 + cur, minlength=4).reshape(2, 2)


def christoffersen(miss: np.ndarray, level: float, day: np.ndarray | None = None,
                   series: np.ndarray | None = None) -> dict:
    """Christoffersen's independence and conditional-coverage tests of [N] misses of an L-level range:
    {n_00, n_01, n_10, n_11, pi_01, pi_11, lr_ind, p_ind, lr_cc, p_cc} plus Kupiec's keys (formulas in
    the module docstring). pi_01 / pi_11 are NaN when no day (no miss) precedes; with no transition at
    all the independence test is undefined (lr_ind, p_ind, lr_cc, p_cc NaN)."""
    uc = kupiec(miss, level)
    n = transitions(miss, day, series)
    (n00, n01), (n10, n11) = n
    out = {**uc, "n_00": int(n00), "n_01": int(n01), "n_10": int(n10), "n_11": int(n11),
           "pi_01": n01 / (n00 + n01) if n00 + n01 else float("nan"),
           "pi_11": n11 / (n10 + n11) if n10 + n11 else float("nan")}
    total = n.sum()
    if total == 0:
        return {**out, "lr_ind": float("nan"), "p_ind": float("nan"), "lr_cc": float("nan"), "p_cc": float("nan")}
    pi2 = (n01 + n11) / total
    pi01 = n01 / (n00 + n01) if n00 + n01 else 0.0  # its terms vanish when its row is empty
    pi11 = n11 / (n10 + n11) if n10 + n11 else 0.0
    restricted = special.xlogy(n00 + n10, 1 - pi2) + special.xlogy(n01 + n11, pi2)
    free = (special.xlogy(n00, 1 - pi01) + special.xlogy(n01, pi01)
            + special.xlogy(n10, 1 - pi11) + special.xlogy(n11, pi11))
    lr_ind = max(float(-2 * restricted + 2 * free), 0.0)
    lr_cc = uc["lr_uc"] + lr_ind
    return {**out, "lr_ind": lr_ind, "p_ind": float(stats.chi2.sf(lr_ind, 1)), "lr_cc": lr_cc,
            "p_cc": float(stats.chi2.sf(lr_cc, 2))}


def repeated_miss_share(miss: np.ndarray, day: np.ndarray | None = None, series: np.ndarray | None = None) -> float:
    """P(miss on t | miss on t - 1) = n_11 / (n_10 + n_11) over consecutive days of each series; NaN when
    no miss has a next day. Correct, independent misses give about 1 - L."""
    (_, _), (n10, n11) = transitions(miss, day, series)
    return float(n11 / (n10 + n11)) if n10 + n11 else float("nan")


def verdict(result: dict, alpha: float = 0.05) -> list[str]:
    """What a `christoffersen` result rejects at `alpha`: TOO_MANY when Kupiec rejects with more misses than
    expected, TOO_CLUSTERED when the independence test rejects with pi_11 > pi_01 (a miss makes the next one
    likelier). Too FEW misses (ranges too wide) is neither; `kupiec`'s p says so."""
    out = []
    if result["p_uc"] < alpha and result["miss_rate"] > result["expected_rate"]:
        out.append(TOO_MANY)
    p_ind = result.get("p_ind", math.nan)
    if not math.isnan(p_ind) and p_ind < alpha and result["pi_11"] > result["pi_01"]:
        out.append(TOO_CLUSTERED)
    return out


def backtest_cells(cells: pd.DataFrame, levels=LEVELS, test_horizon: int = 1) -> dict:
    """The backtest table of scored ranges.

    cells: [coin, as_of, horizon, realised, lo_<k>, hi_<k>] with k = round(100 L) for each level (as
    `intervals.rolling_intervals` returns). Returns {str(k): {"per_coin": {coin: christoffersen at h =
    test_horizon}, "all_coins": the same over every coin's series (misses and transitions pooled),
    "repeated_miss_share": {str(h): share over every coin, "all": pooled}}} — JSON-able.
    """
    day = (pd.to_datetime(cells["as_of"]) - pd.Timestamp("1970-01-01")).dt.days.to_numpy()
    out = {}
    for L in levels:
        k = round(L * 100)
        miss = misses(cells["realised"].to_numpy(), cells[f"lo_{k}"].to_numpy(), cells[f"hi_{k}"].to_numpy())
        h1 = (cells["horizon"] == test_horizon).to_numpy()
        coin = cells["coin"].to_numpy()
        per_coin = {str(c): christoffersen(miss[h1 & (coin == c)], L, day[h1 & (coin == c)])
                    for c in sorted(np.unique(coin[h1]))}
        horizon = cells["horizon"].to_numpy()
        series = np.char.add(coin.astype(str), np.char.add("/", horizon.astype(str)))
        share = {str(int(h)): repeated_miss_share(miss[horizon == h], day[horizon == h], coin[horizon == h])
                 for h in sorted(np.unique(horizon))}
        share["all"] = repeated_miss_share(miss, day, series)
        out[str(k)] = {"test_horizon": test_horizon, "per_coin": per_coin,
                       "all_coins": christoffersen(miss[h1], L, day[h1], coin[h1]) if h1.any() else None,
                       "repeated_miss_share": share}
    return out
