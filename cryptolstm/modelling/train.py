"""Training: `fit(panel, cutoff, config) -> TrainedModel`, seeded, on as-of days whose targets are
fully known by `cutoff`, with early stopping on a purged temporal split carved from the END of the
training fold.

Example:
    model = fit(load_csv_dir(path), date(2025, 2, 1), TrainConfig())
    model.predict(panel, date(2025, 2, 20))
"""

from __future__ import annotations

import time
from dataclasses import replace

import numpy as np
import pandas as pd

from cryptolstm.modelling import features as feats_mod
from cryptolstm.market import panel as panel_mod
from cryptolstm.modelling import windows
from cryptolstm.modelling.scaling import RobustScaler
from cryptolstm.config import TrainConfig
from cryptolstm.modelling.bundle import TrainedModel, _vocabulary

__all__ = ["TrainConfig", "TrainedModel", "fit", "training_cells"]


def training_cells(cube: windows.Cube, config: TrainConfig, target_until: int) -> windows.Plan:
    """The cells whose windows are complete and whose targets end on or before day index target_until."""
    plan = windows.index_plan(~np.isnan(cube.x).any(axis=2), ~np.isnan(cube.log_close),
                              config.window, config.horizons, target_until=target_until)
    keep = plan.trainable
    return windows.Plan(plan.coin[keep], plan.t[keep], plan.trainable[keep])


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


def _train_one(x, coin, y, x_es, coin_es, y_es, config: TrainConfig, seed: int, n_coins: int):
    """One seeded Keras model; returns (model, epochs run, best epoch = the one whose weights it keeps)."""
    import keras
    import tensorflow as tf

    from cryptolstm.modelling.losses import direction_aware_huber
    from cryptolstm.modelling.model import build_model

    keras.utils.set_random_seed(seed)
    model = build_model(config.arch, window=config.window, n_features=x.shape[-1], n_coins=n_coins,
                        horizons=config.horizons, lstm_units=tuple(config.lstm_units),
                        dense_units=config.dense_units, dropout=config.dropout, embed_dim=config.embed_dim)
    model.compile(optimizer=keras.optimizers.Adam(config.learning_rate),
                  loss=direction_aware_huber(config.huber_delta, config.dir_lambda, config.horizon_weights,
                                             config.dir_term))
    # Batch order is permuted WITHIN the fitting cells only (seeded, reshuffled each epoch): every one
    # of them lies in the past of the purged early-stopping block and of any scored day, so this mixes
    # regimes inside the training fold without moving any information across the temporal split.
    ds = (tf.data.Dataset.from_tensor_slices(((x, coin), y))
          .shuffle(len(y), seed=seed, reshuffle_each_iteration=True)
          .batch(config.batch_size).prefetch(2))
    callbacks, val = [], None
    if len(y_es):
        val = ((x_es, coin_es), y_es)
        callbacks.append(keras.callbacks.EarlyStopping(patience=config.patience, restore_best_weights=True))
    hist = model.fit(ds, validation_data=val, epochs=config.max_epochs, callbacks=callbacks,
                     verbose=config.verbose, shuffle=False)
    if val is None:
        return model, len(hist.history["loss"]), len(hist.history["loss"])
    return model, len(hist.history["loss"]), int(np.argmin(hist.history["val_loss"])) + 1


def fit(panel: pd.DataFrame, cutoff, config: TrainConfig = TrainConfig()) -> TrainedModel:
    """Train on as-of days t with t + H <= cutoff. Rows after `cutoff` are dropped before anything is
    computed, so nothing from after the cutoff can reach the model, its scaler or its early stopping."""
    if config.horizons != 5:
        raise ValueError("the modelling law fixes 5 horizons")
    start = time.perf_counter()
    cutoff_day = panel_mod.to_day(cutoff)
    hist = panel_mod.until(panel, cutoff_day)
    if len(hist) == 0:
        raise ValueError(f"no candles on or before {cutoff_day.date()}")
    coins = _vocabulary(hist["coin"].unique())
    f = feats_mod.build_features(hist)
    cube = windows.build_cube(f, hist, coins, list(feats_mod.FEATURES))
    cut = cube.last_index_on_or_before(cutoff_day)
    fit_cells, es_cells = _early_stopping_split(cube, config, cut)
    all_cells = training_cells(cube, config, cut)  # fit + purge gap + early-stopping cells (for refit_all)
    if len(fit_cells.t) == 0:
        raise ValueError("no fitting cells left before the early-stopping block")
    H, T = config.horizons, config.window
    scaler = RobustScaler.fit(f[list(feats_mod.FEATURES)].to_numpy(),
                              windows.gather_targets(cube.log_close, fit_cells.coin, fit_cells.t, H),
                              clip=config.input_clip)

    def arrays(cells):
        x = scaler.transform(windows.gather_windows(cube.x, cells.coin, cells.t, T))  # [N, T, F]
        y = scaler.scale_targets(windows.gather_targets(cube.log_close, cells.coin, cells.t, H))  # [N, H]
        return x, cells.coin.astype(np.int32), y

    groups = {"*": None} if not config.per_coin else {c: i for i, c in enumerate(coins)}
    members, epochs, refit_epochs = {}, [], []
    for key, idx in groups.items():
        fc = fit_cells if idx is None else _subset(fit_cells, idx)
        ec = es_cells if idx is None else _subset(es_cells, idx)
        if len(fc.t) == 0:
            continue
        (x, c, y), (xe, ce, ye) = arrays(fc), arrays(ec)
        members[key] = []
        for i in range(config.n_seeds):
            seed = config.seed + 1000 * i
            m, n, best = _train_one(x, c, y, xe, ce, ye, config, seed, len(coins))
            if config.refit_all and len(ye):
                xa, ca, ya = arrays(all_cells if idx is None else _subset(all_cells, idx))
                m, _, _ = _train_one(xa, ca, ya, xe[:0], ce[:0], ye[:0], replace(config, max_epochs=best),
                                     seed, len(coins))
                refit_epochs.append(best)
            members[key].append(m)
            epochs.append(n)
    info = {"n_fit_windows": int(len(fit_cells.t)), "n_early_stopping_windows": int(len(es_cells.t)),
            "epochs": epochs, "train_seconds": round(time.perf_counter() - start, 2),
            "last_fit_as_of": str(cube.days[(all_cells if refit_epochs else fit_cells).t.max()].date()),
            "last_target_day": str(cube.days[max(fit_cells.t.max(), es_cells.t.max(initial=-1)) + H].date())}
    if config.refit_all:
        info["refit_epochs"] = refit_epochs
    return TrainedModel(members, scaler, config, feats_mod.FEATURE_VERSION, cutoff_day.date(), coins, info)


def _subset(plan: windows.Plan, coin_idx: int) -> windows.Plan:
    keep = plan.coin == coin_idx
    return windows.Plan(plan.coin[keep], plan.t[keep], plan.trainable[keep])
