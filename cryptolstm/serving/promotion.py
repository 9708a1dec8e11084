"""The promotion gate: pure decisions on arrays, no database, no Airflow.

Two rules (config in `PromotionConfig`); every figure they use goes into the Decision's details.

* **First model** (no champion yet) — judged on its full walk-forward (the computation of
  `cryptolstm evaluate`: >= 5 folds x 120 as-of days, every naive baseline on the same cells).
  Promoted only if all three hold:
  1. its DA >= every naive baseline's DA (+ `first_model_margin`): random walk, always-up, momentum
     and reversal rules (`NAIVE_BASELINES`);
  2. the lower end of the 95 % day-block bootstrap interval of its DA is > `first_model_min_lower`
     (0.5: better than a coin flip with evidence, not by luck);
  3. no (fold, horizon) of the walk-forward is constant-sign (`constant_sign_groups`), and the final
     model's sign depends on its input (checked by the caller, passed in as `constant_sign`).
* **Challenger vs champion** — on the largest common set of out-of-sample cells (the champion's
  matured live forecasts plus the days both have walk-forward predictions for, each made by a model
  trained before the day). The paired day-block bootstrap of d = DA(challenger) - DA(champion) gives
  an interval and the one-sided p = P*(d* <= margin). Promote iff d > margin and p < alpha, with at
  least `min_cells` common cells, and the challenger is not constant-sign.

Day-block bootstrap: the cells of one as-of day (9 co-moving coins x 5 overlapping horizons) stay
together; blocks of `block_days` consecutive days are drawn with replacement until as many days as
observed are collected (the moving-block scheme of `evaluation.metrics.block_bootstrap_da`, so the
gate's interval is the report's). DA follows `evaluation.metrics`: cells with a realised return of
exactly 0 are not scored, a prediction of exactly 0 scores half a hit. The seed is fixed: a rerun of
the same decision gives the same interval and p.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np

from cryptolstm.config import NAIVE_BASELINES, PromotionConfig
from cryptolstm.evaluation import metrics

__all__ = ["NAIVE_BASELINES", "Decision", "GateEvidence", "PromotionConfig", "challenger_vs_champion",
           "constant_sign_groups", "da_interval", "first_model", "paired_da_difference", "walk_forward_constant_sign"]


@dataclass(frozen=True)
class Decision:
    promoted: bool
    reason: str
    challenger_da: float | None = None
    champion_da: float | None = None
    n_cells: int = 0
    p_value: float | None = None  # one-sided bootstrap p of the DA difference (challenger vs champion)
    challenger_da_ci: tuple[float, float] | None = None  # 95 % day-block interval of the challenger's DA
    da_diff_ci: tuple[float, float] | None = None  # (1 - 2 alpha) interval of DA(challenger) - DA(champion)
    details: dict = field(default_factory=dict)

    def as_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> Decision:
        """The Decision `as_dict` gave, read back from JSON (the intervals as tuples again)."""
        pair = lambda v: None if v is None else tuple(v)  # noqa: E731
        return cls(**{**d, "challenger_da_ci": pair(d.get("challenger_da_ci")), "da_diff_ci": pair(d.get("da_diff_ci"))})


@dataclass(frozen=True)
class GateEvidence:
    """What the weekly training found for the gate, stored with the challenger in the registry metrics
    (`to_metrics` / `from_metrics`): the complete first-model rule and every constant-sign finding."""

    first_model_gate: Decision  # the first-model rule on the walk-forward cells and the final model
    constant_sign: list[str]  # walk-forward (fold, horizon) groups whose sign never moved, e.g. 'fold 2 h3'
    final_model_constant_sign: list[str]  # final-model horizons of one sign on its last days, e.g. 'final model h3'
    promotion_config: dict  # the PromotionConfig that judged the first-model rule

    def to_metrics(self) -> dict:
        return {"first_model_gate": self.first_model_gate.as_dict(), "constant_sign": self.constant_sign,
                "final_model_constant_sign": self.final_model_constant_sign,
                "promotion_config": self.promotion_config}

    @classmethod
    def from_metrics(cls, metrics: dict) -> GateEvidence | None:
        """The evidence in a challenger's registry metrics; None when it is incomplete."""
        keys = ("first_model_gate", "constant_sign", "final_model_constant_sign", "promotion_config")
        if any(metrics.get(k) is None for k in keys):
            return None
        return cls(Decision.from_dict(metrics["first_model_gate"]), list(metrics["constant_sign"]),
                   list(metrics["final_model_constant_sign"]), dict(metrics["promotion_config"]))


# ---- statistics (the helpers live in `evaluation.metrics`, shared with the evaluation report) -------

