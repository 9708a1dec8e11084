"""The alert rules are pure: the degraded-accuracy alert replayed on sequences of matured cells (a
chance-level model does not flap, a model whose signs flipped fires within the window), the day-block
interval's coverage, the coverage and expiry rules."""

from __future__ import annotations

import numpy as np
import pytest

from cryptolstm.serving.alert_rules import day_block_interval, expired, interval_coverage, live_accuracy

WINDOW, CELLS = 30, 45  # 30 days of matured cells, 9 coins x 5 horizons a day


def _day(rng, p_hit, sigma=0.10):
    """One as-of day of cells: a common day shock (co-moving coins) moves every cell's hit probability."""
    pr = np.clip(p_hit + rng.normal(0, sigma), 0, 1)
    y = rng.choice([-1.0, 1.0], CELLS) * 0.01
    return y, np.where(rng.random(CELLS) < pr, y, -y)


def _replay(p_of_day, days, walk_forward_da, seed, threshold=0.5):
    rng = np.random.default_rng(seed)
    ys, ps, states, naive, state = [], [], [], [], "ok"
    for d in range(days):
        y, p = _day(rng, p_of_day(d))
        ys.append(y), ps.append(p)
        lo = max(0, d - WINDOW + 1)
        day = np.repeat(np.arange(lo, d + 1), CELLS)
        state, _, det = live_accuracy(np.concatenate(ys[lo:]), np.concatenate(ps[lo:]), day, state,
                                      threshold=threshold, walk_forward_da=walk_forward_da, min_cells=10 * CELLS)
        states.append(state)
        naive.append("firing" if det.get("da", 1.0) < threshold else "ok")  # the old fixed-line rule
    changes = lambda s: sum(a != b for a, b in zip(s, s[1:]))  # noqa: E731
    return states, changes(states), changes(naive)


def test_chance_level_model_does_not_flap():
    new, old = [], []
    for seed in range(6):
        _, n_new, n_old = _replay(lambda d: 0.5, 240, 0.5, seed)
        new.append(n_new), old.append(n_old)
        assert n_new <= 4, (seed, n_new)  # at most two firing episodes in 8 months at chance
    assert sum(old) >= 60 and sum(new) <= sum(old) / 5, (new, old)  # the fixed 50 % line flapped


def test_model_whose_signs_flipped_fires_within_the_window():
    for seed in range(6):
        states, _, _ = _replay(lambda d: 0.56 if d < 90 else 0.44, 120, 0.56, seed)
        assert "firing" in states[90:120] and states[-1] == "firing", seed


def test_fires_below_the_fixed_threshold_without_a_walk_forward_figure():
    rng = np.random.default_rng(5)
    y, p = zip(*[_day(rng, 0.35) for _ in range(WINDOW)])
    state, msg, det = live_accuracy(np.concatenate(y), np.concatenate(p), np.repeat(np.arange(WINDOW), CELLS), "ok",
                                    threshold=0.5, walk_forward_da=None, min_cells=100)
    assert state == "firing" and det["da_ci95"][1] < 0.5 and "below the threshold" in msg and "interval [" in msg


def test_too_few_cells_keep_the_previous_state():
    y = np.array([0.01, -0.01])
    for prev in ("ok", "firing"):
        state, msg, _ = live_accuracy(y, -y, np.array([0, 1]), prev, threshold=0.5, walk_forward_da=0.55,
                                      min_cells=10)
        assert state == prev and "state stays" in msg


def test_day_block_interval_covers_at_the_nominal_rate():
    rng = np.random.default_rng(0)
    miss = 0
    for _ in range(400):
        y, p = zip(*[_day(rng, 0.5, sigma=0.15) for _ in range(WINDOW)])
        lo, hi = day_block_interval(np.concatenate(y), np.concatenate(p), np.repeat(np.arange(WINDOW), CELLS))["ci"]
        miss += not lo <= 0.5 <= hi
    assert miss / 400 < 0.08  # nominal 0.05; the moving-block bootstrap missed 0.135 on these days


def test_day_block_interval_hand_case():
    # 10 days, blocks of 5 counted from the newest: block 0 = days 5..9 all right, block 1 = days 0..4 all wrong
    y = np.ones(10) * 0.01
    p = np.where(np.arange(10) >= 5, 1.0, -1.0)
    r = day_block_interval(y, p, np.arange(10))
    # DA 0.5; e = (5 - 2.5, 0 - 2.5); se = sqrt(2/1 * 12.5) / 10 = 0.5; t(1) = 12.706 -> [0, 1]
    assert r["da"] == 0.5 and r["n_blocks"] == 2 and r["ci"] == (0.0, 1.0)


def test_coverage_rule():
    assert interval_coverage(500, 400, "ok", low=0.7, high=0.9, min_cells=100, window_days=60)[0] == "ok"
    s, msg, det = interval_coverage(500, 300, "ok", low=0.7, high=0.9, min_cells=100, window_days=60)
    assert s == "firing" and "OUTSIDE" in msg and det["coverage_80"] == 0.6
    assert interval_coverage(500, 480, "ok", low=0.7, high=0.9, min_cells=100, window_days=60)[0] == "firing"
    assert interval_coverage(50, 10, "firing", low=0.7, high=0.9, min_cells=100, window_days=60)[0] == "firing"


@pytest.mark.parametrize("age,state", [(42, "ok"), (43, "firing")])
def test_expiry_rule_at_the_limit(age, state):
    s, msg, _ = expired("m", age, 42)
    assert s == state and (("EXPIRED" in msg) == (state == "firing"))
