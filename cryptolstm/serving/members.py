"""The weekly run's training, one ensemble member at a time: the plan of (fold, member) pieces, and one
piece trained and stored. Each piece is an Airflow mapped task in the weekly DAG (any worker of the
`train` queue); `serving.challenger` gathers them into one registered K-member model.

A piece is keyed by (model_id, fold, member): fold 0..n-1 is a walk-forward fold (its member's
out-of-sample predictions and weights are stored), fold FINAL_FIT the fit on every day up to the
training cutoff (weights only). Storing a piece replaces exactly its own rows in one transaction, so
a retried or rerun piece leaves the rows it would have left the first time, and a piece that dies
before it commits leaves none.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from datetime import date, datetime

from cryptolstm import storage
from cryptolstm.errors import Permanent
from cryptolstm.calendar import as_date, evaluation_window, training_cutoff
from cryptolstm.config import PipelineConfig, TrainConfig

FINAL_FIT = -1  # the `fold` of the final fit's members; walk-forward folds are 0..n-1


class MembersMissing(Permanent, RuntimeError):
    """The gather found (fold, member) pieces of the ensemble without stored rows: it cannot decide (a
    rerun of the gather cannot help; rerun the missing train_member tasks)."""


def model_id_for(cutoff: date, hyperparams: dict) -> str:
    """Deterministic id: the training cutoff plus a digest of the configuration and feature version."""
    digest = hashlib.sha256(json.dumps(hyperparams, sort_keys=True, default=str).encode()).hexdigest()[:8]
    return f"lstm-{cutoff:%Y%m%d}-{digest}"


@dataclass(frozen=True)
class WeeklyRun:
    """What every piece of the weekly run ending `end` derives alike from the interval and configuration."""

    end: datetime
    cutoff: date  # training cutoff: end.date() - 1
    train: TrainConfig  # with the ensemble size (n_seeds) of the pipeline configuration
    wf_folds: int
    eval_start: date  # the walk-forward scores the as-of days [eval_start, eval_end]
    eval_end: date
    ident: dict  # what the model id digests (and the registry records beside the hyperparameters)
    model_id: str

    def keys(self) -> list[tuple[int, int]]:
        """Every (fold, member) piece: the final fit's members first (the longest fits start first, so a
        fanned-out run ends sooner), then fold by fold."""
        return [(fold, i) for fold in (FINAL_FIT, *range(self.wf_folds)) for i in range(self.train.n_seeds)]


def weekly_run(end: datetime, config: PipelineConfig) -> WeeklyRun:
    """The `WeeklyRun` of the weekly interval ending `end`."""
    from cryptolstm.modelling import features

    cutoff = training_cutoff(as_date(end))
    tc = config.train_config()
    ident = {"train": asdict(tc), "feature_version": features.FEATURE_VERSION, "wf_folds": config.wf_folds,
             "wf_days": config.wf_days}
    eval_start, eval_end = evaluation_window(as_date(end), config)
    return WeeklyRun(end, cutoff, tc, config.wf_folds, eval_start, eval_end, ident, model_id_for(cutoff, ident))


def plan_members(end: datetime, config: PipelineConfig) -> list[dict]:
    """The pieces of the weekly run ending `end`, as small JSON specs {model_id, fold, member} (one mapped
    task each). Reads nothing: a piece of an already registered model is a no-op (`train_member`)."""
    run = weekly_run(end, config)
    return [{"model_id": run.model_id, "fold": fold, "member": i} for fold, i in run.keys()]


def read_cube(dsn: str, cutoff: date):
    """The feature cube (`train.build_cube`) of every stored candle up to `cutoff`."""
    from cryptolstm.market import panel as panel_mod
    from cryptolstm.modelling import train

    panel = panel_mod.read_candles(dsn, until=cutoff)
    if len(panel) == 0:
        raise ValueError(f"no candles up to {cutoff}: ingest history first")
    return train.build_cube(panel)


def fold_bounds(run: WeeklyRun, cube) -> list:
    """The walk-forward folds (`walkforward.folds`) the weekly run scores: `cryptolstm evaluate`'s
    computation on the evaluation window (production: 5 folds x 120 as-of days)."""
    from cryptolstm.evaluation import walkforward

    return walkforward.folds(cube, run.train, n_folds=run.wf_folds, eval_start=run.eval_start, eval_end=run.eval_end)


def train_member(dsn: str, end: datetime, config: PipelineConfig, spec: dict, served: tuple[str, ...],
                 cube=None, log_fn=None) -> dict:
    """Train one piece of `plan_members` and store it: member `spec['member']` at the fold's cutoff (or
    the training cutoff for FINAL_FIT), then in ONE transaction its rows are replaced by its weights (a
    one-member bundle) and, for a fold, its out-of-sample predictions on the `served` coins. `cube`: the
    candles' feature cube up to the cutoff, when the caller has it. A piece of a registered model is a
    no-op."""
    from cryptolstm.evaluation import walkforward
    from cryptolstm.modelling import train
    from cryptolstm.serving import registry

    run = weekly_run(end, config)
    fold, member = int(spec["fold"]), int(spec["member"])
    key = {"model_id": run.model_id, "fold": fold, "member": member}
    if spec.get("model_id") != run.model_id or (fold, member) not in run.keys():
        raise ValueError(f"{spec} is not a piece of the weekly run ending {end} (model {run.model_id}, "
                         f"pieces {run.keys()})")
    with storage.transaction(dsn) as cur:
        if registry.get(cur, run.model_id) is not None:
            return {**key, "reused": True}
    cube = read_cube(dsn, run.cutoff) if cube is None else cube
    rows = []
    if fold == FINAL_FIT:
        model = train.fit(cube, run.cutoff, run.train, label="challenger final fit", members=(member,))
        if model.training_cutoff != run.cutoff:
            raise RuntimeError(f"fit returned cutoff {model.training_cutoff}, asked {run.cutoff}")
    else:
        bounds = fold_bounds(run, cube)
        model, frame = walkforward.fold_member_predictions(cube, fold, bounds[fold], run.train, member, served,
                                                           len(bounds))
        rows = [{**key, "coin": r.coin, "as_of": r.as_of, "horizon": int(r.horizon),
                 "pred_log_return": float(r.pred_log_return), "realised_log_return": float(r.realised_log_return)}
                for r in frame.itertuples(index=False)]
    artifact = model.to_bytes()
    with storage.transaction(dsn) as cur:
        cur.execute(storage.query("member_predictions_delete"), key)
        cur.execute(storage.query("member_weights_delete"), key)
        storage.execute_batch(cur, "member_predictions_insert", rows)
        cur.execute(storage.query("member_weights_insert"), {
            **key, "seed": run.train.member_seed(member), "training_cutoff": model.training_cutoff,
            "info": registry.to_json(model.info), "artifact": artifact, "artifact_sha256": registry.sha256(artifact)})
    if log_fn is not None:
        log_fn(f"({piece_name(fold, member)}): cutoff {model.training_cutoff}, epochs {model.info.get('epochs')}, "
               f"{len(rows)} predictions, {model.info.get('train_seconds')} s")
    return {**key, "reused": False, "training_cutoff": str(model.training_cutoff), "predictions": len(rows),
            "epochs": model.info.get("epochs"), "fit_seconds": model.info.get("train_seconds")}


def stored_members(cur, model_id: str) -> dict[tuple[int, int], dict]:
    """{(fold, member): training info} of the pieces stored for `model_id`."""
    cur.execute(storage.query("member_weights_select_info"), {"model_id": model_id})
    return {(int(fold), int(member)): info for fold, member, info in cur.fetchall()}


def missing_members(run: WeeklyRun, stored) -> list[tuple[int, int]]:
    """The (fold, member) pieces of `run` not in `stored`, in plan order."""
    return [k for k in run.keys() if k not in stored]


def missing_message(run: WeeklyRun, missing: list[tuple[int, int]]) -> str:
    """The gather's refusal: which pieces are missing, and that nothing was decided."""
    names = ", ".join(f"({piece_name(f, m)})" for f, m in missing)
    return (f"{run.model_id}: {len(missing)} of {len(run.keys())} ensemble pieces have no stored rows: {names}; "
            "nothing was registered or decided (the champion stays): rerun those train_member tasks, then the gather")


def piece_name(fold: int, member: int) -> str:
    """'final fit, member 0' or 'fold 2, member 1': how a piece is named to users (messages, the UI's map index)."""
    return f"final fit, member {member}" if fold == FINAL_FIT else f"fold {fold}, member {member}"
