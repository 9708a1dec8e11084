"""Simulated range misses for the backtest tests (no files, no database)."""

from __future__ import annotations

import numpy as np


def markov_misses(n: int, p01: float, p11: float, seed: int) -> np.ndarray:
    """[n] 0/1 misses of a two-state Markov chain: P(miss | no miss before) = p01, P(miss | miss before) = p11
    (stationary miss rate p01 / (1 - p11 + p01); p11 > p01 clusters the misses)."""
    rng = np.random.default_rng(seed)
    m = np.zeros(n, dtype=int)
    for t in range(1, n):
        m[t] = rng.random() < (p11 if m[t - 1] else p01)
    return m
