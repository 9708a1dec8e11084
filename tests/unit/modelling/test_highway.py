"""Issue 28: the linear highway (`TrainConfig.highway`) and each member's training-period prediction scale."""

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


@pytest.mark.slow
def test_each_member_stores_its_prediction_scale_and_the_ensemble_their_mean(panel):
    cube = build_cube(panel)
    cfg = TrainConfig.tiny(window=20, max_epochs=1, n_seeds=2)
    prepared = train.prepare_fit(cube, CUTOFF, cfg)
    parts = [train.fit_member(prepared, cfg, i) for i in range(2)]
    for part in parts:
        scale = part.info["pred_scale"]
        # the sd of its own predictions on the early-stopping cells (before the cutoff, never fitted on)
        es = prepared.es_cells
        assert len(es.t) > 0 and prepared.cube.days[es.t.max()] <= CUTOFF
        expected = part.predict_cells(prepared.cube, es.coin, es.t).std(axis=0)
        assert len(scale) == cfg.horizons and np.all(np.isfinite(scale)) and np.all(np.asarray(scale) > 0)
        np.testing.assert_array_equal(scale, expected)
    joined = TrainedModel.join(parts)
    assert joined.info["member_pred_scale"] == [p.info["pred_scale"] for p in parts]
    np.testing.assert_allclose(joined.info["pred_scale"], np.mean([p.info["pred_scale"] for p in parts], axis=0))
    again = TrainedModel.from_bytes(joined.to_bytes())  # the scale travels with the bundle
    assert again.info["pred_scale"] == joined.info["pred_scale"]
