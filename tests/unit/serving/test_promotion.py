"""The promotion gate is a pure function: DA on the same cells, margin, McNemar, first-model rule."""

from __future__ import annotations

import numpy as np
import pytest

from cryptolstm.serving.promotion import PromotionConfig, mcnemar_p, should_promote


def _cells(n=400, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.normal(0, 0.02, n)
    y[y == 0] = 1e-4
    return y


def _with_accuracy(y, share_right, seed):
    """Predictions whose sign matches y on exactly round(share_right * n) cells."""
    rng = np.random.default_rng(seed)
    n = len(y)
    right = np.zeros(n, bool)
    right[rng.choice(n, int(round(share_right * n)), replace=False)] = True
    mag = rng.uniform(0.001, 0.01, n)
    return np.where(right, np.sign(y), -np.sign(y)) * mag


def test_mcnemar_exact_values():
    a = np.array([True] * 10 + [False] * 0 + [True] * 5)
    b = np.array([False] * 10 + [True] * 5)
    p, b_, c_ = mcnemar_p(a, b)
    assert (b_, c_) == (10, 0)
    assert p == pytest.approx(2 * 0.5 ** 10)
    p_sym, *_ = mcnemar_p(np.array([1, 0, 1, 0], bool), np.array([0, 1, 0, 1], bool))
    assert p_sym == 1.0
    assert mcnemar_p(np.ones(3, bool), np.ones(3, bool))[0] == 1.0


def test_mcnemar_matches_scipy_binomtest():
    stats = pytest.importorskip("scipy.stats")
    rng = np.random.default_rng(3)
    a, b = rng.random(500) < 0.55, rng.random(500) < 0.5
    p, n10, n01 = mcnemar_p(a, b)
    assert p == pytest.approx(stats.binomtest(min(n10, n01), n10 + n01, 0.5).pvalue, rel=1e-9)


def test_better_challenger_is_promoted_with_both_das_and_p_value():
    y = _cells()
    d = should_promote(_with_accuracy(y, 0.60, 1), _with_accuracy(y, 0.50, 2), y)
    assert d.promoted
    assert d.challenger_da == pytest.approx(0.60) and d.champion_da == pytest.approx(0.50)
    assert d.n_cells == 400 and 0 <= d.p_value < 0.05
    assert "> champion DA" in d.reason


def test_equal_or_worse_challenger_is_rejected():
    y = _cells()
    same = should_promote(_with_accuracy(y, 0.55, 1), _with_accuracy(y, 0.55, 2), y)
    assert not same.promoted and "does not beat" in same.reason
    worse = should_promote(_with_accuracy(y, 0.50, 1), _with_accuracy(y, 0.55, 2), y)
    assert not worse.promoted


def test_margin_is_respected():
    y = _cells()
    ch, cp = _with_accuracy(y, 0.57, 1), _with_accuracy(y, 0.55, 2)
    assert should_promote(ch, cp, y, config=PromotionConfig(margin=0.01)).promoted
    assert not should_promote(ch, cp, y, config=PromotionConfig(margin=0.03)).promoted


def test_p_value_gate_optional():
    y = _cells()
    ch, cp = _with_accuracy(y, 0.57, 1), _with_accuracy(y, 0.55, 2)
    d = should_promote(ch, cp, y, config=PromotionConfig(max_p_value=0.01))
    assert not d.promoted and "McNemar" in d.reason


def test_too_few_common_cells_keeps_champion():
    y = _cells(50)
    d = should_promote(_with_accuracy(y, 0.9, 1), _with_accuracy(y, 0.4, 2), y, config=PromotionConfig(min_cells=90))
    assert not d.promoted and d.n_cells == 50 and "only 50" in d.reason


def test_zero_realised_cells_are_not_counted():
    y = _cells(200)
    y[:100] = 0.0
    d = should_promote(np.sign(y) + 0.1, -np.ones(200), y, config=PromotionConfig(min_cells=10))
    assert d.n_cells == 100


def test_first_model_must_beat_random_walk_and_always_up():
    y = np.abs(_cells()) * np.where(np.arange(400) < 240, 1, -1)  # 60 % up days
    up = np.ones_like(y)
    good = should_promote(_with_accuracy(y, 0.65, 1), None, y, baselines={"always_up": up})
    assert good.promoted and good.champion_da is None
    assert good.details["baseline_da"]["always_up"] == pytest.approx(0.60)
    assert good.details["baseline_da"]["random_walk"] == pytest.approx(0.5)
    meh = should_promote(_with_accuracy(y, 0.58, 1), None, y, baselines={"always_up": up})
    assert not meh.promoted and "always_up" in meh.reason


def test_first_model_needs_the_baselines():
    y = _cells()
    with pytest.raises(ValueError, match="always_up"):
        should_promote(_with_accuracy(y, 0.6, 1), None, y, baselines={})


@pytest.mark.parametrize("bad", ["shape", "nan"])
def test_bad_input_is_an_error(bad):
    y = _cells(100)
    ch = _with_accuracy(y, 0.6, 1)
    if bad == "shape":
        with pytest.raises(ValueError, match="cells"):
            should_promote(ch[:-1], ch, y)
    else:
        ch[3] = np.nan
        with pytest.raises(ValueError, match="non-finite"):
            should_promote(ch, ch, y)


def test_config_from_env():
    c = PromotionConfig.from_env({"CRYPTOLSTM_PROMOTION_MARGIN": "0.01", "CRYPTOLSTM_PROMOTION_MAX_P": "0.2",
                                  "CRYPTOLSTM_PROMOTION_WEEKS": "3"})
    assert (c.margin, c.max_p_value, c.weeks, c.min_cells) == (0.01, 0.2, 3, 90)