def paired_da_difference(y: np.ndarray, a: np.ndarray, b: np.ndarray, day: np.ndarray, *, margin: float = 0.0,
                         alpha: float = 0.05, block: int = 10, n_boot: int = 2000, seed: int = 0) -> dict:
    """Paired day-block bootstrap of d = DA(a) - DA(b) on the same cells.

    y, a, b, day: [N] (realised, two predictions, as-of day of each cell). Returns d, DA(a), DA(b),
    the (alpha, 1 - alpha) percentile interval of d* (its lower end is the one-sided bound the test
    uses), p = share of draws with d* <= margin, and the numbers of cells and days.
    """
    y, a, b = (np.asarray(v, dtype=np.float64).reshape(-1) for v in (y, a, b))
    days, inv = np.unique(np.asarray(day).reshape(-1), return_inverse=True)
    ha, n = metrics.hits_per_day(y, a, inv, len(days))
    hb, _ = metrics.hits_per_day(y, b, inv, len(days))
    if n.sum() == 0:
        raise ValueError("no cell with a non-zero realised return")
    idx = metrics.block_indices(len(days), block, n_boot, seed)  # [n_boot, n_days]
    denom = n[idx].sum(axis=1)
    d_boot = (ha[idx].sum(axis=1) - hb[idx].sum(axis=1)) / denom
    da_a, da_b = float(ha.sum() / n.sum()), float(hb.sum() / n.sum())
    lo, hi = np.quantile(d_boot, [alpha, 1 - alpha])
    return {"diff": da_a - da_b, "da_a": da_a, "da_b": da_b, "ci": (float(lo), float(hi)),
            "ci_level": 1 - 2 * alpha, "p": float(np.mean(d_boot <= margin)), "n_cells": int(n.sum()),
            "n_days": int(len(days)), "block": int(min(block, len(days))), "n_boot": int(n_boot)}


def da_interval(y: np.ndarray, pred: np.ndarray, day: np.ndarray, *, level: float = 0.95, block: int = 10,
                n_boot: int = 2000, seed: int = 0) -> dict:
    """DA and its day-block bootstrap percentile interval at `level` (two-sided): the interval of
    `metrics.block_bootstrap_da`, so the gate's interval is the evaluation report's."""
    y, p = np.asarray(y, dtype=np.float64).reshape(-1), np.asarray(pred, dtype=np.float64).reshape(-1)
    if not (y != 0).any():
        raise ValueError("no cell with a non-zero realised return")
    boot = metrics.block_bootstrap_da(y, p, np.asarray(day).reshape(-1), block=block, n_boot=n_boot,
                                      alpha=1 - level, seed=seed)
    return {"da": boot["da"], "ci": tuple(boot["da_ci"]), "level": level, "n_cells": int((y != 0).sum()),
            "n_days": boot["n_days"]}


def constant_sign_groups(pred: np.ndarray, fold: np.ndarray, horizon: np.ndarray) -> list[tuple[int, int]]:
    """The (fold, horizon) groups with more than one cell in which every prediction has the same sign
    (one fold = one trained model: such a model's sign does not depend on its input). All [N]."""
    keys, group = np.unique(np.stack([np.asarray(fold).reshape(-1), np.asarray(horizon).reshape(-1)], axis=1),
                            axis=0, return_inverse=True)  # keys [G, 2] in (fold, horizon) order
    flags = metrics.constant_sign_flags(np.asarray(pred, dtype=np.float64).reshape(-1), group.reshape(-1))
    return [(int(keys[g][0]), int(keys[g][1])) for (g, _), flat in flags.items() if flat]


def walk_forward_constant_sign(pred: np.ndarray, fold: np.ndarray, horizon: np.ndarray) -> list[str]:
    """`constant_sign_groups` as the labels the decisions record, e.g. ['fold 2 h3']."""
    return [f"fold {f} h{h}" for f, h in constant_sign_groups(pred, fold, horizon)]


def _check(*numbers: np.ndarray, keys: tuple = ()) -> None:
    """Same number of cells everywhere; predictions and realised returns finite (keys: day, fold, ...)."""
    shapes = {np.asarray(a).reshape(-1).shape for a in (*numbers, *keys)}
    if len(shapes) != 1:
        raise ValueError(f"cells differ in length: {sorted(s[0] for s in shapes)}")
    for a in numbers:
        if not np.isfinite(np.asarray(a, dtype=np.float64)).all():
            raise ValueError("non-finite predictions or realised returns")


# ---- the two rules ------------------------------------------------------------------------------

