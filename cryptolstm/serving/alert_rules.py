"""Pure alert rules (no database): each takes the day's evidence and the previous state and returns
(state, message, details). `serving.alerts` reads the evidence from PostgreSQL, records and emails.

* `live_accuracy` fires on evidence, not noise. On the matured cells of the window the 95 % day-block
  interval of live DA is computed (`day_block_interval`). It FIRES when the interval's upper end is below the fixed threshold, or below the
  model's own walk-forward DA (the figure it was promoted on: live DA significantly below it). Once
  firing it CLEARS only when the evidence is gone: the point DA is back at or above the line it fell
  below (a stricter test than "upper end >= line", so a model hovering at the line does not flap).
  Fewer than `min_cells` scored cells: the previous state is kept.
* `high_tier_accuracy` (issue 26) fires when the high confidence tier's live DA is, on evidence, below what the
  serving model's walk-forward promised for it: the upper end of its 95 % day-block interval below the lower end
  of the walk-forward high-tier interval (metrics["tiers"]). It clears when the point DA is back at that line; too
  few high-tier cells keep the state; a model without tier evidence gives no line (ok).
* `interval_coverage` fires when the share of realised returns inside the stored 80 % ranges, over the
  last `window_days` fully matured as-of days, leaves [low, high], or when the h = 1 misses of the window
  cluster (Christoffersen's independence test rejects at `alpha`, a miss making the next likelier); its
  message says which: too many misses, too few, too clustered, or several. Too few cells keep the state.
* `input_drift` fires when most of the day's assessed coins have a drifted input window (`modelling.drift`)
  and clears when they do not; a day without any assessed forecast keeps the previous state.
* `expired` fires when the model that would serve the day was trained on data older than
  `expire_after_days`: the day gets no forecast.
"""

from __future__ import annotations

import numpy as np
from scipy import stats

from cryptolstm.config import AlertConfig
from cryptolstm.evaluation import backtests, metrics


def day_block_interval(realised: np.ndarray, pred: np.ndarray, day: np.ndarray, block_days: int = 5) -> dict:
    """DA and its 95 % day-block interval: as-of days cut into non-overlapping blocks of `block_days`
    consecutive days (counted back from the newest, so 5 overlapping horizons and 9 co-moving coins
    stay inside one block); the cluster-robust variance of the ratio DA = sum hits / sum scored over
    the B blocks, and Student t with B - 1 degrees of freedom. No random draw: a rerun gives the same
    interval. (A moving-block bootstrap on a 30-day window has only ~6 blocks and covers far less
    than 95 %: measured 86 % on simulated chance-level days.)"""
    day = np.asarray(day).reshape(-1)
    days = np.unique(day)
    age = np.searchsorted(days, day)  # 0 = oldest
    blk = (len(days) - 1 - age) // block_days  # 0 = the newest block
    B = int(blk.max()) + 1 if len(blk) else 0
    h, n = metrics.hits_per_day(np.asarray(realised).reshape(-1), np.asarray(pred).reshape(-1), blk, B)
    if n.sum() == 0:
        raise ValueError("no cell with a non-zero realised return")
    da = float(h.sum() / n.sum())
    if B < 2:
        return {"da": da, "ci": (0.0, 1.0), "n_blocks": B, "n_days": int(len(days))}
    e = h - da * n
    se = float(np.sqrt(B / (B - 1) * np.sum(e * e)) / n.sum())
    t = float(stats.t.ppf(0.975, B - 1))
    return {"da": da, "ci": (max(0.0, da - t * se), min(1.0, da + t * se)), "n_blocks": B, "n_days": int(len(days))}


