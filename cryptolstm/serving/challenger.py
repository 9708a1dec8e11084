"""The weekly challenger: a seed ensemble, walk-forwarded over the evaluation window and trained on
every day up to the training cutoff, registered as a candidate with its metrics, the members' spread,
the gate's evidence (`promotion.GateEvidence`: the first-model rule judged here on the ensemble, where
the walk-forward and the final model are both at hand) and its out-of-sample predictions (what
`serving.decisions` later compares with the champion's). The pieces are trained by
`serving.members`, one (fold, member) at a time; `gather_members` joins them.
"""

from __future__ import annotations

import logging
from dataclasses import asdict
from datetime import date, datetime

from cryptolstm import storage
from cryptolstm.config import NAIVE_BASELINES, PipelineConfig, PromotionConfig
from cryptolstm.serving import members, promotion

log = logging.getLogger(__name__)


def train_challenger(dsn: str, end: datetime, config: PipelineConfig, served: tuple[str, ...],
                     log_fn=log.info) -> dict:
    """Walk-forward, train and register the challenger of the weekly interval ending `end`, in this
    process: `members.prepare`, every piece of `members.plan_members` (`members.train_member`, on the one
    loaded preparation), then `gather_members` — the computation the weekly DAG fans out as tasks. The
    walk-forward scores the `served` coins; every coin of the candles is trained on.

    A rerun of the same interval finds the model already registered and returns it unchanged.
    """
    from cryptolstm.serving import registry

    run = members.weekly_run(end, config)
    with storage.transaction(dsn) as cur:
        if registry.get(cur, run.model_id) is not None:
            return gather_members(dsn, end, config, served, None, log_fn)
    prepared = members.prepare(dsn, end, config, log_fn)
    prep = members.load_preparation(dsn, run, prepared["prep_key"])  # what every task loads, loaded once
    for piece in run.pieces(prep.key):
        members.train_member(dsn, end, config, piece, served, prep=prep, log_fn=log_fn)
    for spec in members.baseline_folds(run, prep.key):
        members.fit_baselines(dsn, end, config, spec, served, prep=prep, log_fn=log_fn)
    return gather_members(dsn, end, config, served, prepared, log_fn, prep=prep)


