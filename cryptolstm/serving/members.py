"""The weekly run's training: one preparation (`prepare`, stored once under a content key), the plan of
(fold, member) pieces on it, and one piece trained and stored. Each piece is an Airflow mapped task in
the weekly DAG (any worker of the `train` queue); `serving.challenger` gathers them into one registered
K-member model.

A `Piece` is (model_id, prep_key, fold, member): fold 0..n-1 is a walk-forward fold (its member's
out-of-sample predictions and training facts are stored, no weights), fold None the final fit on every
day up to the training cutoff (facts and weights). Storing a piece replaces exactly its own rows in one
transaction, so a retried or rerun piece leaves the rows it would have left the first time, and a piece
that dies before it commits leaves none. A piece never builds features: it loads the preparation.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from datetime import date, datetime, timedelta

from cryptolstm import storage
from cryptolstm.errors import Permanent
from cryptolstm.calendar import as_date, evaluation_window, training_cutoff
from cryptolstm.config import PipelineConfig, TrainConfig
from cryptolstm.errors import Permanent
from cryptolstm.serving import preparations


class MembersMissing(Permanent, RuntimeError):
    """The gather found (fold, member) pieces of the ensemble without stored rows: it cannot decide (a
    rerun of the gather cannot help; rerun the missing train_member tasks)."""


def model_id_for(cutoff: date, hyperparams: dict) -> str:
    """Deterministic id: the training cutoff plus a digest of the configuration and feature version."""
    digest = hashlib.sha256(json.dumps(hyperparams, sort_keys=True, default=str).encode()).hexdigest()[:8]
    return f"lstm-{cutoff:%Y%m%d}-{digest}"


@dataclass(frozen=True)
class Piece:
    """One training task of the weekly run: ensemble member `member` of walk-forward fold `fold` (None: the
    final fit on every day up to the training cutoff), trained on the preparation stored under `prep_key`."""

    model_id: str
    prep_key: str
    fold: int | None  # 0..n-1: a walk-forward fold (predictions and facts are stored); None: the final fit (weights)
    member: int

    @property
    def name(self) -> str:
        """'final fit, member 0' or 'fold 2, member 1': how a piece is named to users (messages, the UI's map
        index)."""
        return f"final fit, member {self.member}" if self.fold is None else f"fold {self.fold}, member {self.member}"

    @property
    def key(self) -> tuple[int | None, int]:
        return self.fold, self.member

    def to_xcom(self) -> dict:
        """The JSON form a mapped task receives."""
        return {"model_id": self.model_id, "prep_key": self.prep_key, "fold": self.fold, "member": self.member}

    @classmethod
    def from_xcom(cls, d: dict) -> "Piece":
        fold = d.get("fold")
        return cls(str(d["model_id"]), str(d["prep_key"]), None if fold is None else int(fold), int(d["member"]))

    def rows_key(self) -> dict:
        """The piece's row key in member_weights / member_predictions (the queries store the final fit's fold)."""
        return {"model_id": self.model_id, "fold": self.fold, "member": self.member}


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

    def keys(self) -> list[tuple[int | None, int]]:
        """Every (fold, member) piece: the final fit's members first (the longest fits start first, so a
        fanned-out run ends sooner), then fold by fold."""
        return [(fold, i) for fold in (None, *range(self.wf_folds)) for i in range(self.train.n_seeds)]

    def pieces(self, prep_key: str) -> list[Piece]:
        """The pieces of `keys`, on the preparation `prep_key`."""
        return [Piece(self.model_id, prep_key, fold, i) for fold, i in self.keys()]


def weekly_run(end: datetime, config: PipelineConfig) -> WeeklyRun:
    """The `WeeklyRun` of the weekly interval ending `end`."""
    from cryptolstm.modelling import features

    cutoff = training_cutoff(as_date(end))
    tc = config.train_config()
    ident = {"train": asdict(tc), "feature_version": features.FEATURE_VERSION, "wf_folds": config.wf_folds,
             "wf_days": config.wf_days}
    eval_start, eval_end = evaluation_window(as_date(end), config)
    return WeeklyRun(end, cutoff, tc, config.wf_folds, eval_start, eval_end, ident, model_id_for(cutoff, ident))


def prepare(dsn: str, end: datetime, config: PipelineConfig, log_fn=None) -> dict:
    """Make and store the weekly run's preparation (`preparations`): the candles up to the training cutoff
    read once, their content key, and unless that key is stored already, the cube and every fold's and the
    final fit's `train.prepare_fit`. Returns {model_id, prep_key, reused, ...}; `plan_members` and `plan_baselines` take it."""
    import time

    from cryptolstm.evaluation import walkforward
    from cryptolstm.market import panel as panel_mod
    from cryptolstm.modelling import train

    run = weekly_run(end, config)
    start = time.perf_counter()
    panel = panel_mod.read_candles(dsn, until=run.cutoff)
    if len(panel) == 0:
        raise ValueError(f"no candles up to {run.cutoff}: ingest history first")
    key = preparations.content_key(panel, {**run.ident, "cutoff": str(run.cutoff), "eval": [str(run.eval_start),
                                                                                           str(run.eval_end)]})
    out = {"model_id": run.model_id, "prep_key": key, "training_cutoff": str(run.cutoff)}
    with storage.transaction(dsn) as cur:
        if preparations.exists(cur, key):
            return {**out, "reused": True}
    cube = train.build_cube(panel)
    bounds = walkforward.folds(cube, run.train, n_folds=run.wf_folds, eval_start=run.eval_start,
                               eval_end=run.eval_end)
    prep = preparations.build(key, cube, bounds, run.cutoff, run.train)
    with storage.transaction(dsn) as cur:
        size = preparations.store(cur, prep, run.model_id, run.cutoff)
    if log_fn is not None:
        log_fn(f"prepared {run.model_id} ({key[:12]}): {len(cube.coins)} coins, {len(cube.days)} days, "
               f"{len(bounds)} folds + final fit, {size / 2**20:.1f} MiB, {time.perf_counter() - start:.1f} s")
    return {**out, "reused": False, "coins": len(cube.coins), "folds": len(bounds), "bytes": size}


