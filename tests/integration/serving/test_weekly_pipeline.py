"""The weekly steps on PostgreSQL with tiny real models: train (walk-forward with every baseline, then
the fit) -> decide (the first-model gate, then a challenger vs the champion on the largest common set
of out-of-sample cells), recorded with every figure, idempotent; a corrupted artifact or a model built
to be constant-sign never replaces the champion."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime, timedelta, timezone

import numpy as np
import pytest

from cryptolstm import pipeline, storage
from cryptolstm.config import NAIVE_BASELINES, PromotionConfig
from orchestration_seed import insert_candles

END1 = datetime(2025, 1, 12, tzinfo=timezone.utc)
# The tiny test model has no skill: these tests relax the first-model gate's DA rules explicitly
# (margin -1, interval lower end > 0) — the constant-sign guard stays on.
CFG = replace(pipeline.PipelineConfig(train_profile="tiny", wf_folds=1, wf_days=28),
              promotion=PromotionConfig(first_model_margin=-1.0, first_model_min_lower=0.0, min_cells=40, weeks=4))


def _q(db, sql, params=()):
    with storage.transaction(db) as cur:
        cur.execute(sql, params)
        return cur.fetchall()


@pytest.mark.slow
def test_first_model_then_challenger_on_the_largest_common_set_of_cells(db):
    insert_candles(db, date(2025, 2, 10))
    t1 = pipeline.train_challenger(db, END1, CFG)
    assert not t1["reused"] and t1["training_cutoff"] == "2025-01-11"
    assert pipeline.train_challenger(db, END1, CFG)["reused"]  # rerun: same model, not retrained
    # the registry metrics carry the naive rules and both sign classifiers on the model's own cells
    base = _q(db, "SELECT metrics -> 'baselines' FROM models WHERE model_id = %s", (t1["model_id"],))[0][0]
    assert {"always_up", "reversal_7", "logit", "gbm_clf"} <= set(base)
    assert base["always_up"]["constant_sign_share"] == 1.0 and 0 <= base["logit"]["da"] <= 1
    metrics = _q(db, "SELECT metrics FROM models WHERE model_id = %s", (t1["model_id"],))[0][0]
    assert set(NAIVE_BASELINES) <= set(metrics["baseline_da"])  # every baseline on the same cells
    assert metrics["constant_sign"] == []  # the tiny test model's sign depends on its input
    d1 = pipeline.decide(db, END1, t1["model_id"], CFG)
    assert d1["promoted"] and d1["champion_id"] is None and d1["reason"].startswith("first model: promoted"), (d1["reason"], d1["details"])
    assert d1["challenger_da_ci_low"] < d1["challenger_da"] < d1["challenger_da_ci_high"]
    assert set(NAIVE_BASELINES) == set(d1["details"]["baseline_da"]) and d1["details"]["final_model_constant_sign"] == []
    assert pipeline.decide(db, END1, t1["model_id"], CFG)["reused"]

    # the champion forecasts and is scored for three weeks, then a challenger is trained
    for k in range(0, 21):
        day = date(2025, 1, 12) + timedelta(days=k)
        pipeline.forecast(db, day, f"run-{day}", CFG)
        pipeline.score(db, day)
    end2 = END1 + timedelta(days=21)
    t2 = pipeline.train_challenger(db, end2, CFG)
    d2 = pipeline.decide(db, end2, t2["model_id"], CFG)
    assert d2["champion_id"] == t1["model_id"]
    # the cells: every challenger walk-forward cell where the champion has a matured live forecast or a
    # walk-forward prediction of its own (realised return != 0)
    expected = _q(db, """
        SELECT count(*), count(f.coin) FROM validation_predictions v
        LEFT JOIN forecasts f ON f.model_id = %(cp)s AND (f.coin, f.as_of, f.horizon) = (v.coin, v.as_of, v.horizon)
             AND f.target_day <= %(cutoff)s
        LEFT JOIN validation_predictions c ON c.model_id = %(cp)s AND (c.coin, c.as_of, c.horizon) = (v.coin, v.as_of, v.horizon)
        WHERE v.model_id = %(ch)s AND (f.coin IS NOT NULL OR c.coin IS NOT NULL) AND v.realised_log_return <> 0""",
                  {"cp": t1["model_id"], "ch": t2["model_id"], "cutoff": end2.date() - timedelta(days=1)})[0]
    assert d2["n_cells"] == expected[0] > 40 and expected[1] > 0  # live forecasts are among them
    assert d2["details"]["cells_champion_live"] + d2["details"]["cells_both_walk_forward"] >= d2["n_cells"]
    assert d2["p_value"] is not None and d2["da_diff_ci_low"] <= d2["da_diff_ci_high"]
    diff = d2["challenger_da"] - d2["champion_da"]
    status = dict(_q(db, "SELECT model_id, status FROM models"))
    assert d2["promoted"] == (diff > CFG.promotion.margin and d2["p_value"] < CFG.promotion.alpha)
    assert status[t2["model_id"]] == ("champion" if d2["promoted"] else "rejected")
    hist = _q(db, "SELECT p_value, da_diff_ci_low, da_diff_ci_high FROM v_promotion_history ORDER BY decided_for")
    assert len(hist) == 2 and hist[1] == (d2["p_value"], d2["da_diff_ci_low"], d2["da_diff_ci_high"])


def _constant_sign(model):
    """The same model with its head's weights zeroed: the output is the bias, whatever the input."""
    for net in model.members["*"]:
        head = net.layers[-1]
        kernel, bias = head.get_weights()
        head.set_weights([np.zeros_like(kernel), np.full_like(bias, 0.3)])
    return model


def _first_challenger(db) -> str:
    """The first week's challenger, trained on the candles through Jan 20; its model id."""
    insert_candles(db, date(2025, 1, 20))
    return pipeline.train_challenger(db, END1, CFG)["model_id"]


@pytest.mark.slow
def test_a_model_built_to_be_constant_sign_is_rejected_with_the_reason(db, monkeypatch):
    from cryptolstm.modelling import train

    fit_member = train.fit_member  # every member's fit: the walk-forward folds' and the final fit's

    def flat_final_fit(*args, label="fit", **kwargs):  # the walk-forward folds stay as trained
        model = fit_member(*args, label=label, **kwargs)
        return _constant_sign(model) if label == "challenger final fit" else model

    monkeypatch.setattr(train, "fit_member", flat_final_fit)
    model_id = _first_challenger(db)
    d = pipeline.decide(db, END1, model_id, CFG)
    assert not d["promoted"] and "constant-sign" in d["reason"] and "final model h1" in d["reason"]
    assert d["details"]["final_model_constant_sign"] == [f"final model h{h}" for h in range(1, 6)]
    assert _q(db, "SELECT status FROM models") == [("rejected",)]


@pytest.mark.slow
def test_corrupted_challenger_never_replaces_the_champion(db):
    model_id = _first_challenger(db)
    with storage.transaction(db) as cur:
        cur.execute("UPDATE models SET artifact = 'garbage' WHERE model_id = %s", (model_id,))
    d = pipeline.decide(db, END1, model_id, CFG)
    assert not d["promoted"] and "artifact unusable" in d["reason"] and "sha256" in d["reason"]
    assert _q(db, "SELECT status, champion_from FROM models") == [("rejected", None)]
