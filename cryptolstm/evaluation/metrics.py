"""Forecast accuracy: plain typed numpy functions, the formula in each docstring.

Arrays are [N, H] (cells x horizons) or flat [N]; y is the realised log return, p the prediction.

The one definition of a directional hit (`direction_hits`; SQL: `direction_score`, migration 013): direction
is scored only on cells with y != 0; a prediction of exactly 0 (no call, e.g. the random walk) scores 1/2
— a coin flip — so the random walk's DA is 0.5 by definition. The walk-forward, the live views, the charts
and the alerts all score through it.
"""

from __future__ import annotations

import math

import numpy as np


def _check(y_true: np.ndarray, y_pred: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    y, p = np.asarray(y_true, dtype=np.float64), np.asarray(y_pred, dtype=np.float64)
    if y.shape != p.shape:
        raise ValueError(f"shape mismatch: y_true {y.shape} vs y_pred {p.shape}")
    if y.size == 0:
        raise ValueError("empty input")
    if not (np.isfinite(y).all() and np.isfinite(p).all()):
        raise ValueError("non-finite values")
    return y, p


def mae(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """MAE = mean |y - p|."""
    y, p = _check(y_true, y_pred)
    return float(np.mean(np.abs(y - p)))


def rmse(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """RMSE = sqrt(mean (y - p)^2)."""
    y, p = _check(y_true, y_pred)
    return float(np.sqrt(np.mean((y - p) ** 2)))


def mae_ratio_to_random_walk(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """MAE(p) / MAE(0): below 1 beats the zero-return random walk on absolute error."""
    y, p = _check(y_true, y_pred)
    return float(np.mean(np.abs(y - p)) / np.mean(np.abs(y)))


def direction_hits(y_true: np.ndarray, y_pred: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(hit, scored), same shape as y: hit = 1 if sign(p) = sign(y), 1/2 if p = 0, else 0;
    scored = (y != 0). Cells with scored = False have hit = 0."""
    y, p = _check(y_true, y_pred)
    scored = y != 0
    hit = np.where(p == 0, 0.5, (np.sign(p) == np.sign(y)).astype(np.float64))
    return np.where(scored, hit, 0.0), scored


def directional_accuracy(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """DA = sum(hit) / #{y != 0}, hit as in `direction_hits`."""
    hit, scored = direction_hits(y_true, y_pred)
    if not scored.any():
        raise ValueError("no cell with a non-zero realised return")
    return float(hit.sum() / scored.sum())


def share_positive(y_pred: np.ndarray) -> float:
    """Share of predictions > 0 (1.0 exposes an 'always up' model)."""
    p = np.asarray(y_pred, dtype=np.float64)
    if p.size == 0:
        raise ValueError("empty input")
    return float(np.mean(p > 0))


def pesaran_timmermann(y_true: np.ndarray, y_pred: np.ndarray) -> tuple[float, float]:
    """Pesaran-Timmermann (1992) test of directional skill, cells with y != 0 and p != 0.

    P = share of correct signs, Py = share y > 0, Px = share p > 0, P* = Py Px + (1-Py)(1-Px),
    V(P) = P*(1-P*)/n, V(P*) = (2Py-1)^2 Px(1-Px)/n + (2Px-1)^2 Py(1-Py)/n + 4 Py Px (1-Py)(1-Px)/n^2,
    PT = (P - P*) / sqrt(V(P) - V(P*)), one-sided p = 1 - Phi(PT). Assumes independent cells — with
    9 co-moving coins and 5 overlapping horizons it is far too optimistic; see `block_bootstrap_da`.
    Returns (nan, nan) when the test is undefined (e.g. all predictions one sign).
    """
    y, p = _check(y_true, y_pred)
    m = (y != 0) & (p != 0)
    hit = direction_hits(y, p)[0][m]  # 0 or 1: no cell of m is a no-call
    y, p = y[m], p[m]
    n = y.size
    if n < 2:
        return float("nan"), float("nan")
    P = np.mean(hit)
    py, px = np.mean(y > 0), np.mean(p > 0)
    ps = py * px + (1 - py) * (1 - px)
    vp = ps * (1 - ps) / n
    vps = ((2 * py - 1) ** 2 * px * (1 - px) / n + (2 * px - 1) ** 2 * py * (1 - py) / n
           + 4 * py * px * (1 - py) * (1 - px) / n ** 2)
    if vp - vps <= 0:
        return float("nan"), float("nan")
    stat = (P - ps) / math.sqrt(vp - vps)
    return float(stat), float(0.5 * math.erfc(stat / math.sqrt(2)))


def path_error(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """Error of the implied price path, as a fraction of the as-of close:
    mean over cells and h of |exp(p_h) - exp(y_h)|  (= |P^_{t+h} - P_{t+h}| / P_t)."""
    y, p = _check(y_true, y_pred)
    if y.ndim != 2:
        raise ValueError("path_error needs [N, H] arrays")
    return float(np.mean(np.abs(np.exp(p) - np.exp(y))))


def hits_per_day(y_true: np.ndarray, y_pred: np.ndarray, day_index: np.ndarray,
                 n_days: int) -> tuple[np.ndarray, np.ndarray]:
    """(hits, scored cells), each [n_days], summed over the cells of each day (hit as in `direction_hits`).
    y_true, y_pred: [N, ...] cells; day_index: [N] the index 0..n_days-1 of each cell's day (or of its
    block of days)."""
    hit, scored = direction_hits(y_true, y_pred)
    n = len(hit)
    return (np.bincount(day_index, hit.reshape(n, -1).sum(axis=1), n_days),
            np.bincount(day_index, scored.reshape(n, -1).sum(axis=1), n_days))


def block_indices(n_days: int, block: int, n_boot: int, seed: int) -> np.ndarray:
    """[n_boot, n_days] day indices of moving-block bootstrap draws: blocks of `block` consecutive days
    (start uniform in [0, n_days - block]) concatenated and cut to n_days. The seed is fixed by the caller:
    a rerun gives the same draws."""
    if n_days < 1:
        raise ValueError("no days to resample")
    b = max(1, min(block, n_days))
    rng = np.random.default_rng(seed)
    starts = rng.integers(0, n_days - b + 1, size=(n_boot, math.ceil(n_days / b)))  # [n_boot, n_blocks]
    return (starts[:, :, None] + np.arange(b)[None, None, :]).reshape(n_boot, -1)[:, :n_days]


def block_bootstrap_da(y_true: np.ndarray, y_pred: np.ndarray, as_of: np.ndarray,
                       baselines: dict[str, np.ndarray] | None = None, block: int = 10,
                       n_boot: int = 2000, alpha: float = 0.05, seed: int = 0) -> dict:
    """Moving-block bootstrap over as-of days of DA and of DA minus each baseline's DA.

    Cells are grouped by as-of day (all coins and horizons of a day stay together, so their
    co-movement is kept); blocks of `block` consecutive days are drawn with replacement until as
    many days as observed are collected; DA* = sum hit / sum scored over the drawn days. Returns the
    point values, the (alpha/2, 1-alpha/2) percentile intervals, and for each baseline the bootstrap
    share of draws with DA - DA_baseline <= 0 (a one-sided p-value).
    y_true, y_pred, baselines[name]: [N, ...] cells; as_of: [N] day of each cell.
    """
    y, p = _check(y_true, y_pred)
    as_of = np.asarray(as_of)
    if as_of.shape[0] != y.shape[0]:
        raise ValueError("as_of must give one day per cell")
    days, inv = np.unique(as_of, return_inverse=True)
    D = len(days)
    h_model, n_day = hits_per_day(y, p, inv, D)
    base_hits = {k: hits_per_day(y, v, inv, D)[0] for k, v in (baselines or {}).items()}
    b = max(1, min(block, D))
    idx = block_indices(D, block, n_boot, seed)  # [n_boot, D]
    denom = n_day[idx].sum(axis=1)
    da_boot = h_model[idx].sum(axis=1) / denom
    q = [alpha / 2, 1 - alpha / 2]
    da = float(h_model.sum() / n_day.sum())
    out = {"da": da, "da_ci": [float(v) for v in np.quantile(da_boot, q)], "n_days": int(D),
           "block": int(b), "n_boot": int(n_boot), "vs": {}}
    for name, hb in base_hits.items():
        diff_boot = da_boot - hb[idx].sum(axis=1) / denom
        out["vs"][name] = {"diff": float(da - hb.sum() / n_day.sum()),
                           "ci": [float(v) for v in np.quantile(diff_boot, q)],
                           "p_le_0": float(np.mean(diff_boot <= 0))}
    return out


def constant_sign_flags(y_pred: np.ndarray, groups: np.ndarray) -> dict[tuple, bool]:
    """{(group, horizon index): every prediction of that group at that horizon has the same sign}, over the
    groups with more than one cell, in sorted group order. y_pred [N, H] or [N] (H = 1), groups [N] (e.g. the
    walk-forward fold: one trained model)."""
    s = np.sign(np.asarray(y_pred, dtype=np.float64))
    s = s[:, None] if s.ndim == 1 else s  # [N, H]
    groups = np.asarray(groups).reshape(-1)
    flags = {}
    for g in np.unique(groups):
        rows = s[groups == g]  # [n_g, H]
        if len(rows) > 1:
            for h in range(s.shape[1]):
                flags[(g.item(), h)] = bool((rows[:, h] == rows[0, h]).all())
    return flags


def constant_sign_share(y_pred: np.ndarray, groups: np.ndarray) -> float:
    """Share of (group, horizon) pairs in which every prediction has the same sign (`constant_sign_flags`).
    1.0 means the sign never depends on the input: the model is a constant-direction baseline in disguise
    (always-up is 1.0 by construction, momentum far below)."""
    flags = list(constant_sign_flags(y_pred, groups).values())
    return float(np.mean(flags)) if flags else float("nan")
