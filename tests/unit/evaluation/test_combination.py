"""Issue 28's combinations (evaluation/combination.py) on synthetic walk-forwards: nested weights, the first fold's
equal weights, the way back to return units, the refusal of non-finite weights."""

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from cryptolstm.evaluation import combination as comb
from cryptolstm.config import HORIZONS as H

COINS = ("BTC", "ETH", "SOL")


def _walk(n_folds: int = 4, days: int = 30, seed: int = 0):
    """(predictions, signals, scales) of a synthetic walk-forward: y depends on the LSTM and on -r_3."""
    rng = np.random.default_rng(seed)
    preds, sigs, scales = [], [], {}
    for j in range(n_folds):
        as_of = pd.date_range("2022-01-01", periods=days).date + pd.Timedelta(days=j * days)
        n = days * len(COINS)
        r = rng.normal(0, [0.03, 0.05, 0.08], (n, 3))  # [n, 3] ret_1, ret_3, ret_7
        lstm = rng.normal(0, 0.002, (n, H))
        p_up = 0.5 + rng.normal(0, 0.02, (n, H))
        y = 5 * lstm - 0.2 * r[:, [1]] + rng.normal(0, 0.02, (n, H))
        keys = pd.DataFrame({"fold": j, "coin": np.repeat(np.tile(COINS, days), H),
                             "as_of": np.repeat(np.repeat(as_of, len(COINS)), H), "horizon": np.tile(np.arange(1, H + 1), n)})
        preds.append(keys.assign(pred_log_return=lstm.reshape(-1), realised_log_return=y.reshape(-1)))
        sigs.append(keys.assign(r_1=np.repeat(r[:, 0], H), r_3=np.repeat(r[:, 1], H), r_7=np.repeat(r[:, 2], H),
                                prob_up=p_up.reshape(-1)))
        scales[j] = comb.TrainingScales(tuple([0.002] * H), (0.03, 0.05, 0.08), tuple([0.02] * H), "reversal_3")
    order = lambda df: df.sort_values(comb.KEYS, kind="stable").reset_index(drop=True)  # noqa: E731  what it returns
    return order(pd.concat(preds, ignore_index=True)), order(pd.concat(sigs, ignore_index=True)), scales


def test_the_first_fold_gets_equal_weights_and_later_folds_fitted_ones():
    p, s, scales = _walk()
    out, params = comb.combine_walk_forward(p, s, scales, "stacked")
    assert params[0]["weights"]["weights"] == [[1 / 5] * 5] * H and params[0]["weights"]["fitted_on"] == []
    assert params[2]["weights"]["fitted_on"] == [0, 1]
    w = np.asarray(params[3]["weights"]["weights"])  # [H, S]: the LSTM and reversal_3 carry the signal
    assert (w[:, 0] > 0).all() and (w[:, 2] < 0).all()
    # the first fold's forecast is scale_lstm * mean(z), in return units
    f0 = p[p.fold == 0]
    z_mean = (f0["pred_log_return"] / 0.002 + s[s.fold == 0]["r_1"] / 0.03 + s[s.fold == 0]["r_3"] / 0.05
              + s[s.fold == 0]["r_7"] / 0.08 + (s[s.fold == 0]["prob_up"] - 0.5) / 0.02) / 5
    np.testing.assert_allclose(out[out.fold == 0]["pred_log_return"], 0.002 * z_mean.to_numpy(), rtol=1e-12)
    assert out[comb.KEYS + ["realised_log_return"]].equals(p[comb.KEYS + ["realised_log_return"]])


def test_nested_weights_never_see_their_own_fold_or_a_later_one():
    p, s, scales = _walk()
    _, before = comb.combine_walk_forward(p, s, scales, "stacked")
    for j in range(4):
        later = p["fold"] >= j
        changed = p.copy()
        changed.loc[later, "realised_log_return"] = np.random.default_rng(9).normal(0, 1, int(later.sum()))
        changed.loc[later, "pred_log_return"] *= -3
        _, after = comb.combine_walk_forward(changed, s, scales, "stacked")
        for i in range(j + 1):  # the weights forecasting folds <= j are bit for bit unchanged
            assert after[i]["weights"] == before[i]["weights"], (j, i)
        if j + 1 < 4:
            assert after[j + 1]["weights"] != before[j + 1]["weights"]


