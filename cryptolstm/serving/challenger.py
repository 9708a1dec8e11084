"""The weekly challenger: walk-forward the configuration over the evaluation window, train it on
every day up to the training cutoff, and register it as a candidate with its metrics, the gate's
evidence (`promotion.GateEvidence`: the first-model rule judged here, where the walk-forward and the
final model are both at hand) and its out-of-sample predictions (what `serving.decisions` later
compares with the champion's).
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import asdict
from datetime import date, datetime

from cryptolstm import storage
from cryptolstm.calendar import as_date, evaluation_window, training_cutoff
from cryptolstm.config import NAIVE_BASELINES, PipelineConfig, PromotionConfig
from cryptolstm.serving import promotion

log = logging.getLogger(__name__)


def model_id_for(cutoff: date, hyperparams: dict) -> str:
    """Deterministic id: the training cutoff plus a digest of the configuration and feature version."""
    digest = hashlib.sha256(json.dumps(hyperparams, sort_keys=True, default=str).encode()).hexdigest()[:8]
    return f"lstm-{cutoff:%Y%m%d}-{digest}"


def train_challenger(dsn: str, end: datetime, config: PipelineConfig, served: tuple[str, ...],
                     log_fn=log.info) -> dict:
    """Walk-forward, train and register the challenger of the weekly interval ending `end`. The
    walk-forward scores the `served` coins; every coin of the candles is trained on.

    A rerun of the same interval finds the model already registered and returns it unchanged.
    """
    from cryptolstm.evaluation import baselines, walkforward
    from cryptolstm.market import panel as panel_mod
    from cryptolstm.modelling import features, train
    from cryptolstm.serving import registry

    week_end = as_date(end)
    cutoff = training_cutoff(week_end)
    tc = config.train_config()
    ident = {"train": asdict(tc), "feature_version": features.FEATURE_VERSION, "wf_folds": config.wf_folds,
             "wf_days": config.wf_days}
    model_id = model_id_for(cutoff, ident)
    with storage.transaction(dsn) as cur:
        existing = registry.get(cur, model_id)
    if existing is not None:
        return {"model_id": model_id, "reused": True, "training_cutoff": str(cutoff), "status": existing.status}
    panel = panel_mod.read_candles(dsn, until=cutoff)
    if len(panel) == 0:
        raise ValueError(f"no candles up to {cutoff}: ingest history first")
    eval_start, eval_end = evaluation_window(week_end, config)
    # the folds and cells of `cryptolstm evaluate` (production: 5 folds x 120 as-of days) with every naive
    # rule on the same cells, run once; the fit below is the only other training of the week
    cube = train.build_cube(panel)  # features once for the whole weekly run (every fold + the final fit)
    wf = walkforward.walk_forward(cube, tc, n_folds=config.wf_folds, eval_start=eval_start, eval_end=eval_end,
                                  log=log_fn, score_coins=served,
                                  baselines=baselines.challenger_baselines())
    model = train.fit(cube, cutoff, tc, label="challenger final fit")
    if model.training_cutoff != cutoff:
        raise RuntimeError(f"fit returned cutoff {model.training_cutoff}, asked {cutoff}")
    evidence = gate_evidence(wf, final_model_constant_sign(model, cube, cutoff), config.promotion)
    metrics = {**walk_forward_metrics(wf, eval_start, eval_end), **evidence.to_metrics()}
    artifact = model.to_bytes()
    with storage.transaction(dsn) as cur:
        rec = registry.register(cur, model_id=model_id, created_for=end, training_cutoff=cutoff,
                                feature_version=model.feature_version, hyperparams={**model.hyperparams(), **ident},
                                code_version=registry.code_version(), metrics=metrics, artifact=artifact)
        storage.execute_batch(cur, "validation_predictions_insert", _validation_rows(model_id, wf))
    return {"model_id": model_id, "reused": False, "training_cutoff": str(cutoff), "status": rec.status,
            "wf_da": metrics["da"], "wf_folds": len(wf.folds), "first_model_gate": evidence.first_model_gate.reason,
            "wf_cells": metrics["n_cells"], "artifact_bytes": len(artifact),
            "eval_window": [str(eval_start), str(eval_end)], "wf_seconds": round(wf.seconds, 1)}


def walk_forward_metrics(wf, eval_start: date, eval_end: date) -> dict:
    """The walk-forward figures registered with the model: its DA, MAE ratio and interval, per fold and
    horizon, and every baseline (the naive rules, logit and gbm_clf) on the same cells."""
    from cryptolstm.evaluation import walkforward

    m = wf.metrics
    return {"da": m["da"], "mae_ratio_rw": m["mae_ratio_rw"], "n_cells": m["n_cells"],
            "eval_start": str(eval_start), "eval_end": str(eval_end), "folds": wf.folds,
            "overall": m["models"]["model"]["overall"], "per_horizon": m["models"]["model"]["per_horizon"],
            "baselines": walkforward.baseline_table(m),
            "baseline_da": {k: v["overall"]["da"] for k, v in m["models"].items() if k != "model"},
            "da_ci95": m["bootstrap"]["overall"]["da_ci"]}


def _validation_rows(model_id: str, wf) -> list[dict]:
    """The `validation_predictions_insert` rows of the walk-forward's out-of-sample predictions."""
    fold_cutoff = {f["fold"]: date.fromisoformat(f["cutoff"]) for f in wf.folds}
    return [{"model_id": model_id, "coin": r.coin, "as_of": r.as_of, "horizon": int(r.horizon), "fold": int(r.fold),
             "fold_cutoff": fold_cutoff[int(r.fold)], "pred_log_return": float(r.pred_log_return),
             "realised_log_return": float(r.realised_log_return)} for r in wf.predictions.itertuples(index=False)]


