"""The promotion gate: a pure decision on arrays, no database, no Airflow.

Two rules (config in `PromotionConfig`):

* **Challenger vs champion** — both are scored on the SAME out-of-sample cells (coin, as-of, horizon):
  the champion's stored live forecasts of the last K matured weeks and the challenger's walk-forward
  predictions for exactly those cells. Promote iff
  ``DA(challenger) > DA(champion) + margin`` (and, optionally, McNemar p <= max_p_value), with at least
  `min_cells` common cells; otherwise keep the champion.
* **First model** (no champion yet) — promote iff its walk-forward DA beats every first-model baseline
  (random walk = 0.5 by definition, always-up) by `first_model_margin` on its own validation cells.

DA follows `cryptolstm.evaluation.metrics`: cells with a realised return of exactly 0 are not scored, a
prediction of exactly 0 counts as half a hit. McNemar's exact test compares the two models' binary
hits on the discordant cells (one right, the other wrong):
``p = min(1, 2 * P[Binomial(b + c, 1/2) <= min(b, c)])``.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

import numpy as np

from cryptolstm.config import PromotionConfig
from cryptolstm.evaluation import metrics

__all__ = ["Decision", "PromotionConfig", "mcnemar_p", "should_promote"]


@dataclass(frozen=True)
class Decision:
    promoted: bool
    reason: str
    challenger_da: float | None = None
    champion_da: float | None = None
    n_cells: int = 0
    p_value: float | None = None
    details: dict = field(default_factory=dict)

    def as_dict(self) -> dict:
        return asdict(self)


def mcnemar_p(hits_a: np.ndarray, hits_b: np.ndarray) -> tuple[float, int, int]:
    """(exact two-sided McNemar p-value, b = a right & b wrong, c = a wrong & b right) on boolean hits."""
    a, b_ = np.asarray(hits_a, bool), np.asarray(hits_b, bool)
    if a.shape != b_.shape:
        raise ValueError(f"shape mismatch {a.shape} vs {b_.shape}")
    b = int(np.sum(a & ~b_))
    c = int(np.sum(~a & b_))
    n = b + c
    if n == 0:
        return 1.0, b, c
    k = min(b, c)
    # P[X <= k], X ~ Binomial(n, 1/2), summed in log space (n can be thousands)
    logs = [math.lgamma(n + 1) - math.lgamma(i + 1) - math.lgamma(n - i + 1) - n * math.log(2) for i in range(k + 1)]
    m = max(logs)
    cdf = math.exp(m) * sum(math.exp(v - m) for v in logs)
    return float(min(1.0, 2 * cdf)), b, c


def _strict_hits(realised: np.ndarray, pred: np.ndarray) -> np.ndarray:
    """Boolean hit per scored cell (realised != 0): sign(pred) == sign(realised)."""
    return np.sign(pred) == np.sign(realised)


def should_promote(challenger: np.ndarray, champion: np.ndarray | None, realised: np.ndarray, *,
                   baselines: dict[str, np.ndarray] | None = None,
                   config: PromotionConfig = PromotionConfig()) -> Decision:
    """Promote the challenger or not.

    challenger, champion, realised: [N] flat predictions / realised log returns on the same cells
    (champion=None: there is no champion, the first-model rule applies and `baselines` must hold a
    [N] prediction per name in `config.first_model_baselines` on the challenger's validation cells;
    'random_walk' may be omitted — it is all zeros).
    """
    y = np.asarray(realised, dtype=np.float64).reshape(-1)
    ch = np.asarray(challenger, dtype=np.float64).reshape(-1)
    if ch.shape != y.shape:
        raise ValueError(f"challenger has {ch.size} cells, realised {y.size}")
    if not (np.isfinite(y).all() and np.isfinite(ch).all()):
        raise ValueError("non-finite predictions or realised returns")
    scored = y != 0
    n = int(scored.sum())

    if champion is None:
        return _first_model(ch, y, n, baselines or {}, config)

    cp = np.asarray(champion, dtype=np.float64).reshape(-1)
    if cp.shape != y.shape:
        raise ValueError(f"champion has {cp.size} cells, realised {y.size}")
    if not np.isfinite(cp).all():
        raise ValueError("non-finite champion predictions")
    if n < config.min_cells:
        return Decision(False, f"only {n} common matured cells (< {config.min_cells}): keep the champion",
                        None, None, n, None, {"min_cells": config.min_cells})
    da_ch = metrics.directional_accuracy(y, ch)
    da_cp = metrics.directional_accuracy(y, cp)
    p, b, c = mcnemar_p(_strict_hits(y[scored], ch[scored]), _strict_hits(y[scored], cp[scored]))
    details = {"discordant_challenger_right": b, "discordant_champion_right": c, "margin": config.margin,
               "max_p_value": config.max_p_value, "mae_challenger": metrics.mae(y, ch),
               "mae_champion": metrics.mae(y, cp)}
    beats = da_ch > da_cp + config.margin
    significant = config.max_p_value is None or p <= config.max_p_value
    if beats and significant:
        reason = f"challenger DA {da_ch:.4f} > champion DA {da_cp:.4f} + margin {config.margin:.4f}"
        if config.max_p_value is not None:
            reason += f" with McNemar p {p:.3g} <= {config.max_p_value}"
    elif not beats:
        reason = f"challenger DA {da_ch:.4f} does not beat champion DA {da_cp:.4f} + margin {config.margin:.4f}"
    else:
        reason = f"challenger DA {da_ch:.4f} > champion DA {da_cp:.4f} but McNemar p {p:.3g} > {config.max_p_value}"
    return Decision(bool(beats and significant), reason, da_ch, da_cp, n, p, details)


def _first_model(ch: np.ndarray, y: np.ndarray, n: int, baselines: dict[str, np.ndarray],
                 config: PromotionConfig) -> Decision:
    if n == 0:
        return Decision(False, "no validation cell with a non-zero realised return", None, None, 0, None)
    da = metrics.directional_accuracy(y, ch)
    base_da = {}
    for name in config.first_model_baselines:
        pred = baselines.get(name)
        if pred is None and name == "random_walk":
            pred = np.zeros_like(y)
        if pred is None:
            raise ValueError(f"first-model rule needs baseline {name!r} on the same cells")
        pred = np.asarray(pred, dtype=np.float64).reshape(-1)
        if pred.shape != y.shape:
            raise ValueError(f"baseline {name} has {pred.size} cells, realised {y.size}")
        base_da[name] = metrics.directional_accuracy(y, pred)
    best_name = max(base_da, key=base_da.get)
    best = base_da[best_name]
    details = {"baseline_da": base_da, "first_model_margin": config.first_model_margin,
               "mae_ratio_rw": metrics.mae_ratio_to_random_walk(y, ch)}
    if da > best + config.first_model_margin:
        reason = (f"first model: DA {da:.4f} beats every baseline ({', '.join(f'{k} {v:.4f}' for k, v in base_da.items())})"
                  f" + margin {config.first_model_margin:.4f}")
        return Decision(True, reason, da, None, n, None, details)
    reason = f"first model: DA {da:.4f} does not beat {best_name} DA {best:.4f} + margin {config.first_model_margin:.4f}"
    return Decision(False, reason, da, None, n, None, details)
