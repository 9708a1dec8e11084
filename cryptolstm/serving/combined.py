"""Serving a combination (issue 28; `TrainConfig.combination` "blend_equal" or "stacked"): fitted by the weekly
gather, stored in the model's bundle, applied by the daily forecast.

Fit (`fit_served`, at the gather, everything known at the training cutoff): every walk-forward fold's signals and
training-period scales (`combination_round.fold_signals`, the members' `pred_scale`), the stacked weights on every
fold's out-of-sample rows, and the final training period's scales, best rule and logistic classifier (as plain
numbers). `combined_walk_forward` gives the walk-forward predictions of what is served (nested weights), so the gate
and the ranges judge the combination, not the bare ensemble.

Apply (`combine_day`, at the forecast): the ensemble's predictions of day t and the coins' feature rows of day t
(candles <= t; a coin in warm-up has no row and no forecast) -> the combined 5-day log returns.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from cryptolstm.config import CombinationConfig
from cryptolstm.evaluation import baselines, combination, combination_round, walkforward
from cryptolstm.modelling import train, windows


def fold_inputs(cube: windows.Cube, bounds: list[windows.Fold], config, served: tuple[str, ...],
                fold_infos: list[list[dict]]) -> tuple[pd.DataFrame, dict[int, combination.TrainingScales]]:
    """(signals of every fold's cells, {fold: TrainingScales}); fold_infos[k]: fold k's members' training infos
    (their `pred_scale`, averaged: the ensemble's scale)."""
    frames, scales = [], {}
    for k, fold in enumerate(bounds):
        frame, facts = combination_round.fold_signals(cube, k, fold, config, served)
        missing = [i for i, info in enumerate(fold_infos[k]) if "pred_scale" not in info]
        if missing:
            raise combination.CombinationError(f"fold {k}: members {missing} stored no prediction scale (trained "
                                               "before it was recorded): retrain them")
        lstm = np.mean([info["pred_scale"] for info in fold_infos[k]], axis=0)
        scales[k] = combination.TrainingScales(tuple(lstm), **facts)
        frames.append(frame)
    return pd.concat(frames, ignore_index=True), scales


def final_period(prepared: train.PreparedFit, config, lstm_scale) -> tuple[combination.TrainingScales, dict]:
    """The final training period's TrainingScales and logistic classifier (`LogisticBaseline.params`), fit on the
    final preparation's training cells (every coin of the universe, as the fold baselines)."""
    cube = prepared.cube
    tr = train.training_cells(cube, config, len(cube.days) - 1)
    x_tr = walkforward._cells_frame(cube, tr.coin, tr.t)  # the baselines' X, one definition
    y_tr = windows.gather_targets(cube.log_close, tr.coin, tr.t, config.horizons)  # [n, H]
    clf = baselines.LogisticBaseline().fit(x_tr, y_tr)
    r_tr = returns_of(x_tr)  # [n, 3]
    scales = combination.training_scales(r_tr, y_tr, clf.prob_up(x_tr), lstm_scale)
    return scales, clf.params()


def returns_of(rows: pd.DataFrame) -> np.ndarray:
    """[N, 3] the trailing returns ret_1, ret_3, ret_7 of feature rows (combination.LAGS order)."""
    return rows[[f"ret_{k}" for k in combination.LAGS]].to_numpy(dtype=np.float64)


def fit_served(method: str, predictions: pd.DataFrame, signals: pd.DataFrame,
               fold_scales: dict[int, combination.TrainingScales], final: train.PreparedFit, config, lstm_scale,
               comb: CombinationConfig = CombinationConfig()) -> combination.ServedCombination:
    """The combination a model trained on `final` serves: its final-period scales and classifier, and for
    "stacked" the weights fit on every walk-forward fold's out-of-sample rows (all before the cutoff)."""
    scales, clf = final_period(final, config, lstm_scale)
    weights = (combination.served_weights(predictions, signals, fold_scales, comb.ridge) if method == "stacked"
               else None)
    return combination.ServedCombination(method, scales, weights, clf)


def combine_day(served: combination.ServedCombination, preds: pd.DataFrame, rows: pd.DataFrame) -> pd.DataFrame:
    """The day's predictions [coin, as_of, horizon, pred_log_return] (the ensemble's) with the combined
    pred_log_return, from `rows`, the coins' feature rows of the as-of day ([coin, day, *FEATURES], candles <= t).
    A coin without a row (warm-up) is an error: the model forecast only coins with a complete window."""
    if preds.empty:
        return preds
    H = int(preds["horizon"].max())
    order = preds.sort_values(["coin", "horizon"], kind="stable").reset_index(drop=True)
    coins = order["coin"].to_numpy()[::H]
    day_rows = rows.drop_duplicates("coin", keep="last").set_index("coin")
    if missing := sorted(set(coins) - set(day_rows.index)):
        raise combination.CombinationError(f"no feature row of the as-of day for {missing}: no combined forecast")
    x = day_rows.loc[list(coins)].reset_index()  # [N, coin, day, *FEATURES]
    lstm = order["pred_log_return"].to_numpy().reshape(-1, H)  # [N, H]
    prob = baselines.prob_up_of(served.classifier, x)  # [N, H]
    out = order.copy()
    out["pred_log_return"] = served.forecast(combination.stack_signals(lstm, returns_of(x), prob)).reshape(-1)
    return out


def predict_cells(model, cube: windows.Cube, coin: np.ndarray, t: np.ndarray) -> np.ndarray:
    """[N, H] what a model serving a combination forecasts for cells (coin index of `cube` = the model's embedding
    id, day index): its members' mean (`TrainedModel.predict_cells`) combined with the cells' signals, each from
    the cell's features (candles <= t). The day's forecast (`combine_day`) computes the same from its feature rows."""
    served = combination.ServedCombination.from_json(model.combination)
    rows = walkforward._cells_frame(cube, coin, t)  # [N, coin, day, *FEATURES]
    lstm = model.predict_cells(cube, coin, t)  # [N, H]
    prob = baselines.prob_up_of(served.classifier, rows)  # [N, H]
    return served.forecast(combination.stack_signals(lstm, returns_of(rows), prob))