def final_model_constant_sign(model, cube, last_day: date, days: int = 120) -> list[str]:
    """Horizons at which the model's prediction has one sign for every coin and every one of the last
    `days` as-of days up to `last_day` (its sign does not depend on its input), e.g. ['final model h3'].
    `cube`: the features the model was fitted on (`train.build_cube` of the candles up to `last_day`)."""
    import numpy as np

    from cryptolstm.evaluation import metrics
    from cryptolstm.market import panel as panel_mod
    from cryptolstm.modelling import windows

    if tuple(cube.coins) != tuple(model.coins):
        raise ValueError(f"cube coins {cube.coins} are not the model's {model.coins}")
    e = cube.last_index_on_or_before(panel_mod.to_day(last_day))
    plan = windows.index_plan(~np.isnan(cube.x).any(axis=2), ~np.isnan(cube.log_close), model.config.window,
                              model.config.horizons, first=max(0, e - days + 1), last=e)
    pred = model.predict_cells(cube, plan.coin, plan.t)  # [N, H]
    flags = metrics.constant_sign_flags(pred, np.zeros(len(plan.t)))  # one group: the final model
    return [f"final model h{h + 1}" for (_, h), flat in flags.items() if flat]


def gate_evidence(wf, final_constant_sign: list[str], config: PromotionConfig) -> promotion.GateEvidence:
    """The first-model rule on a walk-forward result (the model and every naive baseline on the same
    cells) and the final model's constant-sign finding, judged once with `config`."""
    from cryptolstm.evaluation.walkforward import KEYS

    p = wf.predictions.sort_values(KEYS, kind="stable").reset_index(drop=True)
    b = wf.baseline_predictions.sort_values(KEYS, kind="stable").reset_index(drop=True)
    if not p[KEYS].equals(b[KEYS]):
        raise ValueError("baselines must be scored on exactly the model's cells")
    base = {n: b[n].to_numpy() for n in NAIVE_BASELINES if n in b.columns}
    y, pred, fold, horizon = (p[k].to_numpy() for k in ("realised_log_return", "pred_log_return", "fold", "horizon"))
    gate = promotion.first_model(y, pred, p["as_of"].to_numpy(), fold, horizon, base, config,
                                 constant_sign=final_constant_sign)
    return promotion.GateEvidence(gate, promotion.walk_forward_constant_sign(pred, fold, horizon),
                                  list(final_constant_sign), asdict(config))
