"""Online coverage correction of the split-conformal ranges (issue 26): a level that follows the ranges' misses.

One state per (coin, horizon, level), fed by the misses of the ranges served for that series (err = 1 when the
realised return fell outside the range), in target-day order, and ONLY by misses whose target day is before the
as-of day being ranged: at horizon h the miss of as-of day s is known at s + h (`due`). Nominal miss rate
a = 1 - L. The candidates (pre-registered in docs/ranges.md):

* `none`: today's range p +- q_t(L) s_t (no state used).
* ACI (Gibbs & Candes 2021), `aci_<gamma>`: range p +- q_t(1 - alpha_t) s_t, where q_t(lam) is the
  ceil((n + 1) lam)-th smallest calibration score capped at the largest (always finite), and
      alpha <- clip(alpha + gamma (a - err), a / 5, 2 a),   alpha_0 = a.
* quantile tracking in log space (conformal PID's P step, Angelopoulos et al. 2023), `qt`: range
  p +- q_t(L) exp(theta_t) s_t, theta <- clip(theta + eta (err - a), -ln 2, ln 2), theta_0 = 0; the step in
  score units is eta q: proportional to the cell's score scale.

Everything here is a pure function of its arguments: the same misses give the same state, bit for bit.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Iterable

import numpy as np

ALPHA_BOUNDS = (0.2, 2.0)  # alpha_t in [a/5, 2a]: a level past 1 is an infinite range, one near 0 an empty one
LOG_FACTOR_BOUND = math.log(2.0)  # qt: the width stays within 1/2 x and 2 x the uncorrected one


@dataclass(frozen=True)
class Correction:
    """One candidate: kind 'none' | 'aci' | 'qt' and its step (gamma for aci, eta for qt)."""
    kind: str = "none"
    step: float = 0.0

    def __post_init__(self) -> None:
        if self.kind not in ("none", "aci", "qt"):
            raise ValueError(f"unknown coverage correction kind {self.kind!r}")
        if self.step < 0 or (self.kind != "none" and not self.step > 0):
            raise ValueError(f"a {self.kind} correction needs a step > 0, got {self.step}")

    @property
    def name(self) -> str:
        if self.kind == "none":
            return "none"
        return "qt" if self.kind == "qt" and self.step == 0.05 else f"{self.kind}_{self.step:g}"


CANDIDATES = {c.name: c for c in (Correction(), Correction("aci", 0.005), Correction("aci", 0.01),
                                  Correction("aci", 0.02), Correction("qt", 0.05))}


def by_name(name: str) -> Correction:
    """The pre-registered candidate called `name` (ValueError for any other)."""
    if name not in CANDIDATES:
        raise ValueError(f"unknown coverage correction {name!r}; one of {', '.join(CANDIDATES)}")
    return CANDIDATES[name]


def initial_state(level: float, c: Correction) -> float:
    """The state before any miss: alpha = a for ACI (and for 'none', whose state is never used), theta = 0 for qt."""
    return 0.0 if c.kind == "qt" else 1.0 - level


def step(state: float, miss: bool, level: float, c: Correction) -> float:
    """One update after a matured cell: ACI alpha + gamma (a - err) clipped to [a/5, 2a]; qt theta + eta (err - a)
    clipped to [-ln 2, ln 2]; 'none' keeps its state."""
    a, err = 1.0 - level, float(bool(miss))
    if c.kind == "aci":
        return min(max(state + c.step * (a - err), ALPHA_BOUNDS[0] * a), ALPHA_BOUNDS[1] * a)
    if c.kind == "qt":
        return min(max(state + c.step * (err - a), -LOG_FACTOR_BOUND), LOG_FACTOR_BOUND)
    return state


def state_from_misses(misses: Iterable[bool], level: float, c: Correction) -> float:
    """The state after `misses` (already in target-day order, each due before the day being ranged)."""
    s = initial_state(level, c)
    for m in misses:
        s = step(s, m, level, c)
    return s


def due(as_of_day: int, horizon: int) -> int:
    """The first as-of day whose range may use the miss of (as_of_day, horizon): its target day + 1."""
    return as_of_day + horizon + 1


def capped_quantile(sorted_scores: np.ndarray, level: float) -> float:
    """The ceil((n + 1) level)-th smallest of `sorted_scores`, capped at the largest (so always finite when n > 0);
    nan for an empty set. Equals `intervals.conformal_quantile` wherever that one is finite."""
    n = len(sorted_scores)
    if n == 0:
        return math.nan
    k = min(max(math.ceil((n + 1) * level), 1), n)
    return float(sorted_scores[k - 1])


def corrected_quantile(sorted_scores: np.ndarray, level: float, state: float, c: Correction,
                       uncorrected: float) -> float:
    """The quantile of the corrected range: `uncorrected` (= q_t(L), computed as today) for 'none',
    q_t(1 - alpha) capped for ACI, q_t(L) exp(theta) for qt."""
    if c.kind == "aci":
        return capped_quantile(sorted_scores, 1.0 - state)
    if c.kind == "qt":
        return uncorrected * math.exp(state)
    return uncorrected


def alpha_of(state: float, level: float, c: Correction) -> float:
    """The miss level the range is built for (audit): alpha_t for ACI, the nominal a otherwise."""
    return state if c.kind == "aci" else 1.0 - level


def log_factor_of(state: float, c: Correction) -> float:
    """The log multiplier of the conformal quantile (audit): theta_t for qt, 0 otherwise."""
    return state if c.kind == "qt" else 0.0


class Tracker:
    """The state of one series while a walk over as-of days ranges it (`intervals.rolling_intervals`): misses
    wait until they are due, then are applied in target-day order. Equivalent to `state_from_misses` over the
    due misses (tested)."""

    def __init__(self, level: float, c: Correction) -> None:
        self.level, self.c = level, c
        self.state = initial_state(level, c)
        self.pending: list[tuple[int, int, bool]] = []  # (due day, as-of day, miss), appended in as-of order
        self.used = 0

    def at(self, day: int) -> float:
        """The state for as-of day `day` (days must not go backwards)."""
        ready = [p for p in self.pending if p[0] <= day]
        if ready:
            self.pending = [p for p in self.pending if p[0] > day]
            for _, _, m in sorted(ready, key=lambda p: (p[0], p[1])):
                self.state = step(self.state, m, self.level, self.c)
            self.used += len(ready)
        return self.state

    def record(self, as_of_day: int, horizon: int, miss: bool) -> None:
        self.pending.append((due(as_of_day, horizon), as_of_day, bool(miss)))