def _checked(end: datetime, config: PipelineConfig, prepared: dict) -> WeeklyRun:
    run = weekly_run(end, config)
    if prepared.get("model_id") != run.model_id:
        raise ValueError(f"the preparation {prepared} is not the weekly run ending {end}'s (model {run.model_id})")
    return run


def plan_members(end: datetime, config: PipelineConfig, prepared: dict) -> list[dict]:
    """The member pieces of the weekly run ending `end` on the preparation `prepared` (`prepare`'s result), in
    their XCom form, one train_member task each. Reads nothing: a piece of a registered model is a no-op."""
    return [p.to_xcom() for p in _checked(end, config, prepared).pieces(str(prepared["prep_key"]))]


def plan_baselines(end: datetime, config: PipelineConfig, prepared: dict) -> list[dict]:
    """The fit_baselines specs of the weekly run ending `end` on the preparation `prepared`: one per fold."""
    return baseline_folds(_checked(end, config, prepared), str(prepared["prep_key"]))


def load_preparation(dsn: str, run: WeeklyRun, prep_key: str) -> "preparations.WeeklyPreparation":
    """The preparation stored under `prep_key`, checked (PreparationMissing / PreparationCorrupt)."""
    with storage.transaction(dsn) as cur:
        return preparations.load(cur, prep_key, run.train)


def train_member(dsn: str, end: datetime, config: PipelineConfig, piece: Piece, served: tuple[str, ...],
                 prep=None, log_fn=None) -> dict:
    """Train one piece of `plan_members` on its stored preparation and store it: for a fold, its out-of-sample
    predictions on the `served` coins and its training facts; for the final fit, its facts and weights (a
    one-member bundle), in ONE transaction that replaces exactly its rows. `prep`: the loaded preparation,
    when the caller has it. A piece of a registered model is a no-op."""
    from cryptolstm.evaluation import walkforward
    from cryptolstm.modelling import train
    from cryptolstm.serving import registry

    run = weekly_run(end, config)
    out = piece.to_xcom()
    if piece.model_id != run.model_id or piece.key not in run.keys():
        raise ValueError(f"{out} is not a piece of the weekly run ending {end} (model {run.model_id}, "
                         f"pieces {run.keys()})")
    with storage.transaction(dsn) as cur:
        if registry.get(cur, run.model_id) is not None:
            return {**out, "reused": True}
    prep = load_preparation(dsn, run, piece.prep_key) if prep is None else prep
    if prep.key != piece.prep_key:
        raise ValueError(f"{piece.name}: given preparation {prep.key[:12]}, the piece names {piece.prep_key[:12]}")
    rows, artifact = [], None
    if piece.fold is None:
        model = train.fit_member(prep.fit(None), run.train, piece.member, label="challenger final fit")
        if model.training_cutoff != run.cutoff:
            raise RuntimeError(f"fit returned cutoff {model.training_cutoff}, asked {run.cutoff}")
        artifact = model.to_bytes()
    else:
        model, frame = walkforward.fold_member_predictions(prep.cube, piece.fold, prep.bounds[piece.fold], run.train,
                                                           piece.member, served, len(prep.bounds),
                                                           prepared=prep.fit(piece.fold))
        rows = [{**piece.rows_key(), "coin": r.coin, "as_of": r.as_of, "horizon": int(r.horizon),
                 "pred_log_return": float(r.pred_log_return), "realised_log_return": float(r.realised_log_return)}
                for r in frame.itertuples(index=False)]
    with storage.transaction(dsn) as cur:
        if piece.fold is not None:
            cur.execute(storage.query("member_predictions_delete"), piece.rows_key())
        cur.execute(storage.query("member_weights_delete"), piece.rows_key())
        storage.execute_batch(cur, "member_predictions_insert", rows)
        cur.execute(storage.query("member_weights_insert"), {
            **piece.rows_key(), "seed": run.train.member_seed(piece.member), "training_cutoff": model.training_cutoff,
            "info": registry.to_json(model.info), "artifact": artifact,
            "artifact_sha256": None if artifact is None else registry.sha256(artifact)})
    if log_fn is not None:
        log_fn(f"({piece.name}): cutoff {model.training_cutoff}, epochs {model.info.get('epochs')}, "
               f"{len(rows)} predictions, {model.info.get('train_seconds')} s")
    return {**out, "reused": False, "training_cutoff": str(model.training_cutoff), "predictions": len(rows),
            "epochs": model.info.get("epochs"), "fit_seconds": model.info.get("train_seconds")}


