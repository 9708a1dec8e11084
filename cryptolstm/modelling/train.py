"""Training: `fit(cube, cutoff, config) -> TrainedModel`, seeded, on as-of days whose targets are
fully known by `cutoff`, with early stopping on a purged temporal split carved from the END of the
training fold.

Example:
    panel = load_csv_dir(path)
    model = fit(build_cube(panel), date(2025, 2, 1), TrainConfig())
    model.predict(panel, date(2025, 2, 20))

The feature cube is built once per history (`build_cube(panel)`) and every fit on it (the walk-forward
folds, the weekly retrain) uses its days <= cutoff only, which equals the cube of the truncated panel
because every feature is trailing (leakage tests). Training windows are never materialised: Keras
draws batches of cell indices and each batch's windows are gathered from the cube and scaled when
drawn (`_stream`), so a fit's memory is the cube plus a few batches, whatever the universe's size.
The tuning history of these settings is in docs/evaluation.md.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from cryptolstm.modelling import features as feats_mod
from cryptolstm.market import panel as panel_mod
from cryptolstm.modelling import drift, windows
from cryptolstm.modelling.scaling import RobustScaler
from cryptolstm.config import HORIZONS, TrainConfig
from cryptolstm.modelling.bundle import TrainedModel, target_cell_scale, vocabulary

__all__ = ["PreparedFit", "TrainConfig", "TrainedModel", "build_cube", "build_network", "coins_until", "describe_inputs",
           "fit", "fit_member", "prediction_scale", "prepare_fit", "training_cells"]

log = logging.getLogger("cryptolstm.training")


def build_cube(panel: pd.DataFrame) -> windows.Cube:
    """The feature cube of a whole candle panel, coins in the stable vocabulary order (build once, fit many)."""
    f = feats_mod.build_features(panel)
    return windows.build_cube(f, panel, vocabulary(panel["coin"].unique()), list(feats_mod.FEATURES))


def coins_until(cube: windows.Cube, cut: int) -> tuple[str, ...]:
    """The coins with a candle on day index <= cut (the vocabulary of a fit with that cutoff), in cube order."""
    return tuple(c for i, c in enumerate(cube.coins) if (~np.isnan(cube.log_close[i, : cut + 1])).any())


def cube_until(cube: windows.Cube, cut: int) -> windows.Cube:
    """Days 0..cut of `cube`, and only the coins with a candle in them (the vocabulary of that history)."""
    vocab = set(coins_until(cube, cut))
    keep = [i for i, c in enumerate(cube.coins) if c in vocab]
    return windows.Cube(tuple(cube.coins[i] for i in keep), cube.days[: cut + 1],
                        cube.x[keep, : cut + 1], cube.log_close[keep, : cut + 1])


def training_cells(cube: windows.Cube, config: TrainConfig, target_until: int) -> windows.Plan:
    """The cells whose windows are complete and whose targets end on or before day index target_until."""
    plan = windows.index_plan(~np.isnan(cube.x).any(axis=2), ~np.isnan(cube.log_close),
                              config.window, config.horizons, target_until=target_until)
    keep = plan.trainable
    return windows.Plan(plan.coin[keep], plan.t[keep], plan.trainable[keep])


def describe_inputs(cube: windows.Cube, cells: windows.Plan, scaler: RobustScaler, config: TrainConfig,
                    rows: np.ndarray) -> drift.TrainingDescription:
    """The input-drift description (modelling/drift.py) of the training cells' windows and the training
    feature rows rows [R, F], on the scaled inputs: a seeded sample of the windows, so memory stays that
    of one batch of windows whatever the training fold's size."""
    pick = drift.sample(len(cells.t), seed=config.seed)
    coin, t = cells.coin[pick], cells.t[pick]
    z = scaler.standardise(windows.gather_windows(cube.x, coin, t, config.window))  # [n, T, F]
    return drift.describe(z, coin, t, scaler.standardise(rows), feats_mod.FEATURES, scaler.clip, seed=config.seed)


def _early_stopping_split(cube: windows.Cube, config: TrainConfig, cut: int):
    """(fit cells, early-stopping cells): the last es_fraction of as-of days, and everything whose
    targets end at least `purge` days before the first of them."""
    cells = training_cells(cube, config, cut)
    if len(cells.t) == 0:
        raise ValueError("no trainable cells before the cutoff: history too short for the window")
    days = np.unique(cells.t)
    es_first = days[int(np.floor(len(days) * (1 - config.es_fraction)))] if config.es_fraction > 0 else cut + 1
    es = cells.t >= es_first
    fit_cells = training_cells(cube, config, es_first - config.purge - 1)
    return fit_cells, windows.Plan(cells.coin[es], cells.t[es], cells.trainable[es])


