"""Issue 26's confidence pieces: members' agreement, rule agreement, the scores, the tiers, the stored reference,
and round 8's tables and rule."""

import numpy as np
import pandas as pd
import pytest

from cryptolstm.config import HORIZONS, TierConfig
from cryptolstm.evaluation import tiers


def _frames(n_days=40, coins=("AAA", "BBB"), k=3, seed=0):
    """A tiny walk-forward: ensemble, members, served, rule frames of the same cells, and the realised returns."""
    rng = np.random.default_rng(seed)
    days = pd.date_range("2024-01-01", periods=n_days).date
    keys = pd.DataFrame([(d // 20, c, day, h) for d, day in enumerate(days) for c in coins
                         for h in range(1, HORIZONS + 1)], columns=["fold", "coin", "as_of", "horizon"])
    y = rng.normal(0, 0.02, len(keys))
    members = [keys.assign(pred_log_return=rng.normal(0, 0.01, len(keys)), realised_log_return=y) for _ in range(k)]
    mean = keys.assign(pred_log_return=np.mean([m["pred_log_return"] for m in members], axis=0), realised_log_return=y)
    served = mean.assign(pred_log_return=mean["pred_log_return"] + rng.normal(0, 0.002, len(keys)))
    rule = keys.assign(pred_log_return=np.sign(rng.normal(size=len(keys))) * 0.01)
    return mean, members, served, rule


def test_members_agree_is_the_share_of_members_with_the_mean_sign():
    members = np.array([[1.0, -1.0, 0.5], [2.0, 1.0, -0.5], [-1.0, 1.0, 0.2]])  # [K=3, N=3]
    mean = members.mean(axis=0)  # [0.667, 0.333, 0.067]
    assert tiers.members_agree(members, mean) == pytest.approx([2 / 3, 2 / 3, 2 / 3])
    assert tiers.members_agree(members, np.array([0.0, 1.0, -1.0]))[0] == 0.0  # a zero mean agrees with no one


@pytest.mark.parametrize("members,mean", [(np.ones((3, 4)), np.ones(3)), (np.array([[np.nan, 1.0]]), np.ones(2)),
                                          (np.ones((2, 2)), np.array([np.inf, 1.0]))])
def test_a_broken_ensemble_never_gets_a_confidence(members, mean):
    with pytest.raises(ValueError):
        tiers.members_agree(members, mean)


def test_rule_agreement_needs_the_same_nonzero_sign():
    assert list(tiers.rule_agree(np.array([0.1, -0.2, 0.0, 0.3]), np.array([1.0, -1.0, 0.0, -1.0]))) == [1, 1, 0, 0]


def test_the_scores_rank_as_registered():
    pm, ps, a, g = np.array([0.9, 0.1]), np.array([0.2, 0.8]), np.array([1.0, 0.6]), np.array([0.0, 1.0])
    assert list(tiers.score("mean", pm, ps, a, g)) == [0.9, 0.1]
    assert list(tiers.score("served", pm, ps, a, g)) == [0.2, 0.8]
    assert tiers.score("agree", pm, ps, a, g)[0] > tiers.score("agree", pm, ps, a, g)[1]
    assert tiers.score("rule", pm, ps, a, g)[1] > tiers.score("rule", pm, ps, a, g)[0]  # agreeing with the rule first
    assert tiers.score("combined", pm, ps, a, g) == pytest.approx([(0.9 + 1.0) / 3, (0.1 + 0.6 + 1.0) / 3])
    with pytest.raises(ValueError, match="unknown confidence score"):
        tiers.score("magic", pm, ps, a, g)


def test_tiers_cut_the_percentiles():
    assert list(tiers.tier_of(np.array([0.95, 0.7, 0.34, 0.2]), 0.1, 1 / 3)) == ["high", "medium", "medium", "low"]


def test_within_rank_gives_exact_coverage_even_with_ties():
    r = tiers.within_rank(np.array([1.0, 1.0, 1.0, 2.0, 3.0, 3.0]))
    assert sorted(r) == pytest.approx([1 / 6, 2 / 6, 3 / 6, 4 / 6, 5 / 6, 1.0])
    assert (tiers.tier_of(r, 1 / 3, 1 / 3) == "high").sum() == 2


def test_the_stored_reference_ranks_new_cells_against_the_walk_forward():
    mean, members, served, rule = _frames()
    ref = tiers.Reference.fit(mean, members, served, rule, TierConfig(score="combined", high_share=0.2))
    back = tiers.Reference.from_json(ref.to_json())
    assert back == ref
    h = mean["horizon"].to_numpy()
    conf = ref.confidence(mean["pred_log_return"].abs().to_numpy(), h)
    assert conf.min() >= 0 and conf.max() <= 1
    assert abs(np.mean(conf) - 0.5) < 0.02  # the walk-forward's own cells are spread evenly over their reference
    big = ref.confidence(np.full(HORIZONS, 1.0), np.arange(1, HORIZONS + 1))
    assert (big == 1.0).all()  # beyond everything seen: the top
    cells = tiers.cell_inputs(mean, members, served, rule)
    sc = ref.cell_score(cells["abs_mean"], cells["abs_served"], cells["agree"], cells["rule"], h)
    share_high = np.mean(ref.tier(sc, h) == "high")
    assert 0.15 < share_high < 0.25  # about the registered share on the cells it was fitted on


@pytest.mark.parametrize("damage", [lambda d: d.pop("scores"), lambda d: d["abs_mean"][0].__setitem__(0, float("nan")),
                                    lambda d: d["abs_mean"][1].reverse(), lambda d: d.__setitem__("score", "magic"),
                                    lambda d: d["abs_served"].pop()])
def test_a_malformed_reference_is_refused(damage):
    mean, members, served, rule = _frames()
    d = tiers.Reference.fit(mean, members, served, rule).to_json()
    damage(d)
    with pytest.raises(ValueError):
        tiers.Reference.from_json(d)


def test_cells_of_another_order_are_refused():
    mean, members, served, rule = _frames()
    with pytest.raises(ValueError, match="same cells"):
        tiers.cell_inputs(mean, members, served.iloc[::-1], rule)


def test_tier_figures_and_the_baselines_at_the_same_coverage():
    mean, members, served, rule = _frames()
    cells = tiers.cell_inputs(mean, members, served, rule)
    fig = tiers.tier_figures(cells, "mean", 0.2)
    assert fig["high"]["n"] + fig["medium"]["n"] + fig["low"]["n"] == len(cells)
    assert fig["high"]["n"] == pytest.approx(0.2 * len(cells), abs=HORIZONS * 2)
    keys = ["fold", "coin", "as_of", "horizon"]
    r1 = np.random.default_rng(1).normal(size=len(cells))
    signals = cells[keys].assign(r_1=r1, r_3=r1, r_7=r1)
    baselines = cells[keys].assign(reversal_1=-np.sign(r1) * 0.01, always_up=0.01, logit=np.linspace(-1, 1, len(cells)))
    conf = tiers.baseline_confident(cells, baselines, signals, 0.2)
    assert conf["reversal_1"]["n"] == fig["high"]["n"]  # the same coverage
    assert conf["always_up"]["n"] == len(cells) and conf["always_up"]["ranked_by"].startswith("none")
    top = cells.assign(a=np.abs(r1))
    by_hand = []
    for _, g in top.groupby(["fold", "horizon"]):
        g = g.sort_values("a", kind="stable")
        by_hand.append(g.tail(int(round(0.2 * len(g)))))
    sel = pd.concat(by_hand)
    hits = np.sign(-np.sign(r1[sel.index])) == np.sign(sel["realised"])
    assert conf["reversal_1"]["da"] == pytest.approx(hits.mean())


def test_round_8_picks_the_highest_lower_end_and_prefers_more_cells_within_the_tie():
    c = {"mean@0.1": {"high": {"ci": [0.470, 0.6]}}, "rule@0.2": {"high": {"ci": [0.469, 0.6]}},
         "served@0.33": {"high": {"ci": [0.460, 0.6]}}}
    assert tiers.pick(c)["candidate"] == "rule@0.2"
    assert tiers.pick(c, tie=0.0)["candidate"] == "mean@0.1"
