"""fit / TrainedModel with TINY configurations: API shape, bundle round trip, determinism."""

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from cryptolstm.modelling import features
from cryptolstm.market import panel as panel_mod
from cryptolstm.modelling.train import TrainConfig, TrainedModel, build_cube, fit
from cryptolstm.modelling.bundle import BundleError
from modelling_helpers import synthetic_panel

pytestmark = pytest.mark.slow
CUTOFF = pd.Timestamp("2020-11-30")


@pytest.fixture(scope="module")
def panel():
    return synthetic_panel(("BTC", "ETH", "SOL"), days=400)


@pytest.fixture(scope="module")
def model(panel):
    return fit(build_cube(panel), CUTOFF.date(), TrainConfig.tiny(window=20))


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
    same = fit(build_cube(panel), CUTOFF, TrainConfig.tiny(window=20))
    other = fit(build_cube(panel), CUTOFF, TrainConfig.tiny(window=20, seed=7))
    a, b, c = (m.predict(panel, "2021-01-20")["pred_log_return"].to_numpy() for m in (model, same, other))
    assert np.array_equal(a, b)
    assert not np.array_equal(a, c)


@pytest.mark.parametrize("overrides", [dict(arch="bilstm"), dict(arch="cnn_lstm"), dict(per_coin=True),
                                       dict(n_seeds=2, dir_lambda=0.0)])
def test_ablations_train_and_predict(panel, overrides):
    m = fit(build_cube(panel), CUTOFF, TrainConfig.tiny(window=20, max_epochs=1, **overrides))
    p = m.predict(panel, "2021-01-20")
    assert len(p) == 15 and np.isfinite(p["pred_log_return"]).all()
    if overrides.get("per_coin"):
        assert set(m.members) == {"BTC", "ETH", "SOL"}
    TrainedModel.from_bytes(m.to_bytes())


def test_tiny_preset_is_small_and_keeps_the_default_loss_and_targets():
    t, d = TrainConfig.tiny(), TrainConfig()
    assert t.max_epochs <= 3 and t.lstm_units[0] <= 16 and t.window <= 20
    # tiny shrinks the network only: what the e2e tests serve learns like the default does
    for name in ("huber_delta", "dir_lambda", "dir_term", "target_scaling", "sign_head", "horizons", "purge"):
        assert getattr(t, name) == getattr(d, name), name
    assert TrainConfig.tiny(seed=3) == replace(t, seed=3) != t


def test_fit_on_the_cube_of_a_longer_history_equals_fit_on_the_history_cut_at_the_cutoff(panel, model):
    # `model` is fit on the whole history's cube, built once: fit must use its days <= the cutoff only
    again = fit(build_cube(panel_mod.until(panel, CUTOFF)), CUTOFF.date(), TrainConfig.tiny(window=20))
    assert again.coins == model.coins and again.info["n_fit_windows"] == model.info["n_fit_windows"]
    for a, b in zip(model.members["*"][0].get_weights(), again.members["*"][0].get_weights()):
        assert np.array_equal(a, b)
    assert np.array_equal(model.scaler.center, again.scaler.center)
    assert np.array_equal(model.scaler.target_scale, again.scaler.target_scale)


def test_training_progress_is_logged_per_epoch(panel, caplog):
    import logging

    with caplog.at_level(logging.INFO, logger="cryptolstm.training"):
        fit(build_cube(panel), CUTOFF, TrainConfig.tiny(window=20, max_epochs=2, patience=5), label="fold 2/5")
    lines = [r.getMessage() for r in caplog.records if r.name == "cryptolstm.training"]
    assert any(m.startswith("fold 2/5 epoch 1/2: ") and "val_loss" in m for m in lines)
    assert any(m.startswith("fold 2/5 epoch 2/2: ") for m in lines)
    assert any(m.startswith("fold 2/5: cutoff 2020-11-30") for m in lines)


def test_vol_scaled_targets_and_sign_head_train_and_serve_the_return_head(panel):
    from cryptolstm.modelling.bundle import target_cell_scale

    m = fit(build_cube(panel), CUTOFF, TrainConfig.tiny(window=20, target_scaling="vol", sign_head=1.0))
    assert len(m.members["*"][0].outputs) == 2  # the return head and the sign head
    p = m.predict(panel, "2021-01-20")
    assert len(p) == 15 and np.isfinite(p["pred_log_return"]).all()
    # the served number is the return head, scaled back by rv_30 at t * sqrt(h)
    cube = m.cube(panel)
    t = np.full(3, cube.day_index("2021-01-20"))
    scale = target_cell_scale(cube, np.arange(3), t, m.config)
    rv = features.build_features(panel).set_index(["coin", "day"]).loc[("ETH", pd.Timestamp("2021-01-20")), "rv_30"]
    assert np.allclose(scale[1], max(rv, 0.005) * np.sqrt(np.arange(1, 6)))
    x = m.scaler.transform(cube.x[np.arange(3)[:, None], t[:, None] + np.arange(-19, 1)[None, :]])
    head = m.members["*"][0].predict([x, np.arange(3, dtype=np.int32)], verbose=0)[0]
    np.testing.assert_allclose(p["pred_log_return"].to_numpy().reshape(3, 5),
                               m.scaler.unscale_targets(head) * scale, rtol=1e-5)
    again = TrainedModel.from_bytes(m.to_bytes())
    pd.testing.assert_frame_equal(p, again.predict(panel, "2021-01-20"), check_exact=True)


def test_a_model_of_an_older_universe_serves_a_panel_with_more_coins(panel, model):
    more = pd.concat([panel, synthetic_panel(("ATOM", "XMR"), days=400, seed=9, late_start={})],
                     ignore_index=True)
    assert model.coins == ("BTC", "ETH", "SOL")  # the vocabulary it was trained on
    pd.testing.assert_frame_equal(model.predict(more, "2021-01-20"), model.predict(panel, "2021-01-20"),
                                  check_exact=True)
    # and a model trained on the wider universe keeps the served coins' stable ids first
    wide = fit(build_cube(more), CUTOFF, TrainConfig.tiny(window=20, max_epochs=1))
    assert wide.coins == ("BTC", "ETH", "SOL", "ATOM", "XMR")


def test_refit_all_learns_the_early_stopping_block_but_nothing_after_the_cutoff(panel, model):
    refit = fit(build_cube(panel), CUTOFF, TrainConfig.tiny(window=20, refit_all=True))
    assert refit.info["refit_epochs"] and all(1 <= e <= 2 for e in refit.info["refit_epochs"])
    # the refit's fitting cells reach past the ES-only model's, up to the last target known at the cutoff
    assert pd.Timestamp(refit.info["last_fit_as_of"]) > pd.Timestamp(model.info["last_fit_as_of"])
    assert pd.Timestamp(refit.info["last_fit_as_of"]) + pd.Timedelta(days=5) <= CUTOFF
    assert pd.Timestamp(refit.info["last_target_day"]) <= CUTOFF
    a = refit.predict(panel, "2021-01-20")["pred_log_return"].to_numpy()
    b = model.predict(panel, "2021-01-20")["pred_log_return"].to_numpy()
    assert np.isfinite(a).all() and not np.array_equal(a, b)
