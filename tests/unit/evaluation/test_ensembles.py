"""The seed-ensemble round (docs/evaluation.md, round 6): members, draws, the pre-registered pick."""

import numpy as np
import pandas as pd
import pytest

from cryptolstm.evaluation import ensembles, walkforward
from cryptolstm.modelling import train
from cryptolstm.modelling.train import TrainConfig
from modelling_helpers import synthetic_panel


def _sizes(**stats):  # {K: (da_min, mae_ratio_mean, constant_sign_max)}
    return {"sizes": {int(k[1:]): {"da_min": d, "mae_ratio_rw_mean": m, "constant_sign_max": c, "da_mean": d}
                      for k, (d, m, c) in stats.items()}}


def test_pick_takes_the_best_worst_draw_among_eligible_sizes():
    got = ensembles.pick(_sizes(k1=(0.49, 0.999, 0.0), k3=(0.505, 0.999, 0.0), k5=(0.51, 0.999, 0.0)))
    assert got["k"] == 5 and got["how"] == "eligible"


def test_pick_prefers_a_smaller_size_within_the_tie():
    got = ensembles.pick(_sizes(k1=(0.49, 0.999, 0.0), k3=(0.508, 0.999, 0.0), k5=(0.510, 0.999, 0.0)))
    assert got == {"k": 3, "how": "eligible", "best_score_k": 5, "score": 0.508}


def test_pick_excludes_constant_sign_and_mae_above_the_random_walk():
    got = ensembles.pick(_sizes(k1=(0.50, 0.999, 0.0), k3=(0.53, 1.001, 0.0), k5=(0.54, 0.999, 0.2)))
    assert got["k"] == 1
    got = ensembles.pick(_sizes(k1=(0.50, 1.002, 0.0), k3=(0.53, 1.001, 0.0), k5=(0.54, 0.999, 0.2)))
    assert got["k"] == 3 and got["how"].startswith("no eligible")
    assert ensembles.pick(_sizes(k3=(0.53, 0.99, 0.1)))["k"] == 1


def test_a_draw_is_the_members_mean_and_refuses_members_on_other_cells():
    a = pd.DataFrame({"fold": [0, 0], "coin": ["BTC", "BTC"], "as_of": [1, 2], "horizon": [1, 1],
                      "pred_log_return": [0.1, -0.3], "realised_log_return": [0.2, 0.1]})
    b = a.assign(pred_log_return=[0.3, 0.1])
    assert walkforward.combine([a, b])["pred_log_return"].tolist() == pytest.approx([0.2, -0.1])
    with pytest.raises(ValueError, match="same cells"):
        walkforward.combine([a, b.assign(as_of=[1, 3])])


@pytest.mark.slow
def test_a_draw_of_members_is_the_ensemble_fit_serves():
    """Members walked forward one by one and averaged == the walk-forward of fit(n_seeds=K) (float32)."""
    panel = synthetic_panel(("BTC", "ETH", "SOL"), days=300)
    cube = train.build_cube(panel)
    cfg = TrainConfig.tiny(window=15, seed=7)
    r = ensembles.ensemble_round(cube, cfg, seed_sets=(7,), members=2, sizes=(1, 2), n_folds=2, val_days=15,
                                 score_coins=("BTC", "ETH", "SOL"))
    assert [len(r["sizes"][k]["draws"]) for k in (1, 2)] == [2, 1]
    both = walkforward.combine(list(r["member_predictions"].values()))
    serial = walkforward.walk_forward(cube, TrainConfig.tiny(window=15, seed=7, n_seeds=2), n_folds=2, val_days=15,
                                      score_coins=("BTC", "ETH", "SOL"), with_baselines=False)
    serial_folds = serial.folds
    serial = serial.predictions.sort_values(walkforward.KEYS, kind="stable").reset_index(drop=True)
    assert both[walkforward.KEYS].equals(serial[walkforward.KEYS])
    np.testing.assert_allclose(both["pred_log_return"], serial["pred_log_return"], rtol=1e-5, atol=1e-7)
    assert "K = " in ensembles.render_markdown(r)
    # every member's fold records travel with the round (a later round reuses the members' predictions with them)
    assert sorted(r["member_folds"]) == ["7/0", "7/1"]
    assert [f["cutoff"] for f in r["member_folds"]["7/0"]] == [f["cutoff"] for f in serial_folds]


def test_pick_by_cost_takes_the_cheapest_candidate_near_the_best_worst_draw():
    rounds = {"default": _sizes(k3=(0.474, 1.0, 0.0), k5=(0.485, 1.0, 0.0)),
              "small": _sizes(k3=(0.481, 1.0, 0.0), k5=(0.486, 1.0, 0.0)),
              "flat": _sizes(k3=(0.520, 1.0, 0.1), k5=(0.530, 1.0, 0.0))}
    got = ensembles.pick_by_cost(rounds, {"default": 100.0, "small": 30.0, "flat": 10.0})
    # flat K=5 is clean and the best (0.530): nothing else is within 0.005, so it wins although K=3 is cheaper
    assert got["best_score"] == 0.530 and (got["pick"]["config"], got["pick"]["k"]) == ("flat", 5)
    assert got["pick"]["weekly_cost"] == 6 * 5 * 10.0
    del rounds["flat"]
    got = ensembles.pick_by_cost(rounds, {"default": 100.0, "small": 30.0})
    eligible = {(x["config"], x["k"]) for x in got["candidates"] if x["eligible"]}
    assert eligible == {("default", 5), ("small", 3), ("small", 5)}  # 0.481 >= 0.486 - 0.005; 0.474 is not
    assert (got["pick"]["config"], got["pick"]["k"]) == ("small", 3)


def test_pick_by_cost_without_a_clean_candidate_picks_nothing():
    got = ensembles.pick_by_cost({"a": _sizes(k3=(0.52, 1.0, 0.2), k5=(0.53, 1.0, 0.1))}, {"a": 1.0})
    assert got["pick"] is None and got["best_score"] is None
    assert not any(x["eligible"] for x in got["candidates"])
