"""Walk-forward validation: expanding chronological folds, a purge gap, scaler refit and model
retrained per fold, every baseline fit on the same training fold and scored on the same cells.

Fold k scores as-of days [s_k, e_k] with a model from `train.fit(cube, cutoff_k)` where
cutoff_k = s_k - purge - 1: every training target ends at least `purge` days before the first
scored day. Only cells whose 5 realised returns are known in the cube are scored, and only for the
served coins (`score_coins`); every coin of the cube (the training universe) is trained on.
The feature cube is built once and every fold's fit reads its days <= cutoff.

The pieces compose: `folds` (the bounds), `fold_member_predictions` (one fold x one ensemble member,
computable alone), `combine` (the members' mean per cell), `fold_baselines`, and `assemble` (score).
`walk_forward` runs them in one process; the weekly run fans the (fold, member) pieces out as tasks.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd

from cryptolstm.evaluation import baselines as base_mod
from cryptolstm.modelling import features as feats_mod
from cryptolstm.evaluation import metrics, scores
from cryptolstm.config import DEFAULT_COINS, HORIZONS, PURGE_DAYS, WF_FOLD_DAYS, WF_FOLDS
from cryptolstm.market import panel as panel_mod
from cryptolstm.modelling import train, windows

KEYS = ["fold", "coin", "as_of", "horizon"]


@dataclass
class WalkForwardResult:
    predictions: pd.DataFrame  # [fold, coin, as_of, horizon, pred_log_return, realised_log_return]
    baseline_predictions: pd.DataFrame  # [fold, coin, as_of, horizon, <one column per baseline>]
    metrics: scores.Scores  # see `score`
    folds: list[dict] = field(default_factory=list)  # cutoff, val_start, val_end, cells, train seconds
    seconds: float = 0.0  # wall time of the whole walk-forward


def _cells_frame(cube: windows.Cube, coin: np.ndarray, t: np.ndarray) -> pd.DataFrame:
    """[coin, day, *FEATURES] rows at the cells' as-of days (the baselines' X)."""
    X = pd.DataFrame(cube.x[coin, t], columns=list(feats_mod.FEATURES))
    X.insert(0, "day", cube.days[t])
    X.insert(0, "coin", np.array(cube.coins)[coin])
    return X


def _long(fold: int, cube: windows.Cube, coin: np.ndarray, t: np.ndarray, cols: dict[str, np.ndarray]) -> pd.DataFrame:
    """One row per (cell, horizon) with the given [N, H] arrays as columns (none: the keys alone)."""
    H = next(iter(cols.values())).shape[1] if cols else HORIZONS
    out = pd.DataFrame({"fold": fold, "coin": np.repeat(np.array(cube.coins)[coin], H),
                        "as_of": np.repeat(cube.days[t].date, H), "horizon": np.tile(np.arange(1, H + 1), len(t))})
    for name, arr in cols.items():
        out[name] = arr.reshape(-1)
    return out


def folds(cube: windows.Cube, config: train.TrainConfig, n_folds: int | None = None, end=None,
          val_days: int = WF_FOLD_DAYS, purge: int = PURGE_DAYS, eval_start=None, eval_end=None) -> list[windows.Fold]:
    """The fold bounds (day indices of `cube`) of `walk_forward` with these arguments (see there)."""
    last_known = len(cube.days) - 1 - config.horizons
    if eval_start is not None:
        s = cube.day_index(panel_mod.to_day(eval_start))
        e = min(last_known, cube.last_index_on_or_before(panel_mod.to_day(eval_end)) if eval_end else last_known)
        n_folds = n_folds or 1
        bounds = windows.fold_bounds(e, n_folds, math.ceil((e - s + 1) / n_folds), purge)
        bounds[0] = windows.Fold(s - purge - 1, s, bounds[0].val_end) if bounds[0].val_start < s else bounds[0]
        return bounds
    e = last_known if end is None else min(last_known, cube.last_index_on_or_before(panel_mod.to_day(end)))
    return windows.fold_bounds(e, n_folds or WF_FOLDS, val_days, purge)


def fold_cells(cube: windows.Cube, fold: windows.Fold, config: train.TrainConfig,
               score_coins: tuple[str, ...] = DEFAULT_COINS) -> tuple[np.ndarray, np.ndarray]:
    """(coin [N], t [N]) indices into `cube` of the cells fold `fold` scores: complete window, the H realised
    returns known, a coin of `score_coins` that the fold's model knows (it has a candle by the cutoff)."""
    coins = np.array(cube.coins)
    served = np.isin(coins, list(score_coins))
    if not served.any():
        raise ValueError(f"none of the coins to score {list(score_coins)} is in the panel {list(cube.coins)}")
    plan = windows.index_plan(~np.isnan(cube.x).any(axis=2), ~np.isnan(cube.log_close), config.window,
                              config.horizons, first=fold.val_start, last=fold.val_end)
    known = plan.trainable & served[plan.coin] & np.isin(coins[plan.coin], train.coins_until(cube, fold.cutoff))
    return plan.coin[known], plan.t[known]


