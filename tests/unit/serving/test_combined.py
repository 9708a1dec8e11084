"""Serving a combination (issue 28): the classifier stored as numbers, the bundle's refusal of a missing or
non-finite combination, and a combined forecast of day t that depends on candles <= t only."""

import numpy as np
import pandas as pd
import pytest

from cryptolstm.evaluation import baselines, combination
from cryptolstm.modelling import features, train
from cryptolstm.modelling.bundle import BundleError, TrainedModel
from cryptolstm.modelling.train import TrainConfig
from cryptolstm.serving import combined
from modelling_helpers import synthetic_panel, with_garbage_after

CUTOFF = pd.Timestamp("2020-11-30")


@pytest.fixture(scope="module")
def panel():
    return synthetic_panel(("BTC", "ETH", "SOL"), days=400)


@pytest.fixture(scope="module")
def served(panel):
    prepared = train.prepare_fit(train.build_cube(panel), CUTOFF, TrainConfig.tiny(window=20))
    scales, clf = combined.final_period(prepared, TrainConfig.tiny(window=20), [0.002] * 5)
    return combination.ServedCombination("stacked", scales, combination.StackWeights.equal(), clf)


def test_the_stored_classifier_predicts_what_the_fitted_one_does(panel):
    f = features.build_features(panel)
    y = np.random.default_rng(0).normal(size=(len(f), 5))
    clf = baselines.LogisticBaseline().fit(f, y)
    np.testing.assert_allclose(baselines.prob_up_of(clf.params(), f), clf.prob_up(f), rtol=1e-10, atol=1e-12)


def test_a_day_s_combined_forecast_uses_candles_up_to_that_day_only(panel, served):
    day = pd.Timestamp("2021-01-20")
    preds = pd.DataFrame({"coin": np.repeat(["BTC", "ETH", "SOL"], 5), "as_of": day.date(),
                          "horizon": np.tile(np.arange(1, 6), 3), "pred_log_return": np.linspace(-0.01, 0.01, 15)})

    def rows(p):
        f = features.build_features(p[p["day"] <= day])
        return f[f["day"] == day]

    a = combined.combine_day(served, preds, rows(panel))
    b = combined.combine_day(served, preds, rows(with_garbage_after(panel, day)))
    pd.testing.assert_frame_equal(a, b, check_exact=True)  # the future scrambled: bit for bit the same
    assert np.isfinite(a["pred_log_return"]).all() and not np.allclose(a["pred_log_return"], preds["pred_log_return"])
    with pytest.raises(combination.CombinationError, match="no feature row"):  # a coin in warm-up: no forecast
        combined.combine_day(served, preds, rows(panel).query("coin != 'SOL'"))


def test_a_served_combination_round_trips_and_refuses_what_is_missing_or_not_finite(served):
    d = served.to_json()
    assert combination.ServedCombination.from_json(d) == served
    bad = {**d, "weights": {**d["weights"], "weights": [[float("nan")] * 5] * 5}}
    with pytest.raises(combination.CombinationError):
        combination.ServedCombination.from_json(bad)
    with pytest.raises(combination.CombinationError):
        combination.ServedCombination.from_json({**d, "weights": None})


@pytest.mark.slow
def test_a_bundle_that_serves_a_combination_is_refused_without_a_complete_finite_one(panel, served):
    model = train.fit(train.build_cube(panel), CUTOFF, TrainConfig.tiny(window=20, max_epochs=1, combination="stacked"))
    with pytest.raises(BundleError, match="combination"):  # the gather has not fitted it: refused at load
        TrainedModel.from_bytes(model.to_bytes())
    assert TrainedModel.from_bytes(model.to_bytes(), part=True).combination is None  # a member part may lack it
    good = model.with_combination(served.to_json())
    again = TrainedModel.from_bytes(good.to_bytes())
    assert combination.ServedCombination.from_json(again.combination) == served
    assert again.hyperparams()["served_combination"]["weights"] == served.to_json()["weights"]
    # the cells' combined forecast (the gate's constant-sign check) is the day's forecast (the daily run's)
    cube = train.build_cube(panel)
    day = pd.Timestamp("2021-01-20")
    d = cube.day_index(day)
    coin = np.arange(len(cube.coins))
    cells = combined.predict_cells(again, cube, coin, np.full(len(coin), d))  # [N, H]
    f = features.build_features(panel)
    daily = combined.combine_day(served, again.predict(panel, day), f[f["day"] == day])
    np.testing.assert_allclose(daily["pred_log_return"].to_numpy().reshape(-1, 5), cells, rtol=1e-12, atol=1e-15)
    d = served.to_json()
    for broken in ({**d, "weights": {**d["weights"], "weights": [[float("inf")] * 5] * 5}}, {**d, "weights": None},
                   {**d, "method": "blend_equal"}):
        with pytest.raises(BundleError):
            model.with_combination(broken)
    # a stored bundle whose combination was altered after it was written is refused like any corruption
    import io
    import json
    import zipfile

    raw = io.BytesIO(good.to_bytes())
    src = zipfile.ZipFile(raw)
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        for name in src.namelist():
            data = src.read(name)
            if name == "meta.json":
                meta = json.loads(data)
                meta["combination"]["scales"]["lstm"][0] = float("nan")
                data = json.dumps(meta).encode()
            z.writestr(name, data)
    with pytest.raises(BundleError, match="non-finite"):
        TrainedModel.from_bytes(out.getvalue())