def _stream(cube: windows.Cube, cells: windows.Plan, y: np.ndarray, scaler: RobustScaler, config: TrainConfig, *,
            batch_size: int, shuffle_seed: int | None = None, two_heads: bool = False):
    """A tf.data pipeline of ((x [B, T, F] float32, coin [B] int32), y [B, H]) batches of `cells`, each batch's
    windows gathered from the cube and scaled when it is drawn, so no more than a few batches of windows
    exist at once. y: [N, H] float32 scaled targets of the cells. With `shuffle_seed` the cell order is
    permuted (seeded, anew each epoch) with a buffer of every cell; the sign head's targets (y > 0) are
    added as a second output when `two_heads`."""
    import tensorflow as tf

    T, F, H = config.window, cube.x.shape[-1], y.shape[1]
    coin, t = cells.coin.astype(np.int32), cells.t

    def gather(idx: np.ndarray):  # idx [B] int64 positions in `cells`
        x = scaler.transform(windows.gather_windows(cube.x, coin[idx], t[idx], T))  # [B, T, F]
        return x, coin[idx], y[idx]

    def batch(idx):
        x, c, yb = tf.numpy_function(gather, [idx], (tf.float32, tf.int32, tf.float32), stateful=False)
        x.set_shape((None, T, F))
        c.set_shape((None,))
        yb.set_shape((None, H))
        return (x, c), ((yb, tf.cast(yb > 0, tf.float32)) if two_heads else yb)

    ds = tf.data.Dataset.range(len(t))
    if shuffle_seed is not None:
        ds = ds.shuffle(len(t), seed=shuffle_seed, reshuffle_each_iteration=True)
    return ds.batch(batch_size).map(batch).prefetch(2)


def build_network(config: TrainConfig, n_features: int, n_coins: int):
    """The uncompiled Keras network of `config` for `n_features` inputs and `n_coins` embedding ids: what every
    fit trains, and what an untrained stand-in model serves (bench)."""
    from cryptolstm.modelling.model import build_model

    return build_model(config.arch, window=config.window, n_features=n_features, n_coins=n_coins,
                       horizons=config.horizons, lstm_units=tuple(config.lstm_units), dense_units=config.dense_units,
                       dropout=config.dropout, embed_dim=config.embed_dim, sign_head=config.sign_head > 0,
                       highway=config.highway)


def _train_one(data, val, config: TrainConfig, seed: int, n_features: int, n_coins: int, label: str = "fit",
               callbacks=()):
    """One seeded Keras model on the batches `data(seed)` with early stopping on `val` (None: none); returns
    (model, epochs run, best epoch = the one whose weights it keeps). `callbacks`: more Keras callbacks
    (a bench's timer or step cap), after the progress logger."""
    import keras

    from cryptolstm.modelling.losses import direction_aware_huber
    from cryptolstm.modelling.progress import epoch_logger

    keras.utils.set_random_seed(seed)
    model = build_network(config, n_features, n_coins)
    huber = direction_aware_huber(config.huber_delta, config.dir_lambda, config.horizon_weights, config.dir_term)
    if config.sign_head > 0:  # the Huber head is the forecast; the logistic sign head only shapes the shared layers
        model.compile(optimizer=keras.optimizers.Adam(config.learning_rate),
                      loss=[huber, keras.losses.BinaryCrossentropy(from_logits=True)],
                      loss_weights=[1.0, float(config.sign_head)])
    else:
        model.compile(optimizer=keras.optimizers.Adam(config.learning_rate), loss=huber)
    cbs = [epoch_logger(label, config.max_epochs, log), *callbacks]
    if val is not None:
        cbs.append(keras.callbacks.EarlyStopping(patience=config.patience, restore_best_weights=True))
    hist = model.fit(data(seed), validation_data=val, epochs=config.max_epochs, callbacks=cbs,
                     verbose=config.verbose, shuffle=False)
    if val is None:
        return model, len(hist.history["loss"]), len(hist.history["loss"])
    return model, len(hist.history["loss"]), int(np.argmin(hist.history["val_loss"])) + 1


@dataclass(frozen=True)
class PreparedFit:
    """What every member of one fit shares, computed once (`prepare_fit`): the history up to the cutoff,
    the fit / early-stopping / all cells, the scaler and the input description. `digest` names its
    content: a hash of the inputs it was computed from (cube values, cutoff, config without the ensemble
    size, feature version), so two processes that prepared the same fit agree on it bit for bit, and
    members trained on it can be joined (`TrainedModel.merge`) without comparing recomputed floats."""

    cube: windows.Cube  # days 0..cut of the input cube, only the coins with a candle by then
    cutoff: pd.Timestamp  # the training cutoff (a calendar day)
    fit_cells: windows.Plan  # cells the networks are fitted on
    es_cells: windows.Plan  # early-stopping cells (the last es_fraction of as-of days, after the purge)
    all_cells: windows.Plan  # fit + purge gap + early-stopping cells (refit_all; the input description)
    scaler: RobustScaler  # fit on the training fold's feature rows and fit-cell targets
    description: drift.TrainingDescription  # the training inputs, for the input-drift check
    digest: str  # content key of this preparation (hex sha256)

    @property
    def n_features(self) -> int:
        return int(self.cube.x.shape[-1])