def gather_members(dsn: str, end: datetime, config: PipelineConfig, served: tuple[str, ...], prepared: dict | None,
                   log_fn=log.info, prep=None) -> dict:
    """Register the challenger of the weekly interval ending `end` from its stored pieces and preparation
    (`prepared`: `members.prepare`'s result; `prep`: the loaded preparation, when the caller has it): the
    members' walk-forward predictions averaged per cell, scored next to every challenger baseline's stored
    predictions of the same cells (`members.fit_baselines`), the final fit's members merged into one K-member
    bundle, the first-model gate's evidence judged on the ensemble, the members' spread in
    metrics['ensemble'], the ensemble's out-of-sample predictions. Raises `members.MembersMissing` (nothing registered, the champion stays) naming the
    pieces without rows. A rerun finds the model registered and returns it unchanged. Either way the pieces
    past their retention are deleted (`members.delete_expired_pieces`)."""
    import time

    from cryptolstm.evaluation import walkforward
    from cryptolstm.modelling.bundle import TrainedModel
    from cryptolstm.serving import registry

    run = members.weekly_run(end, config)
    with storage.transaction(dsn) as cur:
        existing = registry.get(cur, run.model_id)
        if existing is None:
            stored = members.stored_members(cur, run.model_id)
        else:
            deleted = members.delete_expired_pieces(cur, end, config.member_retention_weeks)
    if existing is not None:
        return {"model_id": run.model_id, "reused": True, "training_cutoff": str(run.cutoff),
                "status": existing.status, "members": existing.hyperparams.get("n_seeds"),
                "wf_folds": run.wf_folds, "coins": existing.hyperparams.get("coins"), "served": list(served),
                "pieces_deleted": deleted}
    if missing := members.missing_members(run, stored):
        raise members.MembersMissing(members.missing_message(run, missing))
    if prepared is None or prepared.get("model_id") != run.model_id:
        raise ValueError(f"the gather of {run.model_id} needs its preparation (prepare's result), got {prepared}")
    start = time.perf_counter()
    prep = members.load_preparation(dsn, run, prepared["prep_key"]) if prep is None else prep
    cube = prep.cube
    K = run.train.n_seeds
    with storage.transaction(dsn) as cur:
        member_preds = _member_predictions(cur, run.model_id)
        baseline_preds = _baseline_predictions(cur, run.model_id)
        final = TrainedModel.merge([_final_member(cur, run.model_id, i) for i in range(K)])
    if final.training_cutoff != run.cutoff:
        raise RuntimeError(f"the final members have cutoff {final.training_cutoff}, asked {run.cutoff}")
    if final.info.get("preparation") != prep.fit(None).digest:
        raise members.MembersMissing(f"{run.model_id}: the stored final-fit members were trained on another "
                                     "preparation than this run's: rerun the weekly run from its prepare task")
    preds, bpreds, fold_info, per_member = [], [], [], []
    for k, fold in enumerate(prep.bounds):
        cells = walkforward.fold_keys(cube, k, fold, run.train, served)  # [fold, coin, as_of, horizon]
        frames = [_aligned(member_preds, cells, k, i) for i in range(K)]
        per_member.append(frames)
        preds.append(walkforward.combine(frames))
        bpreds.append(_aligned_baselines(baseline_preds, cells, k, run))
        fold_info.append(walkforward.fold_summary(cube, k, fold, len(cells) // run.train.horizons,
                                                  [stored[k, i] for i in range(K)]))
    combined_metrics, ensemble_preds = {}, preds
    if run.train.combination != "none":  # what is served, and judged, is the combination (issue 28)
        preds, final, combined_metrics = _combine(run, prep, served, preds, stored, final)
    # issue 26: the confidence reference travels with the model, the evidence per tier with its metrics
    final, tier_metrics = _tiers(run, prep, served, ensemble_preds, per_member, preds, bpreds, combined_metrics,
                                 final, config.tiers)
    fit_seconds = sum(f["fit_seconds"] for f in fold_info)
    wf = walkforward.assemble(preds, bpreds, fold_info, fit_seconds + time.perf_counter() - start)
    for f in wf.folds:
        log_fn(f"fold {f['fold']}: cutoff {f['cutoff']}, scored {f['val_start']}..{f['val_end']} "
               f"({f['n_cells']} cells), fit {f['fit_seconds']:.1f}s, epochs {f['epochs']}")
    final_cube = prep.fit(None).cube  # the features the final members were fitted on, in their coin order
    evidence = gate_evidence(wf, final_model_constant_sign(final, final_cube, run.cutoff), config.promotion)
    spread = ensemble_spread(per_member, run.train)
    metrics = {**walk_forward_metrics(wf, run.eval_start, run.eval_end), **evidence.to_metrics(), "ensemble": spread,
               **combined_metrics, "tiers": tier_metrics}
    artifact = final.to_bytes()
    with storage.transaction(dsn) as cur:
        rec = registry.register(cur, model_id=run.model_id, created_for=end, training_cutoff=run.cutoff,
                                feature_version=final.feature_version,
                                hyperparams={**final.hyperparams(), **run.ident}, code_version=registry.code_version(),
                                metrics=metrics, artifact=artifact)
        storage.execute_batch(cur, "validation_predictions_insert", _validation_rows(run.model_id, wf))
        deleted = members.delete_expired_pieces(cur, end, config.member_retention_weeks)
    return {"model_id": run.model_id, "reused": False, "training_cutoff": str(run.cutoff), "status": rec.status,
            "members": K, "wf_folds": len(wf.folds), "coins": list(final.coins), "served": list(served),
            "pieces_deleted": deleted,
            "wf_da": metrics["da"], "member_da": spread["member_da"], "first_model_gate": evidence.first_model_gate.reason,
            "wf_cells": metrics["n_cells"], "artifact_bytes": len(artifact),
            "eval_window": [str(run.eval_start), str(run.eval_end)], "wf_seconds": round(wf.seconds, 1)}