def first_model(y: np.ndarray, pred: np.ndarray, day: np.ndarray, fold: np.ndarray, horizon: np.ndarray,
                baselines: dict[str, np.ndarray], config: PromotionConfig = PromotionConfig(),
                constant_sign: list | None = None) -> Decision:
    """The first-model rule on the model's walk-forward cells (all [N]; `baselines[name]` the baseline's
    prediction on the same cells, 'random_walk' may be omitted: it is all zeros). `constant_sign`:
    what the caller found constant-sign in the final model (e.g. ['final model h3']), if anything."""
    y, pred = np.asarray(y, dtype=np.float64).reshape(-1), np.asarray(pred, dtype=np.float64).reshape(-1)
    _check(y, pred, keys=(day, fold, horizon))
    if not (y != 0).any():
        return Decision(False, "first model: no walk-forward cell with a non-zero realised return")
    ci = da_interval(y, pred, day, block=config.block_days, n_boot=config.n_boot, seed=config.seed)
    base_da = {}
    for name in config.first_model_baselines:
        b = baselines.get(name)
        if b is None and name == "random_walk":
            b = np.zeros_like(y)
        if b is None:
            raise ValueError(f"first-model rule needs baseline {name!r} on the same cells")
        b = np.asarray(b, dtype=np.float64).reshape(-1)
        _check(y, b)
        base_da[name] = metrics.directional_accuracy(y, b)
    flat = walk_forward_constant_sign(pred, fold, horizon) + list(constant_sign or [])
    da, lower = ci["da"], ci["ci"][0]
    beaten_by = {k: v for k, v in base_da.items() if da < v + config.first_model_margin}
    details = {"rule": "first_model", "baseline_da": base_da, "da_ci95": list(ci["ci"]),
               "n_days": ci["n_days"], "constant_sign": flat, "first_model_margin": config.first_model_margin,
               "first_model_min_lower": config.first_model_min_lower, "block_days": config.block_days,
               "n_boot": config.n_boot, "n_folds": int(len(np.unique(fold))),
               "mae_ratio_rw": metrics.mae_ratio_to_random_walk(y, pred)}
    figures = (f"DA {da:.4f}, 95 % day-block interval [{ci['ci'][0]:.4f}, {ci['ci'][1]:.4f}] over "
               f"{ci['n_days']} as-of days; best baseline {max(base_da, key=base_da.get)} "
               f"{max(base_da.values()):.4f}")
    fails = []
    if flat:
        fails.append(f"constant-sign: its sign does not depend on its input in {', '.join(flat[:6])}"
                     + (f" (+{len(flat) - 6} more)" if len(flat) > 6 else ""))
    if beaten_by:
        fails.append("below " + ", ".join(f"{k} {v:.4f}" for k, v in beaten_by.items())
                     + (f" + margin {config.first_model_margin:.4f}" if config.first_model_margin else ""))
    if not lower > config.first_model_min_lower:
        fails.append(f"interval lower end {lower:.4f} <= {config.first_model_min_lower:.4f}")
    ok = not fails
    reason = f"first model: {'promoted' if ok else 'not promoted'}: {figures}" + ("" if ok else "; " + "; ".join(fails))
    return Decision(ok, reason, da, None, ci["n_cells"], None, ci["ci"], None, details)


def challenger_vs_champion(y: np.ndarray, challenger: np.ndarray, champion: np.ndarray, day: np.ndarray,
                           config: PromotionConfig = PromotionConfig(), constant_sign: list | None = None,
                           sources: dict | None = None) -> Decision:
    """Challenger vs champion on the same out-of-sample cells (all [N]). `constant_sign`: the
    challenger's constant-sign findings (walk-forward (fold, horizon) groups, final model horizons);
    `sources`: how many cells came from where, recorded as is."""
    y = np.asarray(y, dtype=np.float64).reshape(-1)
    ch = np.asarray(challenger, dtype=np.float64).reshape(-1)
    cp = np.asarray(champion, dtype=np.float64).reshape(-1)
    _check(y, ch, cp, keys=(day,))
    n = int((y != 0).sum())
    base = {"rule": "challenger_vs_champion", "margin": config.margin, "alpha": config.alpha,
            "min_cells": config.min_cells, "constant_sign": list(constant_sign or []), **(sources or {})}
    if constant_sign:
        return Decision(False, f"challenger is constant-sign: its sign does not depend on its input in "
                               f"{', '.join(map(str, constant_sign[:6]))}; keep the champion", None, None, n,
                        details=base)
    if n < config.min_cells:
        return Decision(False, f"only {n} common out-of-sample cells (< {config.min_cells}): keep the champion",
                        None, None, n, details=base)
    t = paired_da_difference(y, ch, cp, day, margin=config.margin, alpha=config.alpha, block=config.block_days,
                             n_boot=config.n_boot, seed=config.seed)
    ci_ch = da_interval(y, ch, day, block=config.block_days, n_boot=config.n_boot, seed=config.seed)["ci"]
    details = {**base, "da_diff": t["diff"], "da_diff_ci": list(t["ci"]), "ci_level": t["ci_level"],
               "n_days": t["n_days"], "block_days": t["block"], "n_boot": t["n_boot"],
               "mae_challenger": metrics.mae(y, ch), "mae_champion": metrics.mae(y, cp)}
    figures = (f"challenger DA {t['da_a']:.4f} vs champion {t['da_b']:.4f} on {n} cells / {t['n_days']} days: "
               f"difference {t['diff']:+.4f}, {t['ci_level']:.0%} interval [{t['ci'][0]:+.4f}, {t['ci'][1]:+.4f}], "
               f"one-sided p {t['p']:.3f} (H0: difference <= margin {config.margin:.4f})")
    beats, significant = t["diff"] > config.margin, t["p"] < config.alpha
    if beats and significant:
        reason = f"promoted: {figures} < alpha {config.alpha}"
    elif not beats:
        reason = f"not promoted: {figures}; the difference is not above the margin"
    else:
        reason = f"not promoted: {figures}; p >= alpha {config.alpha}: not significant"
    return Decision(bool(beats and significant), reason, t["da_a"], t["da_b"], n, t["p"], tuple(ci_ch),
                    t["ci"], details)
