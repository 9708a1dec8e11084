"""A trained model carries the description of its training inputs (bundle and registry hyperparams), assesses
a day's windows against it without changing any forecast, flags garbage and non-finite inputs, and an
older bundle without the description still loads and predicts."""

from __future__ import annotations

import io
import json
import zipfile

import numpy as np
import pandas as pd
import pytest

from cryptolstm.modelling import features
from cryptolstm.modelling.bundle import DRIFT_COLUMNS, TrainedModel
from cryptolstm.modelling.train import TrainConfig, build_cube, fit
from modelling_helpers import synthetic_panel, with_garbage_after

pytestmark = pytest.mark.slow
CUTOFF = pd.Timestamp("2020-11-30")
COINS = ["BTC", "ETH", "SOL"]


@pytest.fixture(scope="module")
def panel():
    return synthetic_panel(tuple(COINS), days=400)


@pytest.fixture(scope="module")
def model(panel):
    return fit(build_cube(panel), CUTOFF.date(), TrainConfig.tiny(window=20))


def test_the_description_is_kept_in_the_bundle_and_the_hyperparams(model):
    d = model.input_description
    assert d is not None and d.feature_names == tuple(features.FEATURES) and d.threshold > 0
    hp = model.hyperparams()
    assert hp["input_description"] == d.summary() and "reference" not in hp["input_description"]
    json.dumps(hp)
    back = TrainedModel.from_bytes(model.to_bytes())
    assert np.array_equal(back.input_description.reference, d.reference)
    assert back.input_description.summary() == d.summary()


def test_days_like_the_training_ones_are_mostly_not_flagged_and_garbage_is(model, panel):
    inside = [model.input_drift(panel, day, COINS) for day in pd.date_range("2020-09-01", CUTOFF, freq="3D")]
    after = [model.input_drift(panel, day, COINS) for day in pd.date_range("2020-12-01", "2021-01-31", freq="3D")]
    rate_in = pd.concat(inside)["input_drifted"].mean()
    rate_after = pd.concat(after)["input_drifted"].mean()
    assert rate_in <= 0.1 and rate_after <= 0.25, (rate_in, rate_after)
    bad = with_garbage_after(panel, CUTOFF)
    flagged = pd.concat([model.input_drift(bad, day, COINS) for day in pd.date_range("2021-01-10", "2021-02-03")])
    assert flagged["input_drifted"].all() and flagged["input_drift_cause"].str.startswith("distance").all()
    assert list(flagged.columns) == DRIFT_COLUMNS


def test_assessing_drift_never_changes_a_forecast(model, panel):
    as_of = pd.Timestamp("2021-01-20").date()
    before = model.predict(panel, as_of)
    model.input_drift(panel, as_of, COINS)
    after = model.predict(panel, as_of)
    bare = TrainedModel(model.members, model.scaler, model.config, model.feature_version, model.training_cutoff,
                        model.coins, model.info)  # the same network without a description
    pd.testing.assert_frame_equal(before, after)
    pd.testing.assert_frame_equal(before, bare.predict(panel, as_of))


def test_an_infinite_feature_is_flagged_with_its_name(model, panel):
    as_of = pd.Timestamp("2021-01-20")
    f = features.build_features(panel)
    f.loc[(f["coin"] == "ETH") & (f["day"] == as_of - pd.Timedelta(days=3)), "vol_rel"] = np.inf
    r = model.input_drift(panel, as_of, COINS, features=f).set_index("coin")
    assert bool(r.at["ETH", "input_drifted"]) and np.isnan(r.at["ETH", "input_distance"])
    assert r.at["ETH", "input_drift_cause"] == "non-finite feature(s): vol_rel"
    assert r.at["BTC", "input_drift_cause"] is None or bool(r.at["BTC", "input_drifted"])


def test_a_bundle_without_the_description_still_loads_and_predicts(model, panel):
    raw = io.BytesIO(model.to_bytes())
    out = io.BytesIO()
    with zipfile.ZipFile(raw) as zin, zipfile.ZipFile(out, "w") as zout:
        for item in zin.infolist():
            data = zin.read(item.filename)
            if item.filename == "meta.json":
                meta = json.loads(data)
                del meta["input_description"]
                data = json.dumps(meta).encode()
            zout.writestr(item, data)
    old = TrainedModel.from_bytes(out.getvalue())
    assert old.input_description is None and "input_description" not in old.hyperparams()
    as_of = pd.Timestamp("2021-01-20").date()
    pd.testing.assert_frame_equal(old.predict(panel, as_of), model.predict(panel, as_of))
    with pytest.raises(ValueError, match="no training description"):
        old.input_drift(panel, as_of, COINS)
