"""Issue 28: the linear highway (`TrainConfig.highway`)."""

import numpy as np
import pandas as pd
import pytest

from cryptolstm.modelling import train
from cryptolstm.modelling.bundle import TrainedModel
from cryptolstm.modelling.model import build_model
from cryptolstm.modelling.train import TrainConfig, build_cube, fit
from modelling_helpers import synthetic_panel

CUTOFF = pd.Timestamp("2020-11-30")


def _names(model) -> set[str]:
    return {layer.name for layer in model.layers}


def test_the_highway_exists_only_when_asked_and_keeps_the_head_shape():
    plain = build_model("lstm", window=7, n_features=5, n_coins=3, lstm_units=(4, 2), dense_units=4)
    hw = build_model("lstm", window=7, n_features=5, n_coins=3, lstm_units=(4, 2), dense_units=4, highway=True)
    assert "highway" not in _names(plain) and {"highway", "head", "forecast"} <= _names(hw)
    x = np.random.default_rng(0).normal(size=(6, 7, 5)).astype("float32")  # [B, T, F]
    coin = np.array([0, 1, 2, 0, 1, 2], dtype="int32")  # [B]
    assert hw.predict([x, coin], verbose=0).shape == (6, 5)  # [B, H]
    # the highway's input is the last day's features (F) and the coin embedding (E = 4)
    assert hw.get_layer("highway").kernel.shape == (5 + 4, 5)
    # ... and only the last day: zeroing the recurrent head leaves exactly the highway's linear map of x[:, -1]
    hw.get_layer("head").set_weights([np.zeros_like(w) for w in hw.get_layer("head").get_weights()])
    earlier = x.copy()
    earlier[:, :-1] += 3.0
    np.testing.assert_allclose(hw.predict([earlier, coin], verbose=0), hw.predict([x, coin], verbose=0), atol=1e-6)


@pytest.fixture(scope="module")
def panel():
    return synthetic_panel(("BTC", "ETH", "SOL"), days=400)


@pytest.mark.slow
def test_a_highway_model_trains_saves_and_loads_bit_identically(panel):
    m = fit(build_cube(panel), CUTOFF, TrainConfig.tiny(window=20, max_epochs=1, highway=True))
    assert "highway" in _names(m.members["*"][0])
    again = TrainedModel.from_bytes(m.to_bytes())
    assert again.config.highway and "highway" in _names(again.members["*"][0])
    pd.testing.assert_frame_equal(m.predict(panel, "2021-01-20"), again.predict(panel, "2021-01-20"),
                                  check_exact=True)
