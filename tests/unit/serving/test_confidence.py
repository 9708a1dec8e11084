"""Issue 26 in serving: the reference a model stores, the day's confidence / members_agree / tier, the evidence per
tier, the bundle's refusal of a malformed reference, and a tier of day t that depends on candles <= t only."""

from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from cryptolstm.config import HORIZONS, TierConfig
from cryptolstm.evaluation import combination, tiers
from cryptolstm.modelling import features, train
from cryptolstm.modelling.bundle import BundleError, TrainedModel, reference_error
from cryptolstm.modelling.train import TrainConfig
from cryptolstm.serving import combined, confidence
from modelling_helpers import synthetic_panel, with_garbage_after

KEYS = ["fold", "coin", "as_of", "horizon"]
CUTOFF = pd.Timestamp("2020-11-30")


def _walk_forward(K: int = 3, days: int = 60, seed: int = 0):
    """A synthetic walk-forward of 2 folds x 3 coins x `days` as-of days x H: the members' frames, their mean, a
    served forecast (mean + a rule term), stored baselines and signals, all sorted by KEYS."""
    rng = np.random.default_rng(seed)
    keys = pd.DataFrame([(k, c, pd.Timestamp("2024-01-01").date() + pd.Timedelta(days=k * days + d), h)
                         for k in (0, 1) for c in ("BTC", "ETH", "SOL") for d in range(days)
                         for h in range(1, HORIZONS + 1)], columns=KEYS).sort_values(KEYS).reset_index(drop=True)
    y = rng.normal(0, 0.03, len(keys))
    members = [keys.assign(pred_log_return=0.3 * y + rng.normal(0, 0.02, len(keys)), realised_log_return=y)
               for _ in range(K)]
    mean = keys.assign(pred_log_return=np.mean([m["pred_log_return"] for m in members], axis=0), realised_log_return=y)
    r = {f"r_{k}": rng.normal(0, 0.02 * k, len(keys)) for k in (1, 3, 7)}
    signals = keys.assign(**r)
    base = keys.assign(**{b: s * np.sign(r[tiers.RULE_SCORE[b]]) * 0.01 for b, s in
                          (("reversal_1", -1), ("reversal_3", -1), ("reversal_7", -1), ("momentum_1", 1),
                           ("momentum_3", 1), ("momentum_7", 1))},
                       always_up=0.01, random_walk=0.0, logit=rng.normal(0, 0.01, len(keys)))
    served = mean.assign(pred_log_return=(mean["pred_log_return"] + base["reversal_1"]) / 2)
    rule = keys.assign(pred_log_return=base["reversal_1"])
    return mean, members, served, rule, base, signals


def test_the_stored_reference_gives_tiers_at_its_shares_and_the_evidence_per_tier():
    mean, members, served, rule, base, signals = _walk_forward()
    cfg = TierConfig(score="combined", high_share=0.2, low_share=0.3, grid=101)
    ref = tiers.Reference.from_json(confidence.reference(mean, members, served, rule, cfg))
    assert ref.score == "combined" and ref.n_cells == len(mean) and reference_error(ref.to_json(), HORIZONS) is None
    cells = tiers.cell_inputs(mean, members, served, rule)
    h = cells["horizon"].to_numpy()
    tier = ref.tier(ref.cell_score(cells["abs_mean"], cells["abs_served"], cells["agree"], cells["rule"], h), h)
    share = {t: float(np.mean(tier == t)) for t in tiers.TIERS}  # the reference's own cells: about its shares
    assert abs(share["high"] - 0.2) < 0.03 and abs(share["low"] - 0.3) < 0.03
    conf = ref.confidence(cells["abs_mean"], h)
    assert ((0 <= conf) & (conf <= 1)).all() and abs(conf.mean() - 0.5) < 0.02

    ev = confidence.evidence(mean, members, served, rule, base, signals, cfg)
    assert ev["score"] == "combined" and ev["high_share"] == 0.2 and ev["n_cells"] == len(mean)
    assert sum(ev[t]["n"] for t in tiers.TIERS) == len(mean)
    lo, hi = ev["high"]["ci"]
    assert lo <= ev["high"]["da"] <= hi
    assert set(ev["high_per_horizon"]) == {str(h) for h in range(1, HORIZONS + 1)}
    assert set(ev["high_per_coin"]) == {"BTC", "ETH", "SOL"}
    at = ev["baselines_at_coverage"]
    assert at["reversal_1"]["ranked_by"] == "|r_1|" and at["logit"]["ranked_by"] == "|logit|"
    assert abs(at["reversal_1"]["n"] - 0.2 * len(mean)) <= 2 * HORIZONS * 2  # its own top 20 % per fold x horizon
    assert "random_walk" not in at and at["always_up"]["ranked_by"].startswith("none")


