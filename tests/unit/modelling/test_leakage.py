"""Truncation invariance: what the system computes for day t must not depend on anything after t.

Each quantity for as-of day t is computed (a) on the history cut at t, (b) on the full history and
(c) on the full history with every value after t replaced by garbage; all three must be equal BIT
FOR BIT. And a model trained with cutoff T must be unaffected by anything after T.
"""

import numpy as np
import pandas as pd
import pytest

from cryptolstm.modelling import features, windows

from cryptolstm.market import panel
from cryptolstm.modelling.scaling import RobustScaler
from modelling_helpers import synthetic_panel, with_garbage_after

T_DAY = pd.Timestamp("2020-10-15")
COINS = ("BTC", "ETH", "SOL")
W = 20


@pytest.fixture(scope="module")
def histories():
    full = synthetic_panel(COINS, days=400)
    return {"cut": panel.until(full, T_DAY), "full": full, "garbage": with_garbage_after(full, T_DAY)}


def test_garbage_really_differs_after_t(histories):
    late = histories["full"]["day"] > T_DAY
    assert not np.allclose(histories["full"].loc[late, "close"], histories["garbage"].loc[late, "close"])


def test_features_up_to_t_are_identical(histories):
    frames = [features.build_features(h) for h in histories.values()]
    frames = [f[f["day"] <= T_DAY].reset_index(drop=True) for f in frames]
    assert frames[0]["day"].max() == T_DAY
    for f in frames[1:]:
        pd.testing.assert_frame_equal(frames[0], f, check_exact=True)


def _cube(h):
    return windows.build_cube(features.build_features(h), h, COINS, list(features.FEATURES))


def test_windows_and_scaled_inputs_ending_at_t_are_identical(histories):
    cubes = [_cube(h) for h in histories.values()]
    rng = np.random.default_rng(0)
    scaler = RobustScaler.fit(rng.normal(size=(500, len(features.FEATURES))), rng.normal(size=(500, 5)))
    outs = []
    for cube in cubes:
        d = cube.day_index(T_DAY)
        plan = windows.index_plan(~np.isnan(cube.x).any(axis=2), ~np.isnan(cube.log_close), W, 5, first=d, last=d)
        x = windows.gather_windows(cube.x, plan.coin, plan.t, W)
        outs.append((plan.coin, x, scaler.transform(x)))
    assert len(outs[0][0]) == 3
    for coin, x, z in outs[1:]:
        assert np.array_equal(coin, outs[0][0])
        assert np.array_equal(x, outs[0][1])
        assert np.array_equal(z, outs[0][2])


def test_trainable_cells_never_reach_past_the_cutoff(histories):
    cube = _cube(histories["full"])
    cut = cube.day_index(T_DAY)
    plan = windows.index_plan(~np.isnan(cube.x).any(axis=2), ~np.isnan(cube.log_close), W, 5, target_until=cut)
    assert (plan.t[plan.trainable] + 5 <= cut).all()
    assert (plan.t[~plan.trainable] + 5 > cut).any()  # the tail is forecastable but not trainable


@pytest.fixture(scope="module")
def tiny_model(histories):
    from cryptolstm.modelling.train import TrainConfig, build_cube, fit

    cfg = TrainConfig.tiny(window=W)
    return fit(build_cube(histories["full"]), T_DAY - pd.Timedelta(days=30), cfg), cfg


def test_prediction_for_t_is_identical(histories, tiny_model):
    model, _ = tiny_model
    preds = [model.predict(h, T_DAY) for h in histories.values()]
    assert len(preds[0]) == 3 * 5
    for p in preds[1:]:
        pd.testing.assert_frame_equal(preds[0], p, check_exact=True)


def test_prediction_from_features_built_once_is_identical(histories, tiny_model):
    """The daily run builds the features once (stored in `features`) and hands them to the model."""
    model, _ = tiny_model
    for h in histories.values():
        once = features.build_features(h)  # the full frame: rows after t must be ignored
        pd.testing.assert_frame_equal(model.predict(h, T_DAY), model.predict(h, T_DAY, features=once),
                                      check_exact=True)


def test_a_model_trained_with_cutoff_never_sees_later_data(histories, tiny_model):
    from cryptolstm.modelling.train import build_cube, fit

    model, cfg = tiny_model
    cutoff = model.training_cutoff
    assert pd.Timestamp(model.info["last_target_day"]) <= pd.Timestamp(cutoff)
    # retrain with everything after the cutoff replaced by garbage: same seed -> the same model
    other = fit(build_cube(with_garbage_after(histories["full"], cutoff)), cutoff, cfg)
    for a, b in zip(model.members["*"][0].get_weights(), other.members["*"][0].get_weights()):
        assert np.array_equal(a, b)
    assert np.array_equal(model.scaler.center, other.scaler.center)
    assert np.array_equal(model.scaler.target_scale, other.scaler.target_scale)
