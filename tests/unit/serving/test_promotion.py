"""The promotion gate is pure: day-block bootstrap statistics (checked against a hand-computed case),
the first-model rule (every naive baseline, interval above 0.5, no constant sign) and the paired
challenger-vs-champion test."""

from __future__ import annotations

import numpy as np
import pytest

from cryptolstm.environment import load_promotion
from cryptolstm.serving.promotion import (NAIVE_BASELINES, PromotionConfig, challenger_vs_champion,
                                          constant_sign_groups, da_interval, first_model, paired_da_difference)


# ---- hand-computed small case ---------------------------------------------------------------------
# Two as-of days, two cells each, blocks of one day. Day A: challenger right twice, champion never;
# day B: challenger never, champion once. d = (2 - 1) / 4 = 0.25. The four equally likely resamples
# (AA, AB, BA, BB) give d* = 4/4, 1/4, 1/4, -2/4: P*(d* <= 0) = 1/4, P*(d* <= 0.25) = 3/4.
HAND_Y = np.array([0.01, -0.02, 0.03, 0.01])
HAND_DAY = np.array([1, 1, 2, 2])
HAND_CH = np.array([0.5, -0.5, -0.5, -0.5])   # right, right | wrong, wrong
HAND_CP = np.array([-0.5, 0.5, 0.5, -0.5])    # wrong, wrong | right, wrong


def test_paired_difference_matches_the_hand_computed_distribution():
    t = paired_da_difference(HAND_Y, HAND_CH, HAND_CP, HAND_DAY, margin=0.0, block=1, n_boot=40000, seed=1)
    assert t["diff"] == pytest.approx(0.25) and t["da_a"] == 0.5 and t["da_b"] == 0.25
    assert t["p"] == pytest.approx(0.25, abs=0.01)
    assert t["ci"] == (-0.5, 1.0)  # the 5 % and 95 % quantiles of {-0.5, 0.25, 0.25, 1.0}
    assert paired_da_difference(HAND_Y, HAND_CH, HAND_CP, HAND_DAY, margin=0.25, block=1, n_boot=40000,
                                seed=1)["p"] == pytest.approx(0.75, abs=0.01)
    assert t["n_cells"] == 4 and t["n_days"] == 2


def test_da_interval_hand_case():
    # day A: 2/2 right, day B: 0/2 right -> resamples give 1, 0.5, 0.5, 0
    r = da_interval(HAND_Y, HAND_CH, HAND_DAY, level=0.9, block=1, n_boot=40000, seed=2)
    assert r["da"] == 0.5 and r["ci"] == (0.0, 1.0)


def test_zero_prediction_is_half_a_hit_and_zero_realised_is_not_scored():
    y = np.array([0.01, 0.0, -0.01, 0.02])
    t = paired_da_difference(y, np.zeros(4), np.array([1.0, 1.0, 1.0, 1.0]), np.array([1, 1, 2, 2]), block=1,
                             n_boot=100)
    assert t["n_cells"] == 3 and t["da_a"] == 0.5 and t["da_b"] == pytest.approx(2 / 3)


def test_constant_sign_groups():
    pred = np.array([1, 2, 3, -1, 1, 2, 0.5, 0.1])
    fold = np.array([0, 0, 0, 0, 1, 1, 1, 1])
    horizon = np.array([1, 1, 2, 2, 1, 1, 2, 2])
    assert constant_sign_groups(pred, fold, horizon) == [(0, 1), (1, 1), (1, 2)]


# ---- the first-model rule -------------------------------------------------------------------------

def _panel_cells(n_days=240, coins=9, H=5, seed=0):
    """Flat walk-forward cells: realised with a common daily factor (co-moving coins)."""
    rng = np.random.default_rng(seed)
    day = np.repeat(np.arange(n_days), coins * H)
    common = rng.normal(0, 0.02, n_days)[day]
    y = common + rng.normal(0, 0.02, day.size)
    fold = day // max(1, n_days // 2)
    horizon = np.tile(np.repeat(np.arange(1, H + 1), 1), n_days * coins)
    return y, day, fold, horizon, rng


def _skilled(y, share, rng):
    right = rng.random(y.size) < share
    return np.where(right, np.sign(y), -np.sign(y)) * rng.uniform(0.001, 0.01, y.size)


def _naive(y, rng):
    return {n: rng.choice([-1.0, 1.0], y.size) * 0.001 for n in NAIVE_BASELINES if n != "random_walk"}


def test_first_model_with_real_skill_is_promoted_with_every_figure():
    y, day, fold, h, rng = _panel_cells()
    d = first_model(y, _skilled(y, 0.60, rng), day, fold, h, _naive(y, rng))
    assert d.promoted and d.reason.startswith("first model: promoted")
    assert d.challenger_da_ci[0] > 0.5 and d.challenger_da_ci[0] < d.challenger_da < d.challenger_da_ci[1]
    assert set(d.details["baseline_da"]) == set(NAIVE_BASELINES) and d.details["constant_sign"] == []
    assert d.details["baseline_da"]["random_walk"] == 0.5


def test_first_model_below_a_naive_rule_is_rejected():
    y, day, fold, h, rng = _panel_cells()
    base = _naive(y, rng)
    base["reversal_3"] = _skilled(y, 0.65, rng)  # one rule is better
    d = first_model(y, _skilled(y, 0.60, rng), day, fold, h, base)
    assert not d.promoted and "below reversal_3" in d.reason


