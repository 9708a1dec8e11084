"""Metrics: formulas on hand-checked inputs, input checks, block bootstrap behaviour."""

import json

import numpy as np
import pytest

from cryptolstm.evaluation import metrics
from cryptolstm.evaluation.scores import Summary


def test_mae_rmse_ratio():
    y, p = np.array([0.1, -0.2, 0.3]), np.array([0.0, -0.1, 0.1])
    assert metrics.mae(y, p) == pytest.approx((0.1 + 0.1 + 0.2) / 3)
    assert metrics.rmse(y, p) == pytest.approx(np.sqrt((0.01 + 0.01 + 0.04) / 3))
    assert metrics.mae_ratio_to_random_walk(y, p) == pytest.approx(metrics.mae(y, p) / (0.6 / 3))
    assert metrics.mae_ratio_to_random_walk(y, np.zeros(3)) == 1.0


def test_directional_accuracy_skips_zero_returns_and_half_scores_no_call():
    y = np.array([0.1, -0.1, 0.0, 0.2, -0.3])
    p = np.array([0.5, 0.5, 0.5, 0.0, -0.1])
    assert metrics.directional_accuracy(y, p) == pytest.approx((1 + 0 + 0.5 + 1) / 4)
    assert metrics.directional_accuracy(y, np.zeros(5)) == 0.5


def test_share_positive_and_path_error():
    assert metrics.share_positive(np.array([1.0, -1, 0, 2])) == 0.5
    y = np.log(np.array([[1.1, 1.2]]))
    p = np.log(np.array([[1.0, 1.3]]))
    assert metrics.path_error(y, p) == pytest.approx(0.1)


def test_input_checks():
    with pytest.raises(ValueError):
        metrics.mae(np.ones(3), np.ones(4))
    with pytest.raises(ValueError):
        metrics.mae(np.array([np.nan]), np.array([1.0]))
    with pytest.raises(ValueError):
        metrics.directional_accuracy(np.zeros(3), np.ones(3))


def test_pesaran_timmermann_detects_skill_and_not_noise():
    rng = np.random.default_rng(0)
    y = rng.normal(size=4000)
    stat, p = metrics.pesaran_timmermann(y, y + rng.normal(scale=1.0, size=4000))
    assert stat > 5 and p < 1e-6
    stat, p = metrics.pesaran_timmermann(y, rng.normal(size=4000))
    assert abs(stat) < 4 and p > 1e-4
    assert np.isnan(metrics.pesaran_timmermann(y, np.ones(4000))[0])  # always up: undefined


def test_block_bootstrap_interval_and_comparison():
    rng = np.random.default_rng(1)
    days = np.repeat(np.arange(300), 9)  # 9 coins per day
    common = np.repeat(rng.normal(size=300), 9)  # coins move together
    y = common + 0.3 * rng.normal(size=2700)
    good = y + rng.normal(scale=1.0, size=2700)
    noise = rng.normal(size=2700)
    out = metrics.block_bootstrap_da(y, good, days, {"noise": noise}, block=10, n_boot=500)
    lo, hi = out["da_ci"]
    assert lo < out["da"] < hi and out["n_days"] == 300
    assert out["vs"]["noise"]["ci"][0] > 0 and out["vs"]["noise"]["p_le_0"] < 0.01
    json.dumps(out)


def test_block_bootstrap_is_wider_than_iid_when_cells_co_move():
    rng = np.random.default_rng(2)
    days = np.repeat(np.arange(200), 9)
    y = np.repeat(rng.normal(size=200), 9)  # perfectly co-moving coins
    always_up = np.ones(1800)
    out = metrics.block_bootstrap_da(y, always_up, days, block=10, n_boot=1000)
    width = out["da_ci"][1] - out["da_ci"][0]
    iid_width = 2 * 1.96 * np.sqrt(0.25 / 1800)
    assert width > 2 * iid_width


def test_summary_is_json_able():
    rng = np.random.default_rng(3)
    y, p = rng.normal(size=(50, 5)), rng.normal(size=(50, 5))
    s = Summary.of(y, p).to_json()
    assert {"mae", "rmse", "da", "pt_p", "mae_ratio_rw", "share_positive", "path_error"} <= set(s)
    json.dumps(s)


def test_constant_sign_share_flags_input_independent_signs():
    folds = np.array([0, 0, 0, 1, 1, 1])
    const = np.array([[0.1, -0.2], [0.3, -0.1], [0.2, -0.4], [-1e-6, 1e-6], [-2e-6, 3e-6], [-1e-7, 1e-7]])
    assert metrics.constant_sign_share(const, folds) == 1.0  # tiny or not, the sign never moves within a fold
    varying = const.copy()
    varying[1, 0] = -0.3  # fold 0, horizon 1 now depends on the input
    assert metrics.constant_sign_share(varying, folds) == 0.75
    assert metrics.constant_sign_share(np.zeros((6, 2)), folds) == 1.0  # the random walk: a constant "no move"


def test_block_indices_are_runs_of_consecutive_days():
    idx = metrics.block_indices(23, 5, 50, seed=0)
    assert idx.shape == (50, 23) and idx.min() >= 0 and idx.max() <= 22
    for row in idx:
        for k in range(0, 20, 5):
            assert (np.diff(row[k:k + 5]) == 1).all()
    assert (metrics.block_indices(23, 5, 50, seed=0) == idx).all()  # fixed seed: reruns give the same decision
