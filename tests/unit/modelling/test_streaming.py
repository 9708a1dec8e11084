"""fit streams its training windows from the cube batch by batch: with the same seed and batch order it
trains the same model as the materialised path (every window gathered, scaled and handed to Keras at once),
which is kept here as the reference."""

import numpy as np
import pandas as pd
import pytest

from cryptolstm.market import panel as panel_mod
from cryptolstm.modelling import train, windows
from cryptolstm.modelling.train import TrainConfig

pytestmark = pytest.mark.slow
CUTOFF = pd.Timestamp("2020-09-30")
AS_OF = pd.Timestamp("2020-10-20")
TOL = 1e-5  # float32 tolerance: the two paths feed bit-identical batches


def materialised(cube, cells, y, scaler, config, *, batch_size, shuffle_seed=None, two_heads=False):
    """The path before streaming: every window gathered (float64), scaled to a float32 copy, then copied
    into `from_tensor_slices`; the early-stopping windows handed to Keras as arrays."""
    import tensorflow as tf

    x = scaler.transform(windows.gather_windows(cube.x, cells.coin, cells.t, config.window))  # [N, T, F]
    coin = cells.coin.astype(np.int32)
    y = (y, (y > 0).astype(np.float32)) if two_heads else y
    if shuffle_seed is None:  # validation_data as arrays: Keras evaluates them in order, 32 cells a batch
        return (x, coin), y
    return (tf.data.Dataset.from_tensor_slices(((x, coin), y))
            .shuffle(len(cells.t), seed=shuffle_seed, reshuffle_each_iteration=True)
            .batch(batch_size).prefetch(2))


@pytest.fixture(scope="module")
def recorded(shared_data):
    return panel_mod.load_csv_dir(shared_data)


def _compare(recorded, config, monkeypatch):
    cube = train.build_cube(panel_mod.until(recorded, AS_OF))
    streamed = train.fit(cube, CUTOFF, config)
    with monkeypatch.context() as m:
        m.setattr(train, "_stream", materialised)
        reference = train.fit(cube, CUTOFF, config)
    assert streamed.info["epochs"] == reference.info["epochs"]
    assert streamed.info["n_fit_windows"] == reference.info["n_fit_windows"] > 1000
    weights = [(a, b) for key in reference.members for ma, mb in zip(streamed.members[key], reference.members[key])
               for a, b in zip(ma.get_weights(), mb.get_weights())]
    dw = max(float(np.abs(a - b).max()) for a, b in weights)
    p, q = streamed.predict(recorded, AS_OF.date()), reference.predict(recorded, AS_OF.date())
    dp = float(np.abs(p["pred_log_return"] - q["pred_log_return"]).max())
    print(f"streamed vs materialised: max |weight diff| {dw:.3g}, max |prediction diff| {dp:.3g}")
    assert dw <= TOL and dp <= TOL
    return streamed, reference


def test_streamed_fit_equals_the_materialised_fit_on_the_recorded_data(recorded, monkeypatch):
    streamed, _ = _compare(recorded, TrainConfig.tiny(), monkeypatch)
    assert len(streamed.coins) == 9


def test_streamed_refit_and_seed_ensemble_with_a_sign_head_equal_the_materialised_ones(recorded, monkeypatch):
    few = recorded[recorded["coin"].isin(["BTC", "ETH", "SOL"])]
    config = TrainConfig.tiny(refit_all=True, n_seeds=2, sign_head=1.0, max_epochs=1)
    streamed, _ = _compare(few, config, monkeypatch)
    assert streamed.info["refit_epochs"] == [1, 1] and len(streamed.members["*"]) == 2
