"""Issue 26's range round: the pre-registered pick rule, the random-walk frame's outcomes, the predictions file's
candidate and seed set, and a small end-to-end round on synthetic candles (every candidate on the same cells)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from cryptolstm.evaluation import coverage_round
from cryptolstm.evaluation.coverage import CANDIDATES
from cryptolstm.evaluation.intervals import IntervalConfig


def _row(gap, winkler):
    return {"worst_gap": gap, "winkler": winkler}


def test_pick_is_the_smallest_gap_within_3_percent_of_none():
    t = {"none": _row(0.039, 0.2778), "aci_0.005": _row(0.012, 0.2774), "aci_0.02": _row(0.003, 0.2821),
         "qt": _row(0.0034, 0.2815), "wide": _row(0.0001, 0.2778 * 1.031)}
    assert coverage_round.pick(t) == "aci_0.02"  # 'wide' costs more than 3 %
    t["qt"] = _row(0.003, 0.2815)  # an exact tie on the gap: the smaller Winkler score
    assert coverage_round.pick(t) == "qt"
    assert coverage_round.pick({"none": _row(0.01, 1.0), "x": _row(0.0, 1.05)}) == "none"  # may stay uncorrected


def _panel(days=900, seed=2):
    rng = np.random.default_rng(seed)
    day = pd.date_range("2020-06-01", periods=days)
    rows = []
    for coin, vol in (("BTC", 0.02), ("ETH", 0.03)):
        v = vol * np.where(np.arange(days) > 700, 2.0, 1.0)
        rows.append(pd.DataFrame({"coin": coin, "day": day, "close": 100 * np.exp(np.cumsum(rng.normal(0, v)))}))
    return pd.concat(rows, ignore_index=True)


def test_random_walk_frame_outcomes():
    p = _panel(days=60)
    f = coverage_round.random_walk_frame(p, IntervalConfig(vol_days=20))
    c = p[p["coin"] == "BTC"].set_index("day")["close"]
    r = f[(f["coin"] == "BTC") & (f["horizon"] == 3)].set_index("as_of")
    t = pd.Timestamp("2020-06-10")
    assert r.loc[t.date(), "realised"] == pytest.approx(math.log(c[t + pd.Timedelta(days=3)] / c[t]))
    assert (f["pred"] == 0).all() and r["realised"].isna().sum() == 3  # the last 3 days have no target yet


def test_predictions_frame_takes_one_candidate_and_seed_set():
    p = _panel(days=40)
    preds = pd.DataFrame({"candidate": ["blend_equal", "blend_equal", "control"], "seed_set": [0, 1, 0],
                          "fold": 0, "coin": "BTC", "as_of": "2020-07-01", "horizon": 1,
                          "pred_log_return": [0.1, 0.2, 0.3], "realised_log_return": 0.0})
    f = coverage_round.predictions_frame(preds, p)
    assert f["pred"].tolist() == [0.1] and set(f.columns) == {"coin", "as_of", "horizon", "pred", "realised", "vol"}
    with pytest.raises(ValueError):
        coverage_round.predictions_frame(preds, p, candidate="stacked")


def test_every_candidate_on_the_same_cells(monkeypatch):
    monkeypatch.setattr(coverage_round, "INNER", ("2021-06-01", "2021-09-30"))
    monkeypatch.setattr(coverage_round, "REPORTED", ("2021-10-07", "2022-11-10"))
    cfg = IntervalConfig(calib_days=120, min_coin_cells=30)
    res = coverage_round.run_round(_panel(), config=cfg)
    for period in ("inner", "reported"):
        for k, t in res["random_walk"][period].items():
            assert list(t) == list(CANDIDATES)
            assert len({r["n_cells"] for r in t.values()}) == 1 and t["none"]["n_cells"] > 0
            assert t["none"]["winkler_vs_none"] == 0.0
    assert set(res["picks"]) == {"80", "95"} and all(v in CANDIDATES for v in res["picks"].values())
    md = coverage_round.render_round(res)
    assert "pick: **" in md and "aci_0.02" in md