def _combine(run, prep, served: tuple[str, ...], preds, stored, final):
    """(the folds' predictions of the served combination, the final model carrying it, its metrics entry): the
    walk-forward's signals and scales (`combined.fold_inputs`), each fold combined with what the folds before it
    fitted (`combination.combine_walk_forward`: the stacked weights are nested), and the final model's
    combination fitted on every fold and the final training period (`combined.fit_served`)."""
    import pandas as pd

    from cryptolstm.evaluation import combination
    from cryptolstm.serving import combined

    method, K = run.train.combination, run.train.n_seeds
    signals, scales = combined.fold_inputs(prep.cube, prep.bounds, run.train, served,
                                           [[stored[k, i] for i in range(K)] for k in range(len(prep.bounds))])
    ensemble = pd.concat(preds, ignore_index=True)
    out, params = combination.combine_walk_forward(ensemble, signals, scales, method)
    if "pred_scale" not in final.info:
        raise combination.CombinationError(f"{run.model_id}: the final members stored no prediction scale")
    fitted = combined.fit_served(method, ensemble, signals, scales, prep.fit(None), run.train, final.info["pred_scale"])
    folds = [out[out["fold"] == k].reset_index(drop=True) for k in range(len(prep.bounds))]
    return folds, final.with_combination(fitted.to_json()), {
        "combination": {"method": method, "per_fold": {str(k): v for k, v in params.items()},
                        "served": {k: v for k, v in fitted.to_json().items() if k != "classifier"}}}


def _tiers(run, prep, served: tuple[str, ...], ensemble, per_member, served_preds, bpreds, combined_metrics: dict,
           final, config):
    """(the final model carrying its confidence reference, metrics["tiers"]) of the walk-forward: per fold the
    ensemble mean, the members, the served forecast, the stored baselines, and the rule the combination used
    (`combination.combine_walk_forward`'s per-fold best rule; none without a combination)."""
    from cryptolstm.serving import confidence

    per_fold = combined_metrics.get("combination", {}).get("per_fold")
    rules = None if per_fold is None else {int(k): v["scales"]["best_rule"] for k, v in per_fold.items()}
    ens, members_, srv, rule, base = confidence.walk_forward_cells(ensemble, per_member, served_preds, bpreds, rules)
    signals = confidence.fold_returns(prep.cube, prep.bounds, run.train, served)
    return (final.with_confidence_reference(confidence.reference(ens, members_, srv, rule, config)),
            confidence.evidence(ens, members_, srv, rule, base, signals, config))


def _member_predictions(cur, model_id: str):
    """Every stored member prediction of `model_id`: [fold, member, coin, as_of, horizon, pred_log_return,
    realised_log_return]."""
    import pandas as pd

    cur.execute(storage.query("member_predictions_select"), {"model_id": model_id})
    return pd.DataFrame(cur.fetchall(), columns=["fold", "member", "coin", "as_of", "horizon", "pred_log_return",
                                                 "realised_log_return"])


def _baseline_predictions(cur, model_id: str):
    """Every stored baseline prediction of `model_id`: [fold, coin, as_of, horizon, <one column per baseline>],
    the baselines in `challenger_baselines` order."""
    import pandas as pd

    from cryptolstm.evaluation import baselines

    cur.execute(storage.query("baseline_predictions_select"), {"model_id": model_id})
    rows = cur.fetchall()
    names = [b.name for b in baselines.challenger_baselines()]
    keys = pd.DataFrame([r[:4] for r in rows], columns=["fold", "coin", "as_of", "horizon"])
    values = pd.DataFrame([r[4] for r in rows], columns=names, dtype=float)
    return pd.concat([keys, values], axis=1)


def _aligned_baselines(baseline_preds, cells, fold: int, run):
    """Fold `fold`'s stored baseline predictions, row for row in the order of `cells`; MembersMissing when the
    fold's baselines were not stored for exactly these cells (rerun its fit_baselines task)."""
    mine = baseline_preds[baseline_preds["fold"] == fold]
    out = _in_order(mine, cells)
    if out is None:
        raise members.MembersMissing(f"{run.model_id}: the baselines of fold {fold} are not stored for the fold's "
                                     f"{len(cells)} cells ({len(mine)} stored); nothing was registered or decided "
                                     "(the champion stays): rerun that fold's fit_baselines task, then the gather")
    return out


