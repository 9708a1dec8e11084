"""Issue 28 on PostgreSQL with tiny real models: a weekly model that serves the stacked combination stores its
weights (nested per fold in its metrics, the served ones in its bundle and in v_models), its walk-forward is the
combination's, and the day's forecast is the combination of the ensemble's prediction computed from candles <= t."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime, timezone

import numpy as np
import pytest

from cryptolstm import pipeline, storage
from cryptolstm.config import PromotionConfig, TierConfig
from cryptolstm.evaluation.combination import ServedCombination
from cryptolstm.market import panel as panel_mod
from cryptolstm.modelling import features
from cryptolstm.serving import combined, forecast, registry
from orchestration_seed import insert_candles

END = datetime(2025, 1, 12, tzinfo=timezone.utc)
CFG = replace(pipeline.PipelineConfig(train_profile="tiny", wf_folds=2, wf_days=28, combination="stacked"),
              promotion=PromotionConfig(first_model_margin=-1.0, first_model_min_lower=0.0, min_cells=40, weeks=4))
BLEND = replace(CFG, combination="blend_equal")  # the default of the full profile (round 9)

pytestmark = pytest.mark.slow


def _q(db, sql, params=()):
    with storage.transaction(db) as cur:
        cur.execute(sql, params)
        return cur.fetchall()


def _served_day_is_the_combination(db, mid: str, label: str, day: date = date(2025, 1, 13)) -> None:
    """The day's stored forecast of model `mid` (provisional) is its served combination of the ensemble's bare
    prediction, recomputed here from the stored bundle and the candles <= day, and not the bare prediction."""
    out = forecast.forecast_as_of(db, day, label)
    assert out["status"] == "provisional" and out["model_id"] == mid and out["rows"] > 0
    stored = {(c, h): p for c, h, p in _q(db, "SELECT coin, horizon, pred_log_return FROM forecasts "
                                             "WHERE as_of = %s", (day,))}
    model = registry.load_model(db, mid)
    everything = panel_mod.read_candles(db, until=day)
    feats = features.build_features(everything)
    panel = everything[everything["coin"].isin(out["coins"])].reset_index(drop=True)
    bare = model.predict(panel, day, features=feats[feats["coin"].isin(out["coins"])])
    expected = combined.combine_day(ServedCombination.from_json(model.combination), bare,
                                    feats[feats["day"] == panel_mod.to_day(day)])
    got = np.array([stored[(r.coin, r.horizon)] for r in expected.itertuples()])
    np.testing.assert_allclose(got, expected["pred_log_return"].to_numpy(), rtol=1e-12, atol=0)
    assert not np.allclose(got, bare.sort_values(["coin", "horizon"])["pred_log_return"].to_numpy())
    # issue 26: every row carries its confidence and tier, from the reference the gather stored in the bundle
    tiered = _q(db, "SELECT confidence, members_agree, tier FROM forecasts WHERE as_of = %s", (day,))
    assert model.confidence_reference is not None and len(tiered) == out["rows"] == out["with_tier"]
    assert all(0 <= c <= 1 and a == 1.0 and t in ("high", "medium", "low") for c, a, t in tiered)


def _tier_evidence(metrics: dict) -> None:
    """metrics["tiers"]: the walk-forward DA per tier with its interval, the high tier per horizon and coin, and
    each baseline on its own top cells at the same coverage (issue 26)."""
    ev, cfg = metrics["tiers"], TierConfig()
    assert (ev["score"], ev["high_share"], ev["low_share"]) == (cfg.score, cfg.high_share, cfg.low_share)
    assert sum(ev[t]["n"] for t in ("high", "medium", "low")) == ev["n_cells"] == metrics["n_cells"]
    assert ev["high"]["ci"][0] <= ev["high"]["da"] <= ev["high"]["ci"][1]
    assert set(ev["high_per_horizon"]) == {"1", "2", "3", "4", "5"}
    assert {"reversal_1", "momentum_7", "logit", "always_up"} <= set(ev["baselines_at_coverage"])


def test_a_stacked_weekly_model_stores_its_weights_and_serves_the_combination(db):
    insert_candles(db, date(2025, 2, 10))
    mid = pipeline.train_challenger(db, END, CFG)["model_id"]
    (hp, metrics, method, weights), = _q(db, "SELECT hyperparams, metrics, combination, combination_weights "
                                            "FROM v_models WHERE model_id = %s", (mid,))
    assert hp["combination"] == method == "stacked" and weights == hp["served_combination"]["weights"]["weights"]
    served = hp["served_combination"]
    assert served["method"] == "stacked" and np.isfinite(served["weights"]["weights"]).all()
    assert served["weights"]["fitted_on"] == [0, 1] and "classifier" not in served
    per_fold = metrics["combination"]["per_fold"]
    assert per_fold["0"]["weights"]["fitted_on"] == [] and per_fold["1"]["weights"]["fitted_on"] == [0]

    _tier_evidence(metrics)
    _served_day_is_the_combination(db, mid, "combination-test")


def test_a_blend_equal_weekly_model_stores_its_rule_and_scales_and_serves_the_blend(db):
    """The served default (round 9): no weights, the final period's best rule and scales; the day's forecast is
    scale_lstm x (z_lstm + z_rule) / 2 of the ensemble's prediction and the rule's trailing return at t."""
    insert_candles(db, date(2025, 2, 10))
    mid = pipeline.train_challenger(db, END, BLEND)["model_id"]
    (hp, metrics, method, weights), = _q(db, "SELECT hyperparams, metrics, combination, combination_weights "
                                            "FROM v_models WHERE model_id = %s", (mid,))
    assert hp["combination"] == method == "blend_equal" and weights is None
    assert hp["served_combination"]["method"] == "blend_equal" and hp["served_combination"]["weights"] is None
    served = ServedCombination.from_json(registry.load_model(db, mid).combination)  # the bundle's, classifier too
    assert served.method == "blend_equal" and served.weights is None and min(served.scales.lstm) > 0
    assert set(metrics["combination"]["per_fold"]) == {"0", "1"}
    assert all(p["rule"] in ("reversal_1", "reversal_3", "reversal_7", "momentum_1", "momentum_3", "momentum_7")
               for p in metrics["combination"]["per_fold"].values())

    _tier_evidence(metrics)
    _served_day_is_the_combination(db, mid, "blend-test")