def preparation_digest(cube: windows.Cube, cutoff: pd.Timestamp, config: TrainConfig) -> str:
    """The sha256 of what a preparation is computed from: the cube's coins, days and values up to the
    cutoff, the cutoff, the config less its ensemble size, and the feature version."""
    import hashlib
    import json
    from dataclasses import asdict

    h = hashlib.sha256()
    meta = {"coins": list(cube.coins), "first_day": str(cube.days[0].date()) if len(cube.days) else None,
            "days": len(cube.days), "cutoff": str(cutoff.date()), "config": asdict(replace(config, n_seeds=0)),
            "feature_version": feats_mod.FEATURE_VERSION}
    h.update(json.dumps(meta, sort_keys=True, default=str).encode())
    h.update(np.ascontiguousarray(cube.x, dtype=np.float64).tobytes())
    h.update(np.ascontiguousarray(cube.log_close, dtype=np.float64).tobytes())
    return h.hexdigest()


def prepare_fit(cube: windows.Cube, cutoff, config: TrainConfig = TrainConfig()) -> PreparedFit:
    """Everything of a fit with cutoff `cutoff` that does not depend on the member's seed: deterministic,
    run once per walk-forward fold and once for the final fit. Only the cube's days <= cutoff are used,
    so nothing from after the cutoff can reach the model, its scaler or its early stopping."""
    if config.horizons != HORIZONS:
        raise ValueError(f"the modelling law fixes {HORIZONS} horizons, got {config.horizons}")
    cutoff_day = panel_mod.to_day(cutoff)
    last = cube.last_index_on_or_before(cutoff_day)
    if last < 0:
        raise ValueError(f"no candles on or before {cutoff_day.date()}")
    cube = cube_until(cube, last)
    if len(cube.coins) == 0:
        raise ValueError(f"no candles on or before {cutoff_day.date()}")
    cut = cube.last_index_on_or_before(cutoff_day)
    fit_cells, es_cells = _early_stopping_split(cube, config, cut)
    fit_cells = _every(fit_cells, config.train_stride)
    all_cells = _every(training_cells(cube, config, cut), config.train_stride)
    if len(fit_cells.t) == 0:
        raise ValueError("no fitting cells left before the early-stopping block")
    rows = cube.x[~np.isnan(cube.x).any(axis=2)]  # [R, F] every complete feature row up to the cutoff
    scaler = RobustScaler.fit(rows, _targets(cube, fit_cells, config), clip=config.input_clip)
    description = describe_inputs(cube, all_cells, scaler, config, rows)  # every training window
    return PreparedFit(cube, cutoff_day, fit_cells, es_cells, all_cells, scaler, description,
                       preparation_digest(cube, cutoff_day, config))


def _targets(cube: windows.Cube, cells: windows.Plan, config: TrainConfig) -> np.ndarray:
    """[N, H] log returns of `cells`, divided by the per-cell scale of `target_scaling`."""
    y = windows.gather_targets(cube.log_close, cells.coin, cells.t, config.horizons)
    return y / target_cell_scale(cube, cells.coin, cells.t, config)


