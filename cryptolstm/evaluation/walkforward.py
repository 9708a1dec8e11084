"""Walk-forward validation: expanding chronological folds, a purge gap, scaler refit and model
retrained per fold, every baseline fit on the same training fold and scored on the same cells.

Fold k scores as-of days [s_k, e_k] with a model from `train.fit(cube, cutoff_k)` where
cutoff_k = s_k - purge - 1: every training target ends at least `purge` days before the first
scored day. Only cells whose 5 realised returns are known in `panel` are scored, and only for the
served coins (`score_coins`); every coin of the panel (the training universe) is trained on.
The feature cube is built once (or passed in) and every fold's fit reads its days <= cutoff.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from cryptolstm.evaluation import baselines as base_mod
from cryptolstm.modelling import features as feats_mod
from cryptolstm.evaluation import metrics
from cryptolstm.config import DEFAULT_COINS, PURGE_DAYS, WF_FOLD_DAYS, WF_FOLDS
from cryptolstm.market import panel as panel_mod
from cryptolstm.modelling import train, windows

KEYS = ["fold", "coin", "as_of", "horizon"]


@dataclass
class WalkForwardResult:
    predictions: pd.DataFrame  # [fold, coin, as_of, horizon, pred_log_return, realised_log_return]
    baseline_predictions: pd.DataFrame  # [fold, coin, as_of, horizon, <one column per baseline>]
    metrics: dict  # JSON-able, see `score`
    folds: list[dict] = field(default_factory=list)  # cutoff, val_start, val_end, cells, train seconds
    seconds: float = 0.0  # wall time of the whole walk-forward


def _cells_frame(cube: windows.Cube, coin: np.ndarray, t: np.ndarray) -> pd.DataFrame:
    """[coin, day, *FEATURES] rows at the cells' as-of days (the baselines' X)."""
    X = pd.DataFrame(cube.x[coin, t], columns=list(feats_mod.FEATURES))
    X.insert(0, "day", cube.days[t])
    X.insert(0, "coin", np.array(cube.coins)[coin])
    return X


def _long(fold: int, cube: windows.Cube, coin: np.ndarray, t: np.ndarray, cols: dict[str, np.ndarray]) -> pd.DataFrame:
    """One row per (cell, horizon) with the given [N, H] arrays as columns."""
    H = next(iter(cols.values())).shape[1]
    out = pd.DataFrame({"fold": fold, "coin": np.repeat(np.array(cube.coins)[coin], H),
                        "as_of": np.repeat(cube.days[t].date, H), "horizon": np.tile(np.arange(1, H + 1), len(t))})
    for name, arr in cols.items():
        out[name] = arr.reshape(-1)
    return out


def walk_forward(panel: pd.DataFrame | None, config: train.TrainConfig = train.TrainConfig(),
                 n_folds: int | None = None, end=None, val_days: int = WF_FOLD_DAYS, purge: int = PURGE_DAYS,
                 eval_start=None, eval_end=None, with_baselines: bool = True, log=lambda *_: None, *,
                 cube: windows.Cube | None = None, score_coins: tuple[str, ...] = DEFAULT_COINS,
                 baselines=None) -> WalkForwardResult:
    """Out-of-sample predictions of `config` retrained per fold, plus baselines and metrics.

    Default: n_folds=WF_FOLDS blocks of `val_days` as-of days ending at `end` (default: the last day whose
    H targets are known). With `eval_start` (and optionally `eval_end`) the scored window is exactly
    [eval_start, eval_end], split into n_folds (default 1) consecutive blocks — e.g. the weekly
    challenger check on the cells where the champion's live forecasts have matured.
    `cube` (train.build_cube of the same panel) skips the feature build; `panel` may then be None.
    Cells of coins outside `score_coins` are trained on but not scored. `baselines` defaults to
    `baselines.default_baselines()`.
    """
    start_time = time.perf_counter()
    if cube is None:
        cube = train.build_cube(panel_mod.normalise(panel))
    H = config.horizons
    coins = cube.coins
    served = np.isin(np.array(coins), list(score_coins))
    if not served.any():
        raise ValueError(f"none of the coins to score {list(score_coins)} is in the panel {list(coins)}")
    valid, has_close = ~np.isnan(cube.x).any(axis=2), ~np.isnan(cube.log_close)
    last_known = len(cube.days) - 1 - H
    if eval_start is not None:
        s = cube.day_index(panel_mod.to_day(eval_start))
        e = min(last_known, cube.last_index_on_or_before(panel_mod.to_day(eval_end)) if eval_end else last_known)
        n_folds = n_folds or 1
        folds = windows.fold_bounds(e, n_folds, math.ceil((e - s + 1) / n_folds), purge)
        folds[0] = windows.Fold(s - purge - 1, s, folds[0].val_end) if folds[0].val_start < s else folds[0]
    else:
        e = last_known if end is None else min(last_known, cube.last_index_on_or_before(panel_mod.to_day(end)))
        folds = windows.fold_bounds(e, n_folds or WF_FOLDS, val_days, purge)
    preds, bpreds, fold_info = [], [], []
    for k, fold in enumerate(folds):
        cutoff = cube.days[fold.cutoff]
        t0 = time.perf_counter()
        model = train.fit(cube, cutoff, config, label=f"fold {k + 1}/{len(folds)}")
        fit_s = time.perf_counter() - t0
        plan = windows.index_plan(valid, has_close, config.window, H, first=fold.val_start, last=fold.val_end)
        known = plan.trainable & served[plan.coin] & np.isin(np.array(coins)[plan.coin], model.coins)
        coin, t = plan.coin[known], plan.t[known]
        realised = windows.gather_targets(cube.log_close, coin, t, H)  # [N, H]
        # the model's embedding ids are its own vocabulary's positions (a subset of the cube's coins)
        mcube = cube if model.coins == coins else _reorder(cube, model.coins)
        mcoin = np.array([mcube.coins.index(coins[i]) for i in coin], dtype=np.int64)
        pred = model.predict_cells(mcube, mcoin, t)  # [N, H]
        preds.append(_long(k, cube, coin, t, {"pred_log_return": pred, "realised_log_return": realised}))
        if with_baselines:
            tr = train.training_cells(cube, config, fold.cutoff)
            Xtr, ytr = _cells_frame(cube, tr.coin, tr.t), windows.gather_targets(cube.log_close, tr.coin, tr.t, H)
            Xev = _cells_frame(cube, coin, t)
            bset = base_mod.default_baselines() if baselines is None else baselines
            bpreds.append(_long(k, cube, coin, t, {b.name: b.fit(Xtr, ytr).predict(Xev) for b in bset}))
        info = {"fold": k, "cutoff": str(cutoff.date()), "val_start": str(cube.days[fold.val_start].date()),
                "val_end": str(cube.days[fold.val_end].date()), "n_cells": int(len(t)),
                "fit_seconds": round(fit_s, 2), "epochs": model.info.get("epochs"),
                "n_fit_windows": model.info.get("n_fit_windows")}
        fold_info.append(info)
        log(f"fold {k}: cutoff {info['cutoff']}, scored {info['val_start']}..{info['val_end']} "
            f"({info['n_cells']} cells), fit {fit_s:.1f}s, epochs {info['epochs']}")
    predictions = pd.concat(preds, ignore_index=True)
    baseline_predictions = pd.concat(bpreds, ignore_index=True) if bpreds else predictions[KEYS].copy()
    m = score(predictions, baseline_predictions)
    m["folds"] = fold_info
    return WalkForwardResult(predictions, baseline_predictions, m, fold_info, time.perf_counter() - start_time)


def _reorder(cube: windows.Cube, coins: tuple[str, ...]) -> windows.Cube:
    """The same cube with its coin axis in the order of `coins` (each must be in the cube)."""
    idx = [cube.coins.index(c) for c in coins]
    return windows.Cube(tuple(coins), cube.days, cube.x[idx], cube.log_close[idx])


def _matrix(df: pd.DataFrame, col: str) -> np.ndarray:
    """[N cells, H] from a long frame sorted by KEYS."""
    H = int(df["horizon"].max())
    return df[col].to_numpy().reshape(-1, H)


def score(predictions: pd.DataFrame, baseline_predictions: pd.DataFrame, n_boot: int = 2000,
          block: int = 10) -> dict:
    """JSON-able metrics: per model (the LSTM as 'model' and every baseline) overall / per horizon /
    per coin / per fold, plus block-bootstrap CIs of DA and DA - baseline overall and per horizon."""
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
    out = {"n_cells": int(y.size), "n_as_of_days": int(len(np.unique(day))), "models": {}, "bootstrap": {}}
    for name, pr in preds.items():
        out["models"][name] = {
            "overall": metrics.summary(y, pr),
            "per_horizon": {str(h + 1): metrics.summary(y[:, h], pr[:, h]) for h in range(y.shape[1])},
            "per_coin": {c: metrics.summary(y[cell_coin == c], pr[cell_coin == c]) for c in np.unique(cell_coin)},
            "per_fold": {str(f): metrics.summary(y[cell_fold == f], pr[cell_fold == f]) for f in np.unique(cell_fold)},
        }
        # 1.0: within each fold (one model) the sign never depends on the input -> a disguised constant baseline
        out["models"][name]["overall"]["constant_sign_share"] = metrics.constant_sign_share(pr, cell_fold)
    others = {n: preds[n] for n in names}
    out["bootstrap"]["overall"] = metrics.block_bootstrap_da(y, preds["model"], day, others, block, n_boot)
    for h in range(y.shape[1]):
        out["bootstrap"][str(h + 1)] = metrics.block_bootstrap_da(
            y[:, h], preds["model"][:, h], day, {n: v[:, h] for n, v in others.items()}, block, n_boot)
    out["da"] = out["models"]["model"]["overall"]["da"]
    out["mae_ratio_rw"] = out["models"]["model"]["overall"]["mae_ratio_rw"]
    if names:
        best = max(names, key=lambda n: out["models"][n]["overall"]["da"])
        out["best_baseline"] = {"name": best, "da": out["models"][best]["overall"]["da"]}
    return out


def baseline_table(metrics: dict) -> dict:
    """{baseline: {da, mae_ratio_rw, share_positive, constant_sign_share}} from `score`'s metrics (JSON-able;
    what the weekly challenger's registry metrics carry beside the model's own)."""
    keys = ("da", "mae_ratio_rw", "share_positive", "constant_sign_share")
    return {name: {k: m["overall"].get(k) for k in keys} for name, m in metrics["models"].items() if name != "model"}