def test_walk_forward_cells_take_each_fold_s_rule_from_its_stored_baselines():
    mean, members, served, _, base, _ = _walk_forward(K=2)
    folds = [f for _, f in mean.groupby("fold")]
    per_member = [[m[m["fold"] == k] for m in members] for k in (0, 1)]
    bpreds = [base[base["fold"] == k] for k in (0, 1)]
    ens, mem, srv, rule, b = confidence.walk_forward_cells(folds[::-1], per_member, [served], bpreds,
                                                           {0: "reversal_1", 1: "momentum_7"})
    pd.testing.assert_frame_equal(ens, mean)  # sorted by KEYS whatever order the folds came in
    want = np.where(base["fold"] == 0, base["reversal_1"], base["momentum_7"])
    np.testing.assert_array_equal(rule["pred_log_return"].to_numpy(), want)
    assert confidence.walk_forward_cells(folds, per_member, [served], bpreds, None)[3] is None


def _model(reference=None, comb=None):
    """What day_confidence reads of a model: its stored reference and combination."""
    return SimpleNamespace(confidence_reference=reference, combination=comb)


def _day(K: int = 3, seed: int = 1):
    rng = np.random.default_rng(seed)
    bare = pd.DataFrame({"coin": np.repeat(["ETH", "BTC"], HORIZONS), "as_of": pd.Timestamp("2024-06-01").date(),
                         "horizon": np.tile(np.arange(1, HORIZONS + 1), 2)})
    members = rng.normal(0.001, 0.01, (K, len(bare)))  # [K, rows]
    bare["pred_log_return"] = members.mean(axis=0)
    return bare, members


def test_a_day_s_confidence_and_tier_come_from_the_reference_and_a_model_without_one_gets_none():
    mean, members_wf, served, _, _, _ = _walk_forward()
    ref = confidence.reference(mean, members_wf, mean, None, TierConfig())
    bare, members = _day()
    served_day = bare.sort_values(["coin", "horizon"]).reset_index(drop=True)  # another order: matched by key
    out = confidence.day_confidence(_model(ref), "m", bare, members, served_day, pd.DataFrame())
    assert set(out) == {(c, h) for c in ("BTC", "ETH") for h in range(1, HORIZONS + 1)}
    R = tiers.Reference.from_json(ref)
    m, h = bare["pred_log_return"].to_numpy(), bare["horizon"].to_numpy()
    agree = tiers.members_agree(members, m)
    want_tier = R.tier(R.cell_score(np.abs(m), np.abs(m), agree, np.zeros(len(m)), h), h)
    for i, key in enumerate(zip(bare["coin"], h)):
        assert out[key]["confidence"] == pytest.approx(R.confidence(np.abs(m[i:i + 1]), h[i:i + 1])[0])
        assert out[key]["members_agree"] == agree[i] and out[key]["tier"] == want_tier[i]

    said = []
    none = confidence.day_confidence(_model(None), "old", bare, members, bare, pd.DataFrame(),
                                     log_fn=lambda *a: said.append(a))
    assert len(said) == 1 and "old" in said[0]
    assert all(v["confidence"] is None and v["tier"] is None for v in none.values())
    assert [none[k]["members_agree"] for k in zip(bare["coin"], h)] == list(agree)


def test_a_broken_forecast_never_gets_a_tier():
    mean, members_wf, _, _, _, _ = _walk_forward()
    ref = confidence.reference(mean, members_wf, mean, None, TierConfig())
    bare, members = _day()
    nan = bare.assign(pred_log_return=np.where(bare.index == 3, np.nan, bare["pred_log_return"]))
    for model in (_model(ref), _model(None)):
        with pytest.raises(ValueError, match="not finite"):
            confidence.day_confidence(model, "m", nan, members, nan, pd.DataFrame())
        with pytest.raises(ValueError, match="do not match"):  # a member of another shape
            confidence.day_confidence(model, "m", bare, members[:, :-1], bare, pd.DataFrame())
    bad = members.copy()
    bad[1, 0] = np.inf
    with pytest.raises(ValueError, match="not finite"):
        confidence.day_confidence(_model(ref), "m", bare, bad, bare, pd.DataFrame())
    with pytest.raises(ValueError, match="different cells"):
        confidence.day_confidence(_model(ref), "m", bare, members, bare.iloc[:-1], pd.DataFrame())