def fold_keys(cube: windows.Cube, k: int, fold: windows.Fold, config: train.TrainConfig,
              score_coins: tuple[str, ...] = DEFAULT_COINS) -> pd.DataFrame:
    """[fold, coin, as_of, horizon] of fold k's `fold_cells`, in the row order of its prediction frames."""
    coin, t = fold_cells(cube, fold, config, score_coins)
    return _long(k, cube, coin, t, {})


def fold_member_predictions(cube: windows.Cube, k: int, fold: windows.Fold, config: train.TrainConfig, member: int,
                            score_coins: tuple[str, ...] = DEFAULT_COINS, n_folds: int | None = None, *,
                            prepared: train.PreparedFit | None = None) -> tuple[train.TrainedModel, pd.DataFrame]:
    """Ensemble member `member` of fold k alone: its model (trained up to the fold's cutoff) and its
    out-of-sample predictions [fold, coin, as_of, horizon, pred_log_return, realised_log_return] on
    `fold_cells`. `prepared`: the fold's `train.prepare_fit` (made here when None; the walk-forward and the
    weekly run make it once per fold). `n_folds` only labels the progress lines."""
    label = f"fold {k + 1}/{n_folds}" if n_folds else f"fold {k + 1}"
    coin, t = fold_cells(cube, fold, config, score_coins)
    prepared = train.prepare_fit(cube, cube.days[fold.cutoff], config) if prepared is None else prepared
    if prepared.cutoff != cube.days[fold.cutoff]:
        raise ValueError(f"fold {k}: the preparation's cutoff {prepared.cutoff.date()} is not the fold's "
                         f"{cube.days[fold.cutoff].date()}")
    model = train.fit_member(prepared, config, member, label=label)
    realised = windows.gather_targets(cube.log_close, coin, t, config.horizons)  # [N, H]
    # the model's embedding ids are its own vocabulary's positions (a subset of the cube's coins)
    mcube = cube if model.coins == cube.coins else _reorder(cube, model.coins)
    mcoin = np.array([mcube.coins.index(cube.coins[i]) for i in coin], dtype=np.int64)
    pred = model.predict_cells(mcube, mcoin, t)  # [N, H]
    return model, _long(k, cube, coin, t, {"pred_log_return": pred, "realised_log_return": realised})


def combine(member_predictions: list[pd.DataFrame]) -> pd.DataFrame:
    """The ensemble's predictions of one fold: the members' `fold_member_predictions` frames (same cells,
    same order) averaged per cell, members in the order given."""
    first = member_predictions[0]
    for other in member_predictions[1:]:
        if not other[KEYS].equals(first[KEYS]) or not np.array_equal(other["realised_log_return"].to_numpy(),
                                                                      first["realised_log_return"].to_numpy()):
            raise ValueError("ensemble members must predict exactly the same cells")
    out = first[KEYS + ["realised_log_return"]].copy()
    out.insert(len(KEYS), "pred_log_return",
               np.mean(np.stack([m["pred_log_return"].to_numpy() for m in member_predictions]), axis=0))
    return out


