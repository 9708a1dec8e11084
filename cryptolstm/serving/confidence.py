"""Issue 26 in serving: how confident each forecast is, known at t, and the walk-forward evidence per tier.

At registration (`serving.challenger.gather_members`): `reference` fits `tiers.Reference` on the model's walk-forward
out-of-sample cells (the ensemble mean, each member, what is served and the best rule of each fold), stored in the
bundle; `evidence` gives the walk-forward DA per tier with 95 % day-block intervals, and each baseline's DA on its own
top cells at the same coverage (`metrics["tiers"]`; the gate still judges every cell).

At the forecast of day t (`serving.forecast`): `day_confidence` gives every (coin, horizon) its `confidence`
(percentile of |ensemble mean| among the reference's), `members_agree` (share of the K members with the mean's sign)
and `tier`, from the day's predictions and feature rows only (candles <= t). A model without a stored reference gets
NULL confidence and tier (members_agree is still computed), said in one log line.
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from cryptolstm.config import TierConfig
from cryptolstm.evaluation import combination, tiers, walkforward
from cryptolstm.modelling import features, windows

log = logging.getLogger(__name__)
KEYS = walkforward.KEYS
NONE = {"confidence": None, "members_agree": None, "tier": None}


def _long(frames: list[pd.DataFrame]) -> pd.DataFrame:
    """The folds' frames as one, sorted by KEYS (every frame of one walk-forward then has the same row order)."""
    return pd.concat(frames, ignore_index=True).sort_values(KEYS, kind="stable").reset_index(drop=True)


def walk_forward_cells(ensemble: list[pd.DataFrame], per_member: list[list[pd.DataFrame]], served: list[pd.DataFrame],
                       baselines: list[pd.DataFrame], rules: dict[int, str] | None):
    """(ensemble, [member frames], served, rule or None, baselines) of a walk-forward, each [fold, coin, as_of,
    horizon, ...] sorted by KEYS: `ensemble`, `served`, `baselines` per fold (the stored baseline predictions),
    `per_member[k][i]` fold k's member i, `rules` {fold: the rule its combination used} (None: no combination, no
    rule). The rule's forecast of a cell is that rule's stored baseline prediction."""
    K = len(per_member[0])
    members = [_long([fold[i] for fold in per_member]) for i in range(K)]
    base = _long(baselines)
    rule = None
    if rules is not None:
        frames = []
        for k, b in enumerate(baselines):  # baselines[k]: fold k's
            frames.append(b[KEYS].assign(pred_log_return=b[rules[k]].to_numpy()))
        rule = _long(frames)
    return _long(ensemble), members, _long(served), rule, base


def reference(ensemble: pd.DataFrame, members: list[pd.DataFrame], served: pd.DataFrame, rule: pd.DataFrame | None,
              config: TierConfig) -> dict:
    """The JSON of the `tiers.Reference` a model stores with it (`walk_forward_cells`' frames)."""
    return tiers.Reference.fit(ensemble, members, served, rule, config).to_json()


def fold_returns(cube: windows.Cube, bounds: list[windows.Fold], config, served: tuple[str, ...]) -> pd.DataFrame:
    """[fold, coin, as_of, horizon, r_1, r_3, r_7] of every fold's scored cells: the trailing returns ret_k of the
    as-of day (features of t), what ranks a rule's own confident cells (`tiers.RULE_SCORE`)."""
    lags = [features.FEATURES.index(f"ret_{k}") for k in combination.LAGS]
    frames = []
    for k, fold in enumerate(bounds):
        coin, t = walkforward.fold_cells(cube, fold, config, served)
        r = cube.x[coin, t][:, lags]  # [N, 3]
        cols = {f"r_{lag}": np.repeat(r[:, [i]], config.horizons, axis=1) for i, lag in enumerate(combination.LAGS)}
        frames.append(walkforward._long(k, cube, coin, t, cols))
    return _long(frames)


