"""`cryptolstm evaluate-combination` (and `evaluate-tiers` on its members) end to end on three recorded coins with a
tiny network, and issue 28's pick."""

import json
import shutil

import pytest

from cryptolstm.cli import build_parser
from cryptolstm.evaluation import combination_round as cr
from cryptolstm.evaluation.tiers import CUTS, SCORES

TINY = ["window=10", "lstm_units=16,8", "dense_units=16", "embed_dim=2", "batch_size=256", "max_epochs=1"]


def _c(da, mae=0.999, flat=0.0):
    return {"da_mean": da, "mae_ratio_rw_mean": mae, "constant_sign_max": flat}


def test_the_pick_is_issue_28s_rule():
    got = cr.pick({"control": _c(0.510), "blend_equal": _c(0.520), "stacked": _c(0.525), "lstm_highway": _c(0.530)})
    assert got["candidate"] == "lstm_highway" and got["how"] == "eligible"
    # a cheaper candidate within 0.003 wins: the highest DA among the cheaper ones
    got = cr.pick({"control": _c(0.510), "blend_equal": _c(0.527), "stacked": _c(0.528), "lstm_highway": _c(0.530)})
    assert got["candidate"] == "stacked" and got["best_da"] == "lstm_highway"
    # constant sign or MAE/RW >= 1 is not eligible
    got = cr.pick({"control": _c(0.510), "stacked": _c(0.540, flat=0.04), "blend_equal": _c(0.53, mae=1.0)})
    assert got["candidate"] == "control"
    got = cr.pick({"control": _c(0.510, mae=1.001), "stacked": _c(0.520, mae=1.002), "blend_equal": _c(0.53, flat=0.1)})
    assert got["candidate"] == "stacked" and got["how"].startswith("none has MAE/RW < 1")


@pytest.mark.slow
def test_evaluate_combination_runs_end_to_end_on_recorded_coins(tmp_path, shared_data):
    data = tmp_path / "csv"
    data.mkdir()
    for coin in ("BTC", "ETH", "LTC"):
        shutil.copy(shared_data / f"{coin}USDT.csv", data / f"{coin}USDT.csv")
    args = build_parser().parse_args(
        ["evaluate-combination", "--csv-dir", str(data), "--until", "2019-06-30", "--folds", "2", "--val-days", "20",
         "--seed-sets", "0", "--members", "2", "--highway", "--out", str(tmp_path / "out"), "--name", "r",
         *[x for s in TINY for x in ("--set", s)]])
    args.func(args)
    r = json.loads((tmp_path / "out" / "r.json").read_text())
    assert set(r["candidates"]) == set(cr.CANDIDATES)
    n = r["n_cells"]
    assert n == 2 * 20 * 3 * 5 and r["last_as_of"] <= "2019-06-30"
    for name, c in r["candidates"].items():
        row = c["seed_sets"]["0"]
        assert 0 <= row["da"] <= 1 and row["mae_ratio_rw"] > 0 and set(row["per_horizon"]) == {"1", "2", "3", "4", "5"}
        assert set(row["per_coin"]) == {"BTC", "ETH", "LTC"} and row["best_baseline"] in r["baselines"]
        assert "diff" in row["vs_best_baseline"]["overall"] and len(row["da_ci"]) == 2
        assert set(row["per_fold"]) == {"0", "1"}
    assert {"logit", "reversal_7", "always_up", "gbm_clf"} <= set(r["baselines"])
    w = r["parameters"]["stacked/0"]
    assert w["0"]["weights"]["fitted_on"] == [] and w["1"]["weights"]["fitted_on"] == [0]
    assert r["pick"]["candidate"] in cr.CANDIDATES
    md = (tmp_path / "out" / "r.md").read_text()
    assert "Pick by issue 28's rule" in md and "## DA per fold" in md and "stacked (set 0)" in md and "lstm_highway (set 0)" in md
    assert (tmp_path / "out" / "r_predictions.csv.gz").stat().st_size > 0
    folds = json.loads((tmp_path / "out" / "r_member_folds.json").read_text())
    assert sorted(folds) == ["lstm/0/0", "lstm/0/1", "lstm_highway/0/0", "lstm_highway/0/1"]
    assert all(len(f["pred_scale"]) == 5 for fs in folds.values() for f in fs)
    assert (tmp_path / "out" / "r_members.csv.gz").stat().st_size > 0
    # issue 26's round 8 reuses this run's members (the lstm variant only) and trains nothing
    tiers_args = build_parser().parse_args(
        ["evaluate-tiers", "--csv-dir", str(data), "--until", "2019-06-30", "--folds", "2", "--val-days", "20",
         "--seed-sets", "0", "--members", "2", "--reuse", str(tmp_path / "out" / "r"), "--out", str(tmp_path / "out"),
         "--name", "t", *[x for s in TINY for x in ("--set", s)]])
    tiers_args.func(tiers_args)
    t = json.loads((tmp_path / "out" / "t.json").read_text())
    assert t["n_cells"] == n and sorted(t["candidates"]["0"]) == sorted(f"{s}@{p}" for s in SCORES for p in CUTS)
    for fig in t["candidates"]["0"].values():
        assert sum(fig[k]["n"] for k in ("high", "medium", "low")) == n
    assert t["overall"]["0"]["da"] == pytest.approx(r["candidates"]["blend_equal"]["seed_sets"]["0"]["da"])
    assert t["baselines"]["0.33"]["reversal_7"]["n"] == t["candidates"]["0"]["mean@0.33"]["high"]["n"]
    assert t["pick"]["candidate"] in t["candidates"]["0"]
    assert "Pick by round 8's rule" in (tmp_path / "out" / "t.md").read_text()


@pytest.mark.slow
def test_the_control_can_reuse_an_ensemble_rounds_members_and_nothing_else(tmp_path, shared_data):
    """`--reuse`: the control's members come from an `evaluate-ensemble` run of the same configuration, seeds and
    folds, so its DA is that run's K-member draw's to the last digit; another configuration is refused."""
    data = tmp_path / "csv"
    data.mkdir()
    for coin in ("BTC", "ETH", "LTC"):
        shutil.copy(shared_data / f"{coin}USDT.csv", data / f"{coin}USDT.csv")
    common = ["--csv-dir", str(data), "--until", "2019-06-30", "--folds", "2", "--val-days", "20", "--seed-sets", "0",
              "--members", "2", "--out", str(tmp_path / "out")]
    sets = [x for s in TINY for x in ("--set", s)]
    ens = build_parser().parse_args(["evaluate-ensemble", *common, "--sizes", "2", "--name", "ens", *sets])
    ens.func(ens)
    comb = build_parser().parse_args(["evaluate-combination", *common, "--name", "comb", "--reuse",
                                      str(tmp_path / "out" / "ens"), *sets])
    comb.func(comb)
    e = json.loads((tmp_path / "out" / "ens.json").read_text())
    c = json.loads((tmp_path / "out" / "comb.json").read_text())
    assert c["control_members"].startswith("reused") and c["member_seconds"] == {}
    assert c["candidates"]["control"]["seed_sets"]["0"]["da"] == e["sizes"]["2"]["draws"][0]["da"]
    assert c["baselines"]["logit"]["da"] == e["baselines"]["logit"]["da"]
    assert set(c["candidates"]) == {"control", "blend_equal", "stacked"}
    other = build_parser().parse_args(["evaluate-combination", *common, "--name", "x", "--reuse",
                                       str(tmp_path / "out" / "ens"), *sets, "--set", "window=12"])
    with pytest.raises(ValueError, match="another configuration"):
        other.func(other)