def fold_baselines(cube: windows.Cube, k: int, fold: windows.Fold, config: train.TrainConfig,
                   score_coins: tuple[str, ...] = DEFAULT_COINS, baselines=None) -> pd.DataFrame:
    """Every baseline fit on fold k's training cells and scored on its `fold_cells`:
    [fold, coin, as_of, horizon, <one column per baseline>]. `baselines` defaults to `default_baselines()`."""
    coin, t = fold_cells(cube, fold, config, score_coins)
    tr = train.training_cells(cube, config, fold.cutoff)
    Xtr, ytr = _cells_frame(cube, tr.coin, tr.t), windows.gather_targets(cube.log_close, tr.coin, tr.t, config.horizons)
    Xev = _cells_frame(cube, coin, t)
    bset = base_mod.default_baselines() if baselines is None else baselines
    return _long(k, cube, coin, t, {b.name: b.fit(Xtr, ytr).predict(Xev) for b in bset})


def fold_summary(cube: windows.Cube, k: int, fold: windows.Fold, n_cells: int, member_infos: list[dict]) -> dict:
    """The fold's record in `WalkForwardResult.folds` from its members' `TrainedModel.info` (members in order)."""
    return {"fold": k, "cutoff": str(cube.days[fold.cutoff].date()), "val_start": str(cube.days[fold.val_start].date()),
            "val_end": str(cube.days[fold.val_end].date()), "n_cells": int(n_cells),
            "fit_seconds": round(sum(i.get("train_seconds", 0.0) for i in member_infos), 2),
            "epochs": [e for i in member_infos for e in i.get("epochs", [])],
            "n_fit_windows": member_infos[0].get("n_fit_windows"),
            # the ensemble's training-period prediction scale: the members' mean (bundle.TrainedModel.join)
            **({"pred_scale": [float(v) for v in np.mean([i["pred_scale"] for i in member_infos], axis=0)]}
               if all("pred_scale" in i for i in member_infos) else {})}


def assemble(predictions: list[pd.DataFrame], baseline_predictions: list[pd.DataFrame], fold_info: list[dict],
             seconds: float = 0.0) -> WalkForwardResult:
    """The walk-forward result of the folds' ensemble predictions (`combine`) and baselines, scored (`score`)."""
    p = pd.concat(predictions, ignore_index=True)
    b = pd.concat(baseline_predictions, ignore_index=True) if baseline_predictions else p[KEYS].copy()
    return WalkForwardResult(p, b, replace(score(p, b), folds=tuple(fold_info)), fold_info, seconds)