def test_the_day_s_rule_is_the_served_combination_s_best_rule():
    scales = combination.TrainingScales((0.01,) * HORIZONS, (0.02, 0.03, 0.05), (0.1,) * HORIZONS, "reversal_3")
    clf = {"horizons": [{"coef": [0.0], "intercept": 0.0}]}
    comb = combination.ServedCombination("blend_equal", scales, None, clf).to_json()
    bare, _ = _day()
    rows = pd.DataFrame({"coin": ["BTC", "ETH"], "ret_1": [0.01, -0.02], "ret_3": [0.03, -0.04], "ret_7": [0.0, 0.1]})
    rule = confidence.day_rule(comb, bare, rows)
    np.testing.assert_array_equal(rule, np.repeat([0.04, -0.03], HORIZONS))  # ETH first: bare's order, -ret_3
    assert confidence.day_rule(None, bare, rows) is None
    with pytest.raises(combination.CombinationError, match="no feature row"):
        confidence.day_rule(comb, bare, rows.iloc[:1])


def test_a_malformed_reference_is_named():
    mean, members, _, _, _, _ = _walk_forward(K=2)
    good = confidence.reference(mean, members, mean, None, TierConfig())
    assert reference_error(good, HORIZONS) is None
    nan = {**good, "scores": [[float("nan")] + g[1:] for g in good["scores"]]}
    unsorted = {**good, "abs_mean": [g[::-1] for g in good["abs_mean"]]}
    for bad in (nan, unsorted, {**good, "abs_served": good["abs_served"][:-1]}, {**good, "high_share": 2},
                {k: v for k, v in good.items() if k != "score"}, [1, 2]):
        assert reference_error(bad, HORIZONS)
    with pytest.raises(ValueError):
        tiers.Reference.from_json({**good, "score": "astrology"})


@pytest.fixture(scope="module")
def panel():
    return synthetic_panel(("BTC", "ETH", "SOL"), days=400)


@pytest.mark.slow
def test_a_bundle_carries_its_reference_refuses_a_bad_one_and_a_day_s_tier_ignores_the_future(panel):
    cfg = TrainConfig.tiny(window=20, max_epochs=1, n_seeds=2)
    model = train.fit(train.build_cube(panel), CUTOFF, cfg)
    assert TrainedModel.from_bytes(model.to_bytes()).confidence_reference is None  # an older model: loads fine
    mean, members_wf, _, _, _, _ = _walk_forward(K=2)
    ref = confidence.reference(mean, members_wf, mean, None, TierConfig())
    good = TrainedModel.from_bytes(model.with_confidence_reference(ref).to_bytes())
    assert good.confidence_reference == ref
    with pytest.raises(BundleError, match="confidence reference"):
        model.with_confidence_reference({**ref, "abs_mean": ref["abs_mean"][:2]})
    import io
    import json
    import zipfile

    src, out = zipfile.ZipFile(io.BytesIO(good.to_bytes())), io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        for name in src.namelist():
            data = src.read(name)
            if name == "meta.json":  # altered after it was written
                meta = json.loads(data)
                meta["confidence_reference"]["scores"][0][0] = float("inf")
                data = json.dumps(meta).encode()
            z.writestr(name, data)
    with pytest.raises(BundleError, match="confidence reference"):
        TrainedModel.from_bytes(out.getvalue())

    day = pd.Timestamp("2021-01-20")

    def tiers_of(p):
        f = features.build_features(p[p["day"] <= day])
        bare = good.predict(p, day, features=f)
        members = good.predict_members(p, day, features=f)  # [K, rows]
        assert members.shape == (2, len(bare))
        np.testing.assert_allclose(members.mean(axis=0), bare["pred_log_return"], rtol=1e-6)  # float32 nets
        return confidence.day_confidence(good, "m", bare, members, bare, f[f["day"] == day])

    a, b = tiers_of(panel), tiers_of(with_garbage_after(panel, day))
    assert a == b and {v["tier"] for v in a.values()} <= set(tiers.TIERS) and len(a) == 3 * HORIZONS
    assert all(v["confidence"] is not None for v in a.values())
    # with a combination: the rule of the day comes from features of t only, too
    prepared = train.prepare_fit(train.build_cube(panel), CUTOFF, cfg)
    scales, clf = combined.final_period(prepared, cfg, [0.002] * HORIZONS)
    comb = combination.ServedCombination("blend_equal", scales, None, clf).to_json()
    rows = [features.build_features(p[p["day"] <= day]) for p in (panel, with_garbage_after(panel, day))]
    bare = good.predict(panel, day)
    assert (confidence.day_rule(comb, bare, rows[0][rows[0]["day"] == day]).tolist()
            == confidence.day_rule(comb, bare, rows[1][rows[1]["day"] == day]).tolist())