def live_accuracy(realised: np.ndarray, pred: np.ndarray, day: np.ndarray, previous: str, *, threshold: float,
                  walk_forward_da: float | None, min_cells: int, block_days: int = 5) -> tuple[str, str, dict]:
    """State of the degraded-accuracy alert from the window's matured cells (all [N])."""
    y = np.asarray(realised, dtype=np.float64).reshape(-1)
    n = int((y != 0).sum())
    details = {"n_direction_cells": n, "threshold": threshold, "walk_forward_da": walk_forward_da,
               "min_cells": min_cells, "interval": f"day-block 95 % (t over {block_days}-day blocks)", "block_days": block_days}
    if n < min_cells:
        return previous, f"only {n} scored cells in the window (< {min_cells}): state stays {previous}", details
    ci = day_block_interval(y, pred, day, block_days)
    da, (lo, hi) = ci["da"], ci["ci"]
    details.update({"da": da, "da_ci95": [lo, hi], "n_days": ci["n_days"]})
    lines = {"threshold": threshold}
    if walk_forward_da is not None:
        lines["walk-forward DA"] = walk_forward_da
    below = {k: v for k, v in lines.items() if hi < v}  # evidence: the whole interval is below the line
    summary = (f"live DA {da:.1%}, 95 % day-block interval [{lo:.1%}, {hi:.1%}] over {n} cells / {ci['n_days']} "
               f"as-of days; threshold {threshold:.1%}"
               + (f", walk-forward DA {walk_forward_da:.1%}" if walk_forward_da is not None else ""))
    if below:
        details["below"] = sorted(below)
        return "firing", summary + "; the interval lies below the " + " and the ".join(sorted(below)), details
    if previous == "firing":
        still = {k: v for k, v in lines.items() if da < v}
        if still:
            details["below_point"] = sorted(still)
            return "firing", (summary + "; the interval now reaches the line, but live DA is still below the "
                              + " and the ".join(sorted(still)) + ": stays firing until it is back"), details
    return "ok", summary + "; no evidence of degraded accuracy", details


def high_tier_accuracy(realised: np.ndarray, pred: np.ndarray, day: np.ndarray, previous: str, *,
                       walk_forward: dict | None, min_cells: int, block_days: int = 5) -> tuple[str, str, dict]:
    """State of the high-tier accuracy alert from the window's matured high-tier cells (all [N]); `walk_forward`:
    the serving model's metrics["tiers"]["high"] ({da, ci, n}), None when it has none."""
    y = np.asarray(realised, dtype=np.float64).reshape(-1)
    n = int((y != 0).sum())
    line = None if not walk_forward or not walk_forward.get("ci") else float(walk_forward["ci"][0])
    details = {"n_direction_cells": n, "walk_forward_high": walk_forward, "line": line, "min_cells": min_cells,
               "interval": f"day-block 95 % (t over {block_days}-day blocks)", "block_days": block_days}
    if line is None:
        return "ok", "the serving model has no walk-forward evidence per tier (registered before issue 26)", details
    if n < min_cells:
        return previous, f"only {n} scored high-tier cells in the window (< {min_cells}): state stays {previous}", details
    ci = day_block_interval(y, pred, day, block_days)
    da, (lo, hi) = ci["da"], ci["ci"]
    details.update({"da": da, "da_ci95": [lo, hi], "n_days": ci["n_days"]})
    summary = (f"high-tier live DA {da:.1%}, 95 % day-block interval [{lo:.1%}, {hi:.1%}] over {n} cells / "
               f"{ci['n_days']} as-of days; walk-forward high tier {walk_forward.get('da', float('nan')):.1%}, "
               f"interval from {line:.1%}")
    if hi < line:
        return "firing", summary + "; the live interval lies below the walk-forward interval's lower end", details
    if previous == "firing" and da < line:
        return "firing", summary + "; live DA is still below the walk-forward lower end: stays firing", details
    return "ok", summary + "; the high tier holds what the walk-forward promised", details


