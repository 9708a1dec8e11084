"""fit / TrainedModel with TINY configurations: API shape, bundle round trip, determinism."""

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from cryptolstm.modelling import features
from cryptolstm.modelling.train import TrainConfig, TrainedModel, fit
from cryptolstm.modelling.bundle import BundleError
from modelling_helpers import synthetic_panel

pytestmark = pytest.mark.slow
CUTOFF = pd.Timestamp("2020-11-30")


@pytest.fixture(scope="module")
def panel():
    return synthetic_panel(("BTC", "ETH", "SOL"), days=400)


@pytest.fixture(scope="module")
def model(panel):
    return fit(panel, CUTOFF.date(), TrainConfig.tiny(window=20))


def test_trained_model_attributes(model):
    import json

    assert model.feature_version == features.FEATURE_VERSION
    assert model.training_cutoff == CUTOFF.date()
    assert model.coins == ("BTC", "ETH", "SOL")
    hp = model.hyperparams()
    json.dumps(hp)
    assert hp["window"] == 20 and hp["feature_version"] == features.FEATURE_VERSION
    assert pd.Timestamp(hp["last_target_day"]) <= CUTOFF


def test_predict_frame(model, panel):
    as_of = pd.Timestamp("2021-01-20").date()
    p = model.predict(panel, as_of)
    assert list(p.columns) == ["coin", "as_of", "horizon", "pred_log_return"]
    assert len(p) == 15 and set(p["horizon"]) == {1, 2, 3, 4, 5}
    assert (p["as_of"] == as_of).all() and np.isfinite(p["pred_log_return"]).all()
    only = model.predict(panel, as_of, coins=["ETH"])
    assert set(only["coin"]) == {"ETH"}
    np.testing.assert_array_equal(only["pred_log_return"], p.loc[p.coin == "ETH", "pred_log_return"])


def test_predict_refuses_unknown_coins_and_missing_windows(model, panel):
    with pytest.raises(ValueError):
        model.predict(panel, "2021-01-20", coins=["XRP"])
    with pytest.raises(ValueError):  # SOL is listed on 2020-03-01: no full window + warm-up yet
        model.predict(panel, "2020-05-01", coins=["SOL"])
    early = model.predict(panel, "2020-05-01")
    assert set(early["coin"]) == {"BTC", "ETH"}


def test_bundle_round_trip_gives_identical_predictions(model, panel):
    b = model.to_bytes()
    again = TrainedModel.from_bytes(b)
    assert again.training_cutoff == model.training_cutoff and again.config == model.config
    assert again.coins == model.coins and again.feature_version == model.feature_version
    pd.testing.assert_frame_equal(model.predict(panel, "2021-01-20"), again.predict(panel, "2021-01-20"),
                                  check_exact=True)


@pytest.mark.parametrize("garbage", [b"", b"not a zip", b"PK\x03\x04junk"])
def test_loading_garbage_fails_loudly(garbage):
    with pytest.raises(BundleError):
        TrainedModel.from_bytes(garbage)


def test_truncated_bundle_fails_loudly(model):
    b = model.to_bytes()
    with pytest.raises(BundleError):
        TrainedModel.from_bytes(b[: len(b) // 2])


def test_same_seed_same_model_different_seed_different_model(panel, model):
    same = fit(panel, CUTOFF, TrainConfig.tiny(window=20))
    other = fit(panel, CUTOFF, TrainConfig.tiny(window=20, seed=7))
    a, b, c = (m.predict(panel, "2021-01-20")["pred_log_return"].to_numpy() for m in (model, same, other))
    assert np.array_equal(a, b)
    assert not np.array_equal(a, c)


@pytest.mark.parametrize("overrides", [dict(arch="bilstm"), dict(arch="cnn_lstm"), dict(per_coin=True),
                                       dict(n_seeds=2, dir_lambda=0.0)])
def test_ablations_train_and_predict(panel, overrides):
    m = fit(panel, CUTOFF, TrainConfig.tiny(window=20, max_epochs=1, **overrides))
    p = m.predict(panel, "2021-01-20")
    assert len(p) == 15 and np.isfinite(p["pred_log_return"]).all()
    if overrides.get("per_coin"):
        assert set(m.members) == {"BTC", "ETH", "SOL"}
    TrainedModel.from_bytes(m.to_bytes())


def test_tiny_preset_is_small():
    t = TrainConfig.tiny()
    assert t.max_epochs <= 3 and t.lstm_units[0] <= 16
    assert replace(t, seed=3).seed == 3


def test_refit_all_learns_the_early_stopping_block_but_nothing_after_the_cutoff(panel, model):
    refit = fit(panel, CUTOFF, TrainConfig.tiny(window=20, refit_all=True))
    assert refit.info["refit_epochs"] and all(1 <= e <= 2 for e in refit.info["refit_epochs"])
    # the refit's fitting cells reach past the ES-only model's, up to the last target known at the cutoff
    assert pd.Timestamp(refit.info["last_fit_as_of"]) > pd.Timestamp(model.info["last_fit_as_of"])
    assert pd.Timestamp(refit.info["last_fit_as_of"]) + pd.Timedelta(days=5) <= CUTOFF
    assert pd.Timestamp(refit.info["last_target_day"]) <= CUTOFF
    a = refit.predict(panel, "2021-01-20")["pred_log_return"].to_numpy()
    b = model.predict(panel, "2021-01-20")["pred_log_return"].to_numpy()
    assert np.isfinite(a).all() and not np.array_equal(a, b)