def _final_member(cur, model_id: str, member: int):
    """The final fit's member `member` of `model_id`, loaded from its sha256-checked one-member bundle."""
    from cryptolstm.modelling.bundle import TrainedModel

    cur.execute(storage.query("member_weights_select_artifact"), {"model_id": model_id, "member": member})
    artifact, digest = cur.fetchone()
    return TrainedModel.from_bytes(bytes(artifact), digest, part=True)  # a member: no combination yet


def _aligned(member_preds, cells, fold: int, member: int):
    """Member `member`'s stored predictions of `fold`, row for row in the order of `cells` (the fold's
    [fold, coin, as_of, horizon] keys); ValueError when it predicted other cells."""
    mine = member_preds[(member_preds["fold"] == fold) & (member_preds["member"] == member)].drop(columns="member")
    out = _in_order(mine, cells)
    if out is None:
        raise ValueError(f"fold {fold} member {member}: stored predictions are not the fold's {len(cells)} cells "
                         f"({len(mine)} stored)")
    return out


def _in_order(stored, cells):
    """One fold's `stored` rows (keyed by walkforward.KEYS) in the order of `cells`, or None unless they are
    exactly those cells, each with every value."""
    from cryptolstm.evaluation.walkforward import KEYS

    out = cells.merge(stored, on=KEYS, how="left", validate="one_to_one")
    return None if len(stored) != len(cells) or out.drop(columns=KEYS).isna().any().any() else out


def ensemble_spread(per_member, config) -> dict:
    """How far the members differ, on the walk-forward cells: each member's DA, their range, and the mean
    over cells of the members' standard deviation (ddof 0) of the predicted log return.
    `per_member`: per fold, the members' aligned prediction frames (members in order)."""
    import numpy as np
    import pandas as pd

    from cryptolstm.evaluation import metrics

    K = len(per_member[0])
    stacked = [pd.concat([fold[i] for fold in per_member], ignore_index=True) for i in range(K)]
    y = stacked[0]["realised_log_return"].to_numpy()
    pred = np.stack([m["pred_log_return"].to_numpy() for m in stacked])  # [K, cells x H]
    member_da = [metrics.directional_accuracy(y, p) for p in pred]
    return {"members": K, "seeds": [config.member_seed(i) for i in range(K)], "member_da": member_da,
            "da_min": min(member_da), "da_max": max(member_da), "pred_sd": float(pred.std(axis=0).mean())}


def walk_forward_metrics(wf, eval_start: date, eval_end: date) -> dict:
    """The walk-forward figures registered with the model: its DA, MAE ratio and interval, per fold and
    horizon, and every baseline (the naive rules, logit and gbm_clf) on the same cells (the registry's JSON)."""
    m = wf.metrics
    return {"da": m.da, "mae_ratio_rw": m.mae_ratio_rw, "n_cells": m.n_cells,
            "eval_start": str(eval_start), "eval_end": str(eval_end), "folds": wf.folds,
            "overall": m.model.overall.to_json(), "per_horizon": m.model.to_json()["per_horizon"],
            "baselines": m.baseline_table(), "baseline_da": {k: v.overall.da for k, v in m.baselines.items()},
            "da_ci95": list(m.bootstrap["overall"].da_ci)}


def _validation_rows(model_id: str, wf) -> list[dict]:
    """The `validation_predictions_insert` rows of the walk-forward's out-of-sample predictions."""
    fold_cutoff = {f["fold"]: date.fromisoformat(f["cutoff"]) for f in wf.folds}
    return [{"model_id": model_id, "coin": r.coin, "as_of": r.as_of, "horizon": int(r.horizon), "fold": int(r.fold),
             "fold_cutoff": fold_cutoff[int(r.fold)], "pred_log_return": float(r.pred_log_return),
             "realised_log_return": float(r.realised_log_return)} for r in wf.predictions.itertuples(index=False)]


def final_model_constant_sign(model, cube, last_day: date, days: int = 120) -> list[str]:
    """Horizons at which the model's served prediction (its combination's, when it serves one) has one sign for
    every coin and every one of the last
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
    if model.combination is None:
        pred = model.predict_cells(cube, plan.coin, plan.t)  # [N, H]
    else:  # what it serves: the combination (issue 28)
        from cryptolstm.serving import combined

        pred = combined.predict_cells(model, cube, plan.coin, plan.t)  # [N, H]
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
