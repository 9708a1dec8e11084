"""Walk-forward with TINY configurations: out-of-sample only, purge respected, metrics JSON-able."""

import json

import numpy as np
import pandas as pd
import pytest

from cryptolstm.evaluation import report as evaluate, walkforward as validation
from cryptolstm.modelling.train import TrainConfig, build_cube
from modelling_helpers import synthetic_panel

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def panel():  # three served coins and one auxiliary coin (trained on, never scored)
    return pd.concat([synthetic_panel(("BTC", "ETH", "SOL"), days=420),
                      synthetic_panel(("ATOM",), days=420, seed=4)], ignore_index=True)


@pytest.fixture(scope="module")
def result(panel):
    return validation.walk_forward(build_cube(panel), TrainConfig.tiny(window=15), n_folds=3, val_days=20)


def test_predictions_are_out_of_sample_with_purge(result):
    p = result.predictions
    assert list(p.columns) == ["fold", "coin", "as_of", "horizon", "pred_log_return", "realised_log_return"]
    assert len(result.folds) == 3
    for f in result.folds:
        cells = p[p.fold == f["fold"]]
        assert pd.Timestamp(cells.as_of.min()) >= pd.Timestamp(f["val_start"])
        assert pd.Timestamp(cells.as_of.max()) <= pd.Timestamp(f["val_end"])
        # every training target ends on or before the cutoff, 5 days before the first scored day
        assert (pd.Timestamp(f["val_start"]) - pd.Timestamp(f["cutoff"])).days == 6
    starts = [pd.Timestamp(f["val_start"]) for f in result.folds]
    assert starts == sorted(starts)
    assert np.isfinite(p[["pred_log_return", "realised_log_return"]].to_numpy()).all()


def test_realised_returns_are_the_log_close_ratios(result, panel):
    p = result.predictions
    row = p.iloc[7]
    close = panel.set_index(["coin", "day"])["close"]
    t = pd.Timestamp(row.as_of)
    expected = np.log(close[(row.coin, t + pd.Timedelta(days=int(row.horizon)))] / close[(row.coin, t)])
    assert row.realised_log_return == pytest.approx(expected, rel=1e-12)


def test_baselines_scored_on_the_same_cells_and_metrics_json(result):
    keys = ["fold", "coin", "as_of", "horizon"]
    assert result.baseline_predictions[keys].equals(result.predictions[keys])
    m = result.metrics
    json.dumps(m.to_json())
    assert 0 <= m.da <= 1
    assert {"random_walk", "always_up", "ridge", "gbm", "logit", "gbm_clf", "momentum_1", "reversal_1"} <= set(m.models)
    assert set(result.predictions["coin"]) == {"BTC", "ETH", "SOL"}  # ATOM is trained on, not scored
    assert m.model.overall.constant_sign_share < 1  # tiny profile: signs depend on the input
    assert set(m.bootstrap) == {"overall", "1", "2", "3", "4", "5"}
    assert m.models["random_walk"].overall.da == 0.5


def test_the_fold_models_learn_from_the_auxiliary_coin(result, panel):
    from cryptolstm.modelling.train import build_cube, fit

    cube = build_cube(panel)
    cutoff = result.folds[0]["cutoff"]
    m = fit(cube, cutoff, TrainConfig.tiny(window=15))
    assert m.coins == ("BTC", "ETH", "SOL", "ATOM")
    only = fit(build_cube(panel[panel.coin != "ATOM"]), cutoff, TrainConfig.tiny(window=15))
    assert m.info["n_fit_windows"] > only.info["n_fit_windows"]


def test_explicit_evaluation_window(panel):
    r = validation.walk_forward(build_cube(panel), TrainConfig.tiny(window=15, max_epochs=1), eval_start="2021-01-10",
                                eval_end="2021-01-31", with_baselines=False)
    p = r.predictions
    assert str(p.as_of.min()) == "2021-01-10" and str(p.as_of.max()) == "2021-01-31"
    assert len(r.folds) == 1 and r.folds[0]["cutoff"] == "2021-01-04"


def test_report_renders(result):
    report = {"data": {"coins": ["BTC"], "first_day": "x", "last_day": "y", "rows": 1}, "feature_version": "f",
              "n_folds": 3, "val_days": 20, "timing": {"walk_forward_lstm_s": 1.0},
              "variants": {"lstm": {"metrics": result.metrics.model.to_json(),
                                    "bootstrap": result.metrics.to_json()["bootstrap"], "folds": result.folds}},
              "baselines": {k: v.to_json() for k, v in result.metrics.baselines.items()},
              "cells": {"n_cells": 1, "n_as_of_days": 1, "first_as_of": "a", "last_as_of": "b"}}
    md = evaluate.render_markdown(report)
    assert "| lstm |" in md and "| reversal_3 |" in md and "h=5" in md