def interval_coverage(n_cells: int, n_covered: int, previous: str, *, low: float, high: float, min_cells: int,
                      window_days: int, backtest: dict | None = None,
                      alpha: float = AlertConfig.coverage_alpha) -> tuple[str, str, dict]:
    """State of the 80 % range coverage alert. `backtest`: `backtests.christoffersen` of the window's h = 1
    misses (None: coverage only). Fires when coverage leaves [low, high] (too many misses below, too few
    above) or the misses cluster at `alpha`; the message names each."""
    details = {"n_cells": n_cells, "n_covered": n_covered, "low": low, "high": high, "window_days": window_days,
               "min_cells": min_cells}
    if n_cells < min_cells:
        return previous, (f"only {n_cells} matured cells with an 80 % range in the last {window_days} matured "
                          f"as-of days (< {min_cells}): state stays {previous}"), details
    cov = n_covered / n_cells
    details["coverage_80"] = cov
    inside = low <= cov <= high
    problems = [] if inside else ([backtests.TOO_MANY] if cov < low else ["too few (ranges too wide)"])
    message = (f"80 % ranges held the realised return on {cov:.1%} of {n_cells} cells (last {window_days} matured "
               f"as-of days): {'inside' if inside else 'OUTSIDE'} [{low:.0%}, {high:.0%}]")
    if backtest is not None:
        details.update({"h1_" + k: None if backtest[k] != backtest[k] else backtest[k]  # NaN is not JSON
                        for k in ("n", "miss_rate", "p_uc", "pi_01", "pi_11", "p_ind", "p_cc")})
        details["alpha"] = alpha
        if backtests.TOO_CLUSTERED in backtests.verdict(backtest, alpha):
            problems.append(backtests.TOO_CLUSTERED)
        message += (f"; h = 1 backtest over {backtest['n']} cells: Kupiec p {backtest['p_uc']:.3g}, P(miss | miss "
                    f"the day before) {backtest['pi_11']:.2f} vs {backtest['pi_01']:.2f} otherwise, Christoffersen "
                    f"independence p {backtest['p_ind']:.3g}")
    details["verdict"] = problems
    if problems:
        message += "; misses: " + " and ".join(problems)
    return ("firing" if problems else "ok"), message, details


def input_drift(drifted: dict[str, bool | None], causes: dict[str, str | None], previous: str, *,
                majority: float = AlertConfig.drift_majority) -> tuple[str, str, dict]:
    """State of the input-drift alert from the day's forecasts: {coin: flagged (None = not assessed)}."""
    assessed = {c: bool(f) for c, f in drifted.items() if f is not None}
    flagged = sorted(c for c, f in assessed.items() if f)
    details = {"n_coins": len(drifted), "n_assessed": len(assessed), "flagged": flagged, "majority": majority,
               "causes": {c: causes.get(c) for c in flagged}}
    if not assessed:
        return previous, (f"no forecast of the day has an input-drift assessment ({len(drifted)} coins; a model "
                          f"without a training description): state stays {previous}"), details
    share = len(flagged) / len(assessed)
    details["share"] = share
    firing = share > majority
    return ("firing" if firing else "ok",
            f"{len(flagged)} of {len(assessed)} coins have an input window unlike the training windows"
            + (f" ({', '.join(flagged)})" if flagged else "")
            + (f": more than {majority:.0%}, the day's forecasts come from inputs the model has not seen" if firing
               else f": not more than {majority:.0%}"), details)


def expired(model_id: str | None, age_days: int | None, expire_after_days: int) -> tuple[str, str, dict]:
    """State of the expiry alert for the model that would serve the day (None: no model at all)."""
    if model_id is None:
        return "ok", "no model would serve the day", {}
    details = {"model_id": model_id, "age_days": age_days, "expire_after_days": expire_after_days}
    if age_days > expire_after_days:
        return "firing", (f"EXPIRED: {model_id} was trained on data {age_days} days old (> {expire_after_days}): "
                          "it no longer forecasts; the day has NO forecast until a newer model is trained"), details
    return "ok", f"{model_id} is {age_days} days old (<= {expire_after_days})", details