def walk_forward(cube: windows.Cube, config: train.TrainConfig = train.TrainConfig(),
                 n_folds: int | None = None, end=None, val_days: int = WF_FOLD_DAYS, purge: int = PURGE_DAYS,
                 eval_start=None, eval_end=None, with_baselines: bool = True, log=lambda *_: None, *,
                 score_coins: tuple[str, ...] = DEFAULT_COINS, baselines=None) -> WalkForwardResult:
    """Out-of-sample predictions of `config` retrained per fold, plus baselines and metrics.

    `cube`: `train.build_cube` of the candle panel. Default: n_folds=WF_FOLDS blocks of `val_days` as-of
    days ending at `end` (default: the last day whose H targets are known). With `eval_start` (and
    optionally `eval_end`) the scored window is exactly [eval_start, eval_end], split into n_folds
    (default 1) consecutive blocks — e.g. the weekly challenger check on the cells where the champion's
    live forecasts have matured. Cells of coins outside `score_coins` are trained on but not scored.
    `baselines` defaults to `baselines.default_baselines()`. Each of the config's n_seeds members is
    fitted on its own (`fold_member_predictions`) and the members are averaged per cell (`combine`):
    the weekly run computes the same pieces in separate tasks.
    """
    start_time = time.perf_counter()
    bounds = folds(cube, config, n_folds, end, val_days, purge, eval_start, eval_end)
    preds, bpreds, fold_info = [], [], []
    for k, fold in enumerate(bounds):
        prepared = train.prepare_fit(cube, cube.days[fold.cutoff], config)  # once per fold, shared by its members
        parts = [fold_member_predictions(cube, k, fold, config, i, score_coins, len(bounds), prepared=prepared)
                 for i in range(config.n_seeds)]
        preds.append(combine([p for _, p in parts]))
        if with_baselines:
            bpreds.append(fold_baselines(cube, k, fold, config, score_coins, baselines))
        info = fold_summary(cube, k, fold, len(preds[-1]) // config.horizons, [m.info for m, _ in parts])
        fold_info.append(info)
        log(f"fold {k}: cutoff {info['cutoff']}, scored {info['val_start']}..{info['val_end']} "
            f"({info['n_cells']} cells), fit {info['fit_seconds']:.1f}s, epochs {info['epochs']}")
    return assemble(preds, bpreds, fold_info, time.perf_counter() - start_time)


def _reorder(cube: windows.Cube, coins: tuple[str, ...]) -> windows.Cube:
    """The same cube with its coin axis in the order of `coins` (each must be in the cube)."""
    idx = [cube.coins.index(c) for c in coins]
    return windows.Cube(tuple(coins), cube.days, cube.x[idx], cube.log_close[idx])


def _matrix(df: pd.DataFrame, col: str) -> np.ndarray:
    """[N cells, H] from a long frame sorted by KEYS."""
    H = int(df["horizon"].max())
    return df[col].to_numpy().reshape(-1, H)


def score(predictions: pd.DataFrame, baseline_predictions: pd.DataFrame, n_boot: int = 2000,
          block: int = 10) -> scores.Scores:
    """Every model (the LSTM as 'model' and every baseline) overall / per horizon / per coin / per fold, plus
    block-bootstrap CIs of DA and DA - baseline overall and per horizon (`to_json()`: the JSON form)."""
    p = predictions.sort_values(KEYS, kind="stable").reset_index(drop=True)
    b = baseline_predictions.sort_values(KEYS, kind="stable").reset_index(drop=True)
    if not p[KEYS].equals(b[KEYS]):
        raise ValueError("baselines must be scored on exactly the model's cells")
    y = _matrix(p, "realised_log_return")  # [N, H]
    day = p["as_of"].to_numpy()[:: int(p["horizon"].max())]  # [N]
    cell_coin = p["coin"].to_numpy()[:: int(p["horizon"].max())]
    cell_fold = p["fold"].to_numpy()[:: int(p["horizon"].max())]
    names = [c for c in b.columns if c not in KEYS]
    preds = {"model": _matrix(p, "pred_log_return"), **{n: _matrix(b, n) for n in names}}
    models = {}
    for name, pr in preds.items():
        models[name] = scores.ModelScores(
            # 1.0: within each fold (one model) the sign never depends on the input -> a disguised constant baseline
            replace(scores.Summary.of(y, pr), constant_sign_share=metrics.constant_sign_share(pr, cell_fold)),
            {str(h + 1): scores.Summary.of(y[:, h], pr[:, h]) for h in range(y.shape[1])},
            {c: scores.Summary.of(y[cell_coin == c], pr[cell_coin == c]) for c in np.unique(cell_coin)},
            {str(f): scores.Summary.of(y[cell_fold == f], pr[cell_fold == f]) for f in np.unique(cell_fold)})
    others = {n: preds[n] for n in names}
    boot = {"overall": metrics.block_bootstrap_da(y, preds["model"], day, others, block, n_boot)}
    for h in range(y.shape[1]):
        boot[str(h + 1)] = metrics.block_bootstrap_da(
            y[:, h], preds["model"][:, h], day, {n: v[:, h] for n, v in others.items()}, block, n_boot)
    return scores.Scores(int(y.size), int(len(np.unique(day))), models,
                         {k: scores.Bootstrap.from_json(b) for k, b in boot.items()})