def test_first_model_at_chance_is_rejected_by_its_interval():
    """DA a hair above 0.5 and above every (worse) baseline, but the interval reaches below 0.5."""
    y, day, fold, h, rng = _panel_cells(n_days=120)
    worse = {n: -np.sign(y) * 0.001 for n in NAIVE_BASELINES if n != "random_walk"}
    d = first_model(y, _skilled(y, 0.505, rng), day, fold, h, worse, PromotionConfig(first_model_baselines=
                                                                                      ("always_up",)))
    assert not d.promoted and "interval lower end" in d.reason and d.challenger_da_ci[0] <= 0.5


def test_first_model_constant_sign_is_rejected_with_the_reason():
    """A model built to be constant-sign: right on 60 % of the up-moves it calls, but always 'up' in fold 1 h2."""
    y, day, fold, h, rng = _panel_cells()
    pred = _skilled(y, 0.62, rng)
    cell = (fold == 1) & (h == 2)
    pred[cell] = np.abs(pred[cell])
    d = first_model(y, pred, day, fold, h, _naive(y, rng))
    assert not d.promoted and "constant-sign" in d.reason and "fold 1 h2" in d.reason
    assert d.details["constant_sign"] == ["fold 1 h2"]
    d2 = first_model(y, _skilled(y, 0.62, rng), day, fold, h, _naive(y, rng), constant_sign=["final model h4"])
    assert not d2.promoted and "final model h4" in d2.reason


def test_first_model_needs_every_baseline():
    y, day, fold, h, rng = _panel_cells(n_days=20)
    with pytest.raises(ValueError, match="momentum_1"):
        first_model(y, _skilled(y, 0.6, rng), day, fold, h, {"always_up": np.ones_like(y)})


# ---- challenger vs champion -----------------------------------------------------------------------

def test_clearly_better_challenger_is_promoted_with_interval_and_p():
    y, day, _, _, rng = _panel_cells(n_days=200)
    d = challenger_vs_champion(y, _skilled(y, 0.58, rng), _skilled(y, 0.50, rng), day)
    assert d.promoted and d.p_value < 0.05 and d.da_diff_ci[0] > 0 and d.challenger_da > d.champion_da
    assert d.n_cells == y.size and d.details["n_days"] == 200


def test_slightly_better_challenger_is_not_significant():
    y, day, _, _, rng = _panel_cells(n_days=40)
    ch, cp = _skilled(y, 0.51, rng), _skilled(y, 0.50, rng)
    d = challenger_vs_champion(y, ch, cp, day)
    if d.challenger_da > d.champion_da:
        assert not d.promoted and d.p_value >= 0.05 and "not significant" in d.reason
    else:
        assert not d.promoted and "not above the margin" in d.reason


def test_margin_and_alpha_are_respected():
    y, day, _, _, rng = _panel_cells(n_days=200)
    ch, cp = _skilled(y, 0.58, rng), _skilled(y, 0.50, rng)
    diff = challenger_vs_champion(y, ch, cp, day).details["da_diff"]
    assert not challenger_vs_champion(y, ch, cp, day, PromotionConfig(margin=diff + 0.001)).promoted
    weak = _skilled(y, 0.515, rng)
    p = challenger_vs_champion(y, weak, cp, day).p_value
    assert 0 < p < 0.5
    assert challenger_vs_champion(y, weak, cp, day, PromotionConfig(alpha=min(0.99, p + 0.01))).promoted
    strict = challenger_vs_champion(y, weak, cp, day, PromotionConfig(alpha=p))
    assert not strict.promoted and "not significant" in strict.reason


def test_constant_sign_challenger_is_rejected_whatever_its_da():
    y, day, _, _, rng = _panel_cells(n_days=200)
    d = challenger_vs_champion(y, _skilled(y, 0.7, rng), _skilled(y, 0.5, rng), day,
                               constant_sign=["fold 2 h1", "final model h1"])
    assert not d.promoted and "constant-sign" in d.reason and "final model h1" in d.reason


def test_too_few_common_cells_keeps_champion():
    y, day, _, _, rng = _panel_cells(n_days=1)
    d = challenger_vs_champion(y, _skilled(y, 0.9, rng), _skilled(y, 0.4, rng), day)
    assert not d.promoted and d.n_cells == 45 and "only 45" in d.reason


def test_reruns_give_the_same_decision():
    y, day, _, _, rng = _panel_cells(n_days=60)
    ch, cp = _skilled(y, 0.55, rng), _skilled(y, 0.5, rng)
    assert challenger_vs_champion(y, ch, cp, day) == challenger_vs_champion(y, ch, cp, day)


@pytest.mark.parametrize("bad", ["shape", "nan"])
def test_bad_input_is_an_error(bad):
    y, day, _, _, rng = _panel_cells(n_days=4)
    ch = _skilled(y, 0.6, rng)
    if bad == "shape":
        with pytest.raises(ValueError, match="differ in length"):
            challenger_vs_champion(y, ch[:-1], ch, day)
    else:
        ch[3] = np.nan
        with pytest.raises(ValueError, match="non-finite"):
            challenger_vs_champion(y, ch, ch, day)


def test_config_from_env():
    c = load_promotion({"CRYPTOLSTM_PROMOTION_MARGIN": "0.01", "CRYPTOLSTM_PROMOTION_ALPHA": "0.1",
                        "CRYPTOLSTM_PROMOTION_WEEKS": "3", "CRYPTOLSTM_PROMOTION_FIRST_MIN_LOWER": "0"})
    assert (c.margin, c.alpha, c.weeks, c.min_cells, c.first_model_min_lower) == (0.01, 0.1, 3, 90, 0.0)
    with pytest.raises(ValueError, match="CRYPTOLSTM_PROMOTION_ALPHA"):
        load_promotion({"CRYPTOLSTM_PROMOTION_ALPHA": "lots"})