def fit_baselines(dsn: str, end: datetime, config: PipelineConfig, spec: dict, served: tuple[str, ...], prep=None,
                  log_fn=None) -> dict:
    """Fit every challenger baseline on walk-forward fold `spec['fold']`'s training cells of the stored
    preparation and store their predictions of the fold's cells (`served` coins) in ONE transaction that
    replaces exactly the fold's rows. A fold of a registered model is a no-op."""
    from cryptolstm.evaluation import baselines, walkforward
    from cryptolstm.serving import registry

    run = weekly_run(end, config)
    fold = int(spec["fold"])
    out = {"model_id": run.model_id, "prep_key": spec.get("prep_key"), "fold": fold}
    if spec.get("model_id") != run.model_id or not 0 <= fold < run.wf_folds:
        raise ValueError(f"{spec} is not a baseline fold of the weekly run ending {end} (model {run.model_id}, "
                         f"folds 0..{run.wf_folds - 1})")
    with storage.transaction(dsn) as cur:
        if registry.get(cur, run.model_id) is not None:
            return {**out, "reused": True}
    prep = load_preparation(dsn, run, str(spec["prep_key"])) if prep is None else prep
    frame = walkforward.fold_baselines(prep.cube, fold, prep.bounds[fold], run.train, served,
                                       baselines.challenger_baselines())
    names = [c for c in frame.columns if c not in walkforward.KEYS]
    rows = [{"model_id": run.model_id, "fold": fold, "coin": r[1], "as_of": r[2], "horizon": int(r[3]),
             "predictions": json.dumps({n: float(v) for n, v in zip(names, r[4:])})}
            for r in frame[walkforward.KEYS + names].itertuples(index=False, name=None)]
    with storage.transaction(dsn) as cur:
        cur.execute(storage.query("baseline_predictions_delete"), {"model_id": run.model_id, "fold": fold})
        storage.execute_batch(cur, "baseline_predictions_insert", rows)
    if log_fn is not None:
        log_fn(f"(fold {fold}, baselines): {len(names)} baselines, {len(rows)} predictions each")
    return {**out, "reused": False, "baselines": names, "predictions": len(rows)}


def baseline_folds(run: WeeklyRun, prep_key: str) -> list[dict]:
    """The `fit_baselines` specs of the run: one per walk-forward fold."""
    return [{"model_id": run.model_id, "prep_key": prep_key, "fold": k} for k in range(run.wf_folds)]


def delete_expired_pieces(cur, end: datetime, retention_weeks: int) -> int:
    """Retention, run by the weekly gather of the interval ending `end`: delete the pieces (member rows, fold
    baselines, the preparation) of every model registered for a week ending `retention_weeks` or more weeks
    before `end` (the registered model holds their mean and its K-member bundle). Returns how many member
    pieces (member_weights rows) went."""
    params = {"expired_by": end - timedelta(weeks=retention_weeks)}
    cur.execute(storage.query("member_predictions_delete_expired"), params)
    cur.execute(storage.query("baseline_predictions_delete_expired"), params)
    cur.execute(storage.query("prepared_fits_delete_expired"), params)
    cur.execute(storage.query("member_weights_delete_expired"), params)
    return cur.rowcount


def stored_members(cur, model_id: str) -> dict[tuple[int | None, int], dict]:
    """{(fold, member): training info} of the pieces stored whole for `model_id` (fold None: the final fit): a
    walk-forward piece with facts but no predictions is left out (the gather names it missing instead of
    failing on it)."""
    cur.execute(storage.query("member_weights_select_info"), {"model_id": model_id})
    return {(None if fold is None else int(fold), int(member)): info
            for fold, member, info, whole in cur.fetchall() if whole}


def missing_members(run: WeeklyRun, stored) -> list[tuple[int | None, int]]:
    """The (fold, member) pieces of `run` not in `stored`, in plan order."""
    return [k for k in run.keys() if k not in stored]


def missing_message(run: WeeklyRun, missing: list[tuple[int | None, int]]) -> str:
    """The gather's refusal: which pieces are missing, and that nothing was decided."""
    names = ", ".join(f"({Piece(run.model_id, '', f, m).name})" for f, m in missing)
    return (f"{run.model_id}: {len(missing)} of {len(run.keys())} ensemble pieces have no stored rows, or facts "
            f"without their predictions: {names}; "
            "nothing was registered or decided (the champion stays): rerun those train_member tasks, then the gather")