def fit_member(prepared: PreparedFit, config: TrainConfig, i: int, callbacks=(), *,
               label: str = "fit") -> TrainedModel:
    """Train ensemble member `i` (seed `config.member_seed(i)`) on a preparation: a one-member model
    (member_ids (i,)) whose info names the preparation's digest. `callbacks`: extra Keras callbacks
    passed to every Keras fit of the member (timers, step caps)."""
    if not 0 <= i < config.n_seeds:
        raise ValueError(f"member must be an id in 0..{config.n_seeds - 1}, got {i}")
    if preparation_digest(prepared.cube, prepared.cutoff, config) != prepared.digest:
        raise ValueError("the preparation was made for another configuration or cube: prepare it again")
    start = time.perf_counter()
    p, cube = prepared, prepared.cube
    coins = cube.coins

    def batches(cells, **kw):  # the cells' windows, gathered and scaled batch by batch
        y = p.scaler.scale_targets(_targets(cube, cells, config))
        return _stream(cube, cells, y, p.scaler, config, two_heads=config.sign_head > 0, **kw)

    def training_data(cells):  # seed -> the seeded, shuffled training batches
        return lambda seed: batches(cells, batch_size=config.batch_size, shuffle_seed=seed)

    groups = {"*": None} if not config.per_coin else {c: k for k, c in enumerate(coins)}
    nets, epochs, refit_epochs = {}, [], []
    seed = config.member_seed(i)
    for key, idx in groups.items():
        fc = p.fit_cells if idx is None else _subset(p.fit_cells, idx)
        ec = p.es_cells if idx is None else _subset(p.es_cells, idx)
        if len(fc.t) == 0:
            continue
        # early stopping scores the cells in order, in Keras's default evaluation batch
        val = batches(ec, batch_size=config.es_batch_size) if len(ec.t) else None
        tag = f"{label}" + (f" coin {key}" if idx is not None else "") + \
            (f" member {i + 1}/{config.n_seeds}" if config.n_seeds > 1 else "")
        m, n, best = _train_one(training_data(fc), val, config, seed, p.n_features, len(coins), tag, callbacks)
        if config.refit_all and val is not None:
            every = p.all_cells if idx is None else _subset(p.all_cells, idx)
            m, _, _ = _train_one(training_data(every), None, replace(config, max_epochs=best), seed,
                                 p.n_features, len(coins), tag + " refit", callbacks)
            refit_epochs.append(best)
        nets[key] = [m]
        epochs.append(n)
    H = config.horizons
    info = {"n_fit_windows": int(len(p.fit_cells.t)), "n_early_stopping_windows": int(len(p.es_cells.t)),
            "epochs": epochs, "train_seconds": round(time.perf_counter() - start, 2),
            "last_fit_as_of": str(cube.days[(p.all_cells if refit_epochs else p.fit_cells).t.max()].date()),
            "last_target_day": str(cube.days[max(p.fit_cells.t.max(), p.es_cells.t.max(initial=-1)) + H].date()),
            "preparation": p.digest}
    if config.refit_all:
        info["refit_epochs"] = refit_epochs
    model = TrainedModel(nets, p.scaler, config, feats_mod.FEATURE_VERSION, p.cutoff.date(), coins, info,
                         input_description=p.description, member_ids=(i,))
    model.info["pred_scale"] = prediction_scale(model, p)
    model.info["train_seconds"] = round(time.perf_counter() - start, 2)
    log.info("%s: cutoff %s, %d fitting windows, epochs %s, %.1fs", label, p.cutoff.date(),
             info["n_fit_windows"], epochs, model.info["train_seconds"])
    return model


def prediction_scale(model: TrainedModel, prepared: PreparedFit) -> list[float]:
    """The member's training-period prediction scale: per horizon, the standard deviation (ddof 0) of its
    predicted log returns (return units) on the preparation's early-stopping cells, which it was not fitted on
    and which end before the cutoff (known at the cutoff; the fit cells when there is no early-stopping block).
    A combination divides the LSTM's forecast by it (evaluation/combination.py)."""
    cells = prepared.es_cells if len(prepared.es_cells.t) else prepared.fit_cells
    pred = model.predict_cells(prepared.cube, cells.coin, cells.t)  # [N, H]
    return [float(v) for v in pred.std(axis=0)]


def fit(cube: windows.Cube, cutoff, config: TrainConfig = TrainConfig(), *, label: str = "fit",
        members: tuple[int, ...] | None = None, callbacks=()) -> TrainedModel:
    """Train on as-of days t with t + H <= cutoff, from the feature cube of a candle history
    (`build_cube(panel)`, on a history of any length): `prepare_fit` once, then `fit_member` for each of
    `members` (ids in 0..n_seeds-1, member i with seed config.member_seed(i); None: all of them), joined
    into one model. `label` prefixes the per-epoch progress lines logged to 'cryptolstm.training'.
    Members trained apart join with `TrainedModel.merge`."""
    member_ids = tuple(range(config.n_seeds)) if members is None else tuple(members)
    if not member_ids or len(set(member_ids)) != len(member_ids) or not set(member_ids) <= set(range(config.n_seeds)):
        raise ValueError(f"members must be distinct ids in 0..{config.n_seeds - 1}, got {members}")
    start = time.perf_counter()
    prepared = prepare_fit(cube, cutoff, config)
    parts = [fit_member(prepared, config, i, callbacks, label=label) for i in member_ids]
    model = TrainedModel.join(parts)
    model.info["train_seconds"] = round(time.perf_counter() - start, 2)
    return model


def _every(plan: windows.Plan, stride: int) -> windows.Plan:
    """The cells of `plan` on every `stride`-th calendar day (day index divisible by it): all of them for 1."""
    if stride < 1:
        raise ValueError(f"train_stride must be >= 1, got {stride}")
    keep = plan.t % stride == 0
    return windows.Plan(plan.coin[keep], plan.t[keep], plan.trainable[keep])


def _subset(plan: windows.Plan, coin_idx: int) -> windows.Plan:
    keep = plan.coin == coin_idx
    return windows.Plan(plan.coin[keep], plan.t[keep], plan.trainable[keep])