def evidence(ensemble: pd.DataFrame, members: list[pd.DataFrame], served: pd.DataFrame, rule: pd.DataFrame | None,
             baselines: pd.DataFrame, signals: pd.DataFrame, config: TierConfig) -> dict:
    """metrics["tiers"]: the served forecast's walk-forward DA per tier (95 % day-block interval), the high tier's
    per horizon and per coin (`tiers.tier_figures`), and each baseline's DA on its own top `high_share` of cells
    (`tiers.baseline_confident`: the same coverage)."""
    cells = tiers.cell_inputs(ensemble, members, served, rule)  # + realised (the served frame carries it)
    figures = tiers.tier_figures(cells, config.score, config.high_share, config.low_share)
    return {"score": config.score, "high_share": config.high_share, "low_share": config.low_share,
            "n_cells": int(len(cells)), **figures,
            "baselines_at_coverage": tiers.baseline_confident(cells, baselines, signals, config.high_share)}


def day_rule(served_combination: dict | None, bare: pd.DataFrame, day_rows: pd.DataFrame) -> np.ndarray | None:
    """[rows of `bare`] the forecast of the rule the served combination uses (`TrainingScales.best_rule`: sign x
    ret_k of the as-of day), or None for a model that serves no combination."""
    if served_combination is None:
        return None
    best = combination.ServedCombination.from_json(served_combination).scales.best_rule
    lag, sign = combination.RULES[best]
    ret = day_rows.drop_duplicates("coin", keep="last").set_index("coin")[f"ret_{lag}"]
    if missing := sorted(set(bare["coin"]) - set(ret.index)):
        raise combination.CombinationError(f"no feature row of the as-of day for {missing}: no rule forecast")
    return sign * ret.loc[bare["coin"]].to_numpy(dtype=np.float64)


def day_confidence(model, model_id: str, bare: pd.DataFrame, members: np.ndarray, served: pd.DataFrame,
                   day_rows: pd.DataFrame, log_fn=log.warning) -> dict[tuple[str, int], dict]:
    """{(coin, horizon): {confidence, members_agree, tier}} of the day's forecast. `bare`: the ensemble mean
    (`TrainedModel.predict`), `members` [K, rows of bare] (`TrainedModel.predict_with_members`), `served`: what is served
    (the combination, or `bare`), `day_rows`: the coins' feature rows of the as-of day. Raises ValueError on a
    non-finite mean or member, or members of another shape: never a tier from a broken forecast."""
    if len(bare) == 0:
        return {}
    mean = bare["pred_log_return"].to_numpy(dtype=np.float64)  # [N]
    agree = tiers.members_agree(members, mean)  # ValueError on a shape mismatch or a non-finite value
    keys = list(zip(bare["coin"], bare["horizon"].astype(int)))
    if model.confidence_reference is None:
        log_fn("%s has no confidence reference (registered before issue 26): its forecasts carry no confidence "
               "or tier", model_id)
        return {key: {**NONE, "members_agree": float(a)} for key, a in zip(keys, agree)}
    ref = tiers.Reference.from_json(model.confidence_reference)
    by_key = {(c, int(h)): float(p) for c, h, p in served[["coin", "horizon", "pred_log_return"]].itertuples(index=False)}
    if set(by_key) != set(keys):
        raise ValueError(f"{model_id}: the served forecast and the ensemble cover different cells")
    s = np.array([by_key[key] for key in keys])  # [N] served, in bare's order
    horizon = bare["horizon"].to_numpy(dtype=np.int64)
    rule = day_rule(model.combination, bare, day_rows)
    rule_agree = np.zeros(len(bare)) if rule is None else tiers.rule_agree(s, rule)  # the reference's rule: None -> 0
    conf = ref.confidence(np.abs(mean), horizon)
    tier = ref.tier(ref.cell_score(np.abs(mean), np.abs(s), agree, rule_agree, horizon), horizon)
    return {key: {"confidence": float(c), "members_agree": float(a), "tier": str(t)}
            for key, c, a, t in zip(keys, conf, agree, tier)}
