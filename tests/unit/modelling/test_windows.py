"""The index arithmetic: windows ending at t, targets t+1..t+H, trainable vs forecastable, folds + purge."""

import numpy as np
import pytest

from cryptolstm.modelling import windows


def test_window_needs_T_consecutive_valid_rows_ending_at_t():
    valid = np.array([[True] * 10, [True, True, True, False, True, True, True, True, True, True]])
    has_close = np.ones_like(valid)
    plan = windows.index_plan(valid, has_close, T=3, H=2)
    got = set(zip(plan.coin.tolist(), plan.t.tolist()))
    assert got == {(0, t) for t in range(2, 10)} | {(1, 2)} | {(1, t) for t in range(6, 10)}


def test_cells_are_chronological_then_by_coin():
    valid = np.ones((3, 6), bool)
    plan = windows.index_plan(valid, valid, T=2, H=1)
    assert plan.t.tolist() == sorted(plan.t.tolist())
    assert plan.coin[:3].tolist() == [0, 1, 2]


def test_trainable_iff_all_h_closes_exist_up_to_target_until():
    valid = np.ones((1, 12), bool)
    has_close = np.ones((1, 12), bool)
    has_close[0, 9] = False
    plan = windows.index_plan(valid, has_close, T=1, H=2, target_until=10)
    trainable = plan.t[plan.trainable].tolist()
    # t + 2 <= 10 and closes at t, t+1, t+2 present (day 9 missing kills t = 7, 8, 9)
    assert trainable == [0, 1, 2, 3, 4, 5, 6]
    # forecastable cells include the untrainable tail
    assert plan.t.tolist() == list(range(12))


def test_first_last_restrict_as_of_days():
    valid = np.ones((2, 20), bool)
    plan = windows.index_plan(valid, valid, T=5, H=5, first=8, last=10)
    assert sorted(set(plan.t.tolist())) == [8, 9, 10]
    plan = windows.index_plan(valid, valid, T=5, H=5, first=0, last=2)
    assert len(plan.t) == 0  # t < T - 1 has no full window


def test_gather_windows_and_targets_index_exactly():
    x = np.arange(2 * 10 * 1, dtype=float).reshape(2, 10, 1)  # x[c, d, 0] = 10 c + d
    logc = np.arange(20, dtype=float).reshape(2, 10) ** 2
    coin, t = np.array([0, 1]), np.array([4, 9])
    w = windows.gather_windows(x, coin, t, T=3)
    assert w.shape == (2, 3, 1)
    assert w[0, :, 0].tolist() == [2, 3, 4] and w[1, :, 0].tolist() == [17, 18, 19]
    y = windows.gather_targets(logc, coin, t, H=2)
    assert y[0].tolist() == [logc[0, 5] - logc[0, 4], logc[0, 6] - logc[0, 4]]
    assert np.isnan(y[1]).all()  # t + h off the calendar


def test_targets_are_log_returns_of_close():
    close = np.array([[100.0, 110.0, 99.0, 120.0, 130.0, 125.0, 140.0]])
    y = windows.gather_targets(np.log(close), np.array([0]), np.array([1]), H=5)
    np.testing.assert_allclose(y[0], np.log(close[0, 2:7] / close[0, 1]))


def test_fold_bounds_expanding_with_purge():
    folds = windows.fold_bounds(end=999, n_folds=5, val_days=100, purge=5)
    assert [f.val_start for f in folds] == [500, 600, 700, 800, 900]
    assert folds[-1].val_end == 999
    for f, g in zip(folds, folds[1:]):
        assert g.val_start == f.val_end + 1  # contiguous scored blocks
        assert g.cutoff > f.cutoff  # expanding training window
    for f in folds:
        # the last training target ends at cutoff; 5 whole days lie between it and the first scored day
        assert f.val_start - f.cutoff - 1 == 5


def test_fold_bounds_rejects_impossible_requests():
    with pytest.raises(ValueError):
        windows.fold_bounds(end=50, n_folds=5, val_days=100, purge=5)
    with pytest.raises(ValueError):
        windows.fold_bounds(end=500, n_folds=0, val_days=10, purge=5)