def test_the_stacked_forecast_is_the_least_squares_forecast_in_return_units():
    rng = np.random.default_rng(1)
    z = rng.normal(size=(4000, H, 5))
    scale = np.full((4000, H), 0.002)
    y = 0.002 * (0.5 * z[:, :, 0] - 0.3 * z[:, :, 2]) + rng.normal(0, 1e-4, (4000, H))
    w = np.asarray(comb.fit_stack(z, y, scale, ridge=0.0).weights)
    np.testing.assert_allclose(w[:, 0], 0.5, atol=0.01)
    np.testing.assert_allclose(w[:, 2], -0.3, atol=0.01)
    np.testing.assert_allclose(w[:, [1, 3, 4]], 0.0, atol=0.01)


def test_blend_equal_is_the_mean_of_the_lstm_and_the_best_rule_mapped_back_by_the_lstm_scale():
    p, s, scales = _walk(n_folds=1)
    out, params = comb.combine_walk_forward(p, s, scales, "blend_equal")
    expected = (p["pred_log_return"] / 0.002 - s["r_3"] / 0.05) / 2 * 0.002
    np.testing.assert_allclose(out["pred_log_return"], expected, rtol=1e-12)
    assert params[0]["rule"] == "reversal_3"


def test_the_best_rule_is_chosen_on_the_training_cells():
    rng = np.random.default_rng(2)
    r = rng.normal(size=(3000, 3))
    y = np.repeat(r[:, [2]], H, axis=1) + rng.normal(0, 0.5, (3000, H))  # momentum_7 holds
    assert comb.best_rule(r, y) == "momentum_7"
    assert comb.best_rule(r, -y) == "reversal_7"
    sc = comb.training_scales(r, y, 0.5 + 0.1 * np.tanh(y), [0.01] * H)
    assert sc.best_rule == "momentum_7" and np.allclose(sc.returns, r.std(axis=0))


@pytest.mark.parametrize("bad", [None, [[1.0] * 5] * (H - 1), [[np.nan] + [0.2] * 4] * H, [[np.inf] * 5] * H,
                                 [["a"] * 5] * H])
def test_missing_or_non_finite_weights_are_refused(bad):
    with pytest.raises(comb.CombinationError):
        comb.StackWeights(bad)
    with pytest.raises(comb.CombinationError):
        comb.StackWeights.from_json({"signals": list(comb.SIGNALS), "weights": bad})


def test_stored_weights_round_trip_and_other_signals_are_refused():
    w = comb.StackWeights.equal()
    assert comb.StackWeights.from_json(w.to_json()) == w
    with pytest.raises(comb.CombinationError, match="other signals"):
        comb.StackWeights.from_json({**w.to_json(), "signals": ["lstm", "r_1"]})


def test_non_finite_or_non_positive_scales_and_data_are_refused():
    with pytest.raises(comb.CombinationError):
        comb.TrainingScales((0.0,) * H, (1.0, 1.0, 1.0), (1.0,) * H, "reversal_7")
    with pytest.raises(comb.CombinationError):
        comb.TrainingScales((np.nan,) * H, (1.0, 1.0, 1.0), (1.0,) * H, "reversal_7")
    p, s, scales = _walk(n_folds=2)
    s.loc[0, "r_1"] = np.nan  # a NaN signal in fold 0 makes fold 1's fitted weights non-finite
    with pytest.raises(comb.CombinationError):
        comb.combine_walk_forward(p, s, scales, "stacked")
    with pytest.raises(ValueError, match="exactly the predictions' cells"):
        comb.combine_walk_forward(p, s.iloc[5:], scales, "stacked")


def test_the_first_folds_equal_weights_sign_each_lag_as_its_training_period_did():
    """Unsigned equal weights on r_1, r_3, r_7 would bet on momentum at every lag; a first fold signs each lag by
    the better of momentum_k and reversal_k on its training cells (TrainingScales.lag_signs)."""
    p, s, scales = _walk()
    scales = {j: replace(sc, lag_signs=(-1.0, -1.0, 1.0)) for j, sc in scales.items()}
    _, params = comb.combine_walk_forward(p, s, scales, "stacked")
    assert params[0]["weights"]["weights"] == [[0.2, -0.2, -0.2, 0.2, 0.2]] * H
    assert params[0]["scales"]["lag_signs"] == [-1.0, -1.0, 1.0]
    rng = np.random.default_rng(3)
    r = rng.normal(0, 0.05, (4000, 3))  # [n, 3]
    y = np.column_stack([-r[:, 0] + 0.5 * r[:, 2]] * H) + rng.normal(0, 0.01, (4000, H))  # lag 1 reverts, lag 7 runs on
    signs = comb.lag_signs(r, y)
    assert (signs[0], signs[2]) == (-1.0, 1.0) and signs[1] in (-1.0, 1.0)  # r_3 carries nothing: either sign
    with pytest.raises(comb.CombinationError, match="lag signs"):
        replace(scales[0], lag_signs=(1.0, 0.0, 1.0))
