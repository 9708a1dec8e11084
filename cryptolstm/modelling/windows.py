"""All index arithmetic of the model: windows of T days ending at t, the 5 targets, trainable vs only
forecastable cells, and walk-forward fold boundaries with the purge.

Data live in a dense `Cube` on a complete daily calendar: x[c, d, f] (NaN when the feature row of
coin c on day d is missing) and log_close[c, d]. A *cell* is (coin c, as-of day index t).

    window(t)       = rows t-T+1 .. t                 (T days ending at t, inclusive)
    y[t, h-1]       = log_close[t+h] - log_close[t]   h = 1..H
    forecastable    : all T window rows valid
    trainable(cut)  : forecastable, and t+H <= cut with every close t, t+1..t+H present
                      (the target is fully known by day `cut`)

Only `index_plan` and `fold_bounds` do arithmetic on day indices; everything else calls them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd


@dataclass(frozen=True)
class Cube:
    coins: tuple[str, ...]  # axis 0, in the model's coin vocabulary order
    days: pd.DatetimeIndex  # axis 1, one entry per calendar day
    x: np.ndarray  # [C, D, F] float64 features, NaN where the row is missing / in warm-up
    log_close: np.ndarray  # [C, D] float64, NaN where there is no candle

    def day_index(self, day) -> int:
        """Index of `day` on the calendar (KeyError if outside)."""
        return int(self.days.get_loc(pd.Timestamp(day)))

    def last_index_on_or_before(self, day) -> int:
        """Index of the last calendar day <= `day` (-1 if none)."""
        return int(self.days.searchsorted(pd.Timestamp(day), side="right")) - 1


def build_cube(features: pd.DataFrame, panel: pd.DataFrame, coins: tuple[str, ...],
               feature_names: list[str]) -> Cube:
    """Scatter the long feature frame and closes onto a [C, D, ...] calendar grid (coins not in `coins` ignored)."""
    days = pd.date_range(panel["day"].min(), panel["day"].max(), freq="D") if len(panel) else pd.DatetimeIndex([])
    pos = {c: i for i, c in enumerate(coins)}
    x = np.full((len(coins), len(days), len(feature_names)), np.nan)
    log_close = np.full((len(coins), len(days)), np.nan)
    f = features[features["coin"].isin(pos)]
    x[f["coin"].map(pos).to_numpy(), days.get_indexer(f["day"]), :] = f[feature_names].to_numpy()
    p = panel[panel["coin"].isin(pos)]
    log_close[p["coin"].map(pos).to_numpy(), days.get_indexer(p["day"])] = np.log(p["close"].to_numpy())
    return Cube(tuple(coins), days, x, log_close)


@dataclass(frozen=True)
class Plan:
    coin: np.ndarray  # [N] int, cube axis-0 index of each cell
    t: np.ndarray  # [N] int, as-of day index of each cell
    trainable: np.ndarray  # [N] bool, target fully known by `target_until`


def index_plan(valid: np.ndarray, has_close: np.ndarray, T: int, H: int, *,
               first: int = 0, last: int | None = None, target_until: int | None = None) -> Plan:
    """Cells (c, t) with first <= t <= last whose T-day window ending at t is fully valid.

    valid, has_close: [C, D] bool. `trainable` marks cells whose H targets use only closes on days
    <= target_until (default: the last calendar day), i.e. t + H <= target_until, and all exist.
    """
    if T < 1 or H < 1:
        raise ValueError("T and H must be >= 1")
    C, D = valid.shape
    last = D - 1 if last is None else min(last, D - 1)
    target_until = D - 1 if target_until is None else min(target_until, D - 1)
    # run[c, t] = number of consecutive valid rows ending at t
    run = np.zeros((C, D), dtype=np.int64)
    acc = np.zeros(C, dtype=np.int64)
    for d in range(D):
        acc = np.where(valid[:, d], acc + 1, 0)
        run[:, d] = acc
    ok = run >= T
    ok[:, : max(first, 0)] = False
    ok[:, last + 1:] = False
    c, t = np.nonzero(ok)
    order = np.lexsort((c, t))  # by day, then coin: chronological cell order
    c, t = c[order], t[order]
    known = t + H <= target_until
    for h in range(0, H + 1):
        tt = np.minimum(t + h, D - 1)
        known &= has_close[c, tt]
    return Plan(c, t, known)


def gather_windows(x: np.ndarray, coin: np.ndarray, t: np.ndarray, T: int) -> np.ndarray:
    """[N, T, F] windows: x[coin, t-T+1 .. t]."""
    steps = np.arange(-T + 1, 1)  # [T]
    return x[coin[:, None], t[:, None] + steps[None, :]]  # [N, T, F]


def gather_targets(log_close: np.ndarray, coin: np.ndarray, t: np.ndarray, H: int) -> np.ndarray:
    """[N, H] log returns y[:, h-1] = log_close[t+h] - log_close[t]; NaN where t+h is off the calendar."""
    D = log_close.shape[1]
    steps = np.arange(1, H + 1)  # [H]
    tt = t[:, None] + steps[None, :]
    y = np.full(tt.shape, np.nan)
    inside = tt < D
    y[inside] = log_close[np.broadcast_to(coin[:, None], tt.shape)[inside], tt[inside]]
    return y - log_close[coin, t][:, None]


@dataclass(frozen=True)
class Fold:
    cutoff: int  # last day index whose close any training target may use
    val_start: int  # first scored as-of day index
    val_end: int  # last scored as-of day index (inclusive)


def fold_bounds(end: int, n_folds: int, val_days: int, purge: int) -> list[Fold]:
    """Expanding walk-forward folds: n_folds consecutive blocks of `val_days` as-of days ending at `end`.

    Fold k scores as-of days [s_k, s_k + val_days - 1]; its model trains on targets ending on or before
    cutoff_k = s_k - purge - 1, so `purge` whole days separate the last training target from the
    first scored day.
    """
    if n_folds < 1 or val_days < 1 or purge < 0:
        raise ValueError("need n_folds >= 1, val_days >= 1, purge >= 0")
    first = end - n_folds * val_days + 1
    folds = []
    for k in range(n_folds):
        s = first + k * val_days
        folds.append(Fold(cutoff=s - purge - 1, val_start=s, val_end=s + val_days - 1))
    if folds[0].cutoff < 0:
        raise ValueError("not enough history for these folds")
    return folds
