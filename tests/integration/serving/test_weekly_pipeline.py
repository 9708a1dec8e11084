"""The weekly steps on PostgreSQL with tiny real models: train -> decide (first model, then a
challenger vs the champion on the same cells), recorded, idempotent, and a corrupted artifact never
replaces the champion."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime, timedelta, timezone

import pytest

from cryptolstm import pipeline, storage
from cryptolstm.serving.promotion import PromotionConfig
from orchestration_seed import insert_candles

END1 = datetime(2025, 1, 12, tzinfo=timezone.utc)
CFG = replace(pipeline.PipelineConfig(train_profile="tiny", wf_folds=1, wf_days=28),
              promotion=PromotionConfig(first_model_margin=-1.0, min_cells=40, weeks=4))


def _q(db, sql, params=()):
    with storage.transaction(db) as cur:
        cur.execute(sql, params)
        return cur.fetchall()


@pytest.mark.slow
def test_first_model_then_challenger_on_the_same_cells(db):
    insert_candles(db, date(2025, 2, 10))
    t1 = pipeline.train_challenger(db, END1, CFG)
    assert not t1["reused"] and t1["training_cutoff"] == "2025-01-11"
    assert pipeline.train_challenger(db, END1, CFG)["reused"]  # rerun: same model, not retrained
    # the registry metrics carry the naive rules and both sign classifiers on the model's own cells
    base = _q(db, "SELECT metrics -> 'baselines' FROM models WHERE model_id = %s", (t1["model_id"],))[0][0]
    assert {"always_up", "reversal_7", "logit", "gbm_clf"} <= set(base)
    assert base["always_up"]["constant_sign_share"] == 1.0 and 0 <= base["logit"]["da"] <= 1
    d1 = pipeline.decide(db, END1, t1["model_id"], CFG)
    assert d1["promoted"] and d1["champion_id"] is None and d1["reason"].startswith("first model")
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
    # the cells compared are the champion's matured live forecasts in the comparison window
    first, last = date(2025, 1, 12), end2.date() - timedelta(days=6)
    n_expected = _q(db, "SELECT count(*) FROM forecast_scores WHERE model_id = %s AND as_of BETWEEN %s AND %s "
                        "AND realised_log_return <> 0", (t1["model_id"], first, last))[0][0]
    assert d2["n_cells"] == n_expected > 40
    assert d2["challenger_da"] is not None and d2["champion_da"] is not None and d2["p_value"] is not None
    status = dict(_q(db, "SELECT model_id, status FROM models"))
    if d2["promoted"]:
        assert d2["challenger_da"] > d2["champion_da"] and status == {t1["model_id"]: "retired", t2["model_id"]: "champion"}
    else:
        assert d2["challenger_da"] <= d2["champion_da"] and status[t2["model_id"]] == "rejected"
    assert _q(db, "SELECT count(*) FROM v_promotion_history")[0][0] == 2


@pytest.mark.slow
def test_corrupted_challenger_never_replaces_the_champion(db):
    insert_candles(db, date(2025, 1, 20))
    t1 = pipeline.train_challenger(db, END1, CFG)
    with storage.transaction(db) as cur:
        cur.execute("UPDATE models SET artifact = 'garbage' WHERE model_id = %s", (t1["model_id"],))
    d = pipeline.decide(db, END1, t1["model_id"], CFG)
    assert not d["promoted"] and "artifact unusable" in d["reason"] and "sha256" in d["reason"]
    assert _q(db, "SELECT status, champion_from FROM models") == [("rejected", None)]
