"""Issue 28's new inputs are point in time: a fold's training-period scales, best rule and classifier depend on
candles up to its cutoff only, a cell's signals on candles up to its as-of day, a member's prediction scale on its
training period, and the served combination's final period on candles up to the training cutoff (future scramble,
bit for bit)."""

import numpy as np
import pandas as pd
import pytest

from cryptolstm.evaluation import combination_round, walkforward
from cryptolstm.modelling import train
from cryptolstm.modelling.train import TrainConfig
from cryptolstm.serving import combined
from modelling_helpers import synthetic_panel, with_garbage_after

COINS = ("BTC", "ETH", "SOL")
CFG = TrainConfig.tiny(window=20, max_epochs=1)


@pytest.fixture(scope="module")
def full():
    return synthetic_panel(COINS, days=400)


def test_a_folds_scales_and_signals_never_see_past_their_days(full):
    cube = train.build_cube(full)
    bounds = walkforward.folds(cube, CFG, n_folds=2, val_days=20)
    k, fold = 1, bounds[1]
    frame, facts = combination_round.fold_signals(cube, k, fold, CFG, COINS)
    # everything after the cutoff scrambled: the training period's facts are bit for bit the same
    cutoff = cube.days[fold.cutoff]
    g_cube = train.build_cube(with_garbage_after(full, cutoff))
    _, g_facts = combination_round.fold_signals(g_cube, k, fold, CFG, COINS)
    assert g_facts == facts
    # everything after a scored day d scrambled: the signals of the cells up to d are bit for bit the same
    d = cube.days[fold.val_start + 7]
    d_cube = train.build_cube(with_garbage_after(full, d))
    d_frame, _ = combination_round.fold_signals(d_cube, k, fold, CFG, COINS)
    upto = frame["as_of"] <= d.date()
    assert upto.sum() > 0 and (~upto).sum() > 0
    pd.testing.assert_frame_equal(frame[upto], d_frame[d_frame["as_of"] <= d.date()], check_exact=True)
    assert not frame[~upto][["r_1", "prob_up"]].equals(d_frame[~upto][["r_1", "prob_up"]])


@pytest.mark.slow
def test_a_members_prediction_scale_and_the_final_period_never_see_past_the_cutoff(full):
    cutoff = pd.Timestamp("2020-11-30")
    a = train.prepare_fit(train.build_cube(full), cutoff, CFG)
    b = train.prepare_fit(train.build_cube(with_garbage_after(full, cutoff)), cutoff, CFG)
    assert train.fit_member(a, CFG, 0).info["pred_scale"] == train.fit_member(b, CFG, 0).info["pred_scale"]
    sa, ca = combined.final_period(a, CFG, [0.01] * 5)
    sb, cb = combined.final_period(b, CFG, [0.01] * 5)
    assert sa == sb and ca == cb
    np.testing.assert_array_less(0, sa.logit)
