"""Issue 26: how confident a forecast is, known at t, and how the confident forecasts fare against each rule's own
confident forecasts at the same coverage (selective prediction's risk-coverage comparison).

Per cell (coin, as-of day t, horizon h), from what the model computes at t:

    m            the LSTM ensemble mean (log return)
    agree        members_agree: the share of the K members whose sign is m's
    rule         1 when the served forecast's sign is the best rule's sign (the rule the blend uses), else 0
    pct(x)       x's percentile among the reference values of its horizon

The reference is the model's own out-of-sample walk-forward cells of that horizon: in serving a quantile grid
stored with the model (`Reference`), in an evaluation round the fold's own cells (`within_rank`: every forecaster
is then judged on exactly the same coverage). A cell's score (SCORES, higher = more confident) is ranked the same
way, and its tier is high (top `high_share`), low (bottom `low_share`) or medium.

    ref = Reference.fit(abs_mean, score, horizon, TierConfig())      # at registration, from the walk-forward
    conf, tier = ref.confidence(abs_mean, horizon), ref.tier(score, horizon)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from cryptolstm.config import HORIZONS, TierConfig
from cryptolstm.evaluation import metrics

SCORES = ("mean", "served", "agree", "rule", "combined")
TIERS = ("high", "medium", "low")
CUTS = (0.10, 0.20, 0.33)  # round 8's candidate high shares
TIE = 0.002  # round 8's pick: a larger high share within this of the best lower interval end wins
RULE_SCORE = {"reversal_1": "r_1", "reversal_3": "r_3", "reversal_7": "r_7",
              "momentum_1": "r_1", "momentum_3": "r_3", "momentum_7": "r_7"}  # a rule is ranked by |r_k|
PROB_SCORE = ("logit", "gbm_clf", "ridge", "gbm")  # ranked by |forecast| (|P(up) - 0.5| x a size per horizon)


# ---- the pieces, shared by serving and the round ---------------------------------------------------------

def members_agree(members: np.ndarray, mean: np.ndarray) -> np.ndarray:
    """[N] share of the K members whose sign is the ensemble mean's. members [K, N], mean [N]; a zero mean
    agrees with no one. Raises on a shape mismatch or a non-finite value (never a tier from a broken forecast)."""
    members, mean = np.asarray(members, dtype=np.float64), np.asarray(mean, dtype=np.float64)
    if members.ndim != 2 or members.shape[1] != mean.shape[0]:
        raise ValueError(f"members {members.shape} do not match the ensemble mean {mean.shape}")
    if not (np.isfinite(members).all() and np.isfinite(mean).all()):
        raise ValueError("a member or the ensemble mean is not finite: no confidence")
    return np.mean(np.sign(members) == np.where(mean == 0, np.nan, np.sign(mean))[None, :], axis=0)


def rule_agree(served: np.ndarray, rule: np.ndarray) -> np.ndarray:
    """[N] 1.0 where the served forecast and the rule's forecast have the same nonzero sign, else 0.0."""
    s, r = np.sign(np.asarray(served, dtype=np.float64)), np.sign(np.asarray(rule, dtype=np.float64))
    return ((s == r) & (s != 0)).astype(np.float64)


def score(name: str, pct_mean: np.ndarray, pct_served: np.ndarray, agree: np.ndarray, rule: np.ndarray) -> np.ndarray:
    """[N] the candidate score `name` (SCORES) of cells with pct(|m|), pct(|served|), members_agree and rule_agree."""
    if name == "mean":
        return np.asarray(pct_mean, dtype=np.float64)
    if name == "served":
        return np.asarray(pct_served, dtype=np.float64)
    if name == "agree":
        return agree + 0.001 * pct_mean
    if name == "rule":
        return rule + pct_mean
    if name == "combined":
        return (pct_mean + agree + rule) / 3.0
    raise ValueError(f"unknown confidence score {name!r}; one of {SCORES}")


def tier_of(pct: np.ndarray, high_share: float, low_share: float) -> np.ndarray:
    """[N] 'high' / 'medium' / 'low' of score percentiles in [0, 1]."""
    pct = np.asarray(pct, dtype=np.float64)
    return np.where(pct > 1.0 - high_share, "high", np.where(pct <= low_share, "low", "medium"))


def percentile(grid: np.ndarray, x: np.ndarray) -> np.ndarray:
    """[N] the share of a reference (given as its quantile grid [Q], nondecreasing) below x, ties counted half."""
    grid = np.asarray(grid, dtype=np.float64)
    lo, hi = np.searchsorted(grid, x, side="left"), np.searchsorted(grid, x, side="right")
    return (lo + hi) / (2.0 * len(grid))


@dataclass(frozen=True)
class Reference:
    """What a served model needs to give each forecast a confidence and a tier: per horizon, the quantile grid of
    |ensemble mean| and of the chosen score over its walk-forward out-of-sample cells."""

    score: str
    high_share: float
    low_share: float
    abs_mean: tuple[tuple[float, ...], ...]  # [H][Q]
    abs_served: tuple[tuple[float, ...], ...]  # [H][Q]
    scores: tuple[tuple[float, ...], ...]  # [H][Q]
    n_cells: int  # walk-forward cells the grids summarise

    @classmethod
    def fit(cls, ensemble: pd.DataFrame, members: list[pd.DataFrame], served: pd.DataFrame,
            rule: pd.DataFrame | None, config: TierConfig = TierConfig()) -> "Reference":
        """The reference of a model's walk-forward: `ensemble`, each of `members`, `served` and `rule` (the best
        rule's forecast; None when the model serves no combination) are [fold, coin, as_of, horizon,
        pred_log_return] frames of the same cells in the same order."""
        inputs = cell_inputs(ensemble, members, served, rule)
        sc = np.empty(len(inputs))
        for h, idx in inputs.groupby("horizon").indices.items():
            g = inputs.iloc[idx]
            pm, ps = within_rank(g["abs_mean"]), within_rank(g["abs_served"])
            sc[idx] = score(config.score, pm, ps, g["agree"].to_numpy(), g["rule"].to_numpy())
        inputs["score"] = sc
        q = np.linspace(0.0, 1.0, config.grid)
        grids = {h: [np.quantile(g[c], q) for c in ("abs_mean", "abs_served", "score")]
                 for h, g in inputs.groupby("horizon")}
        if sorted(grids) != list(range(1, HORIZONS + 1)):
            raise ValueError(f"the walk-forward has horizons {sorted(grids)}, expected 1..{HORIZONS}")
        return cls(config.score, config.high_share, config.low_share,
                   *(tuple(tuple(float(v) for v in grids[h][i]) for h in sorted(grids)) for i in range(3)),
                   len(inputs))

    def confidence(self, abs_mean: np.ndarray, horizon: np.ndarray) -> np.ndarray:
        """[N] the percentile of each |ensemble mean| among its horizon's walk-forward |ensemble mean|."""
        return self._pct(self.abs_mean, abs_mean, horizon)

    def cell_score(self, abs_mean, abs_served, agree, rule, horizon) -> np.ndarray:
        """[N] the model's score of today's cells, their percentiles taken against the reference."""
        return score(self.score, self._pct(self.abs_mean, abs_mean, horizon),
                     self._pct(self.abs_served, abs_served, horizon), np.asarray(agree, dtype=np.float64),
                     np.asarray(rule, dtype=np.float64))

    def tier(self, cell_score: np.ndarray, horizon: np.ndarray) -> np.ndarray:
        """[N] the tier of each cell's score against its horizon's reference of scores."""
        return tier_of(self._pct(self.scores, cell_score, horizon), self.high_share, self.low_share)

    @staticmethod
    def _pct(grids, x, horizon) -> np.ndarray:
        x, horizon = np.asarray(x, dtype=np.float64), np.asarray(horizon)
        if not np.isfinite(x).all():
            raise ValueError("a non-finite value cannot be ranked: no confidence")
        out = np.empty(len(x))
        for h in np.unique(horizon):
            sel = horizon == h
            out[sel] = percentile(np.asarray(grids[int(h) - 1]), x[sel])
        return out

    def to_json(self) -> dict:
        return {"score": self.score, "high_share": self.high_share, "low_share": self.low_share,
                "abs_mean": [list(g) for g in self.abs_mean], "abs_served": [list(g) for g in self.abs_served],
                "scores": [list(g) for g in self.scores],
                "n_cells": self.n_cells}

    @classmethod
    def from_json(cls, d: dict) -> "Reference":
        """A stored reference; ValueError when it is incomplete or not finite."""
        try:
            ref = cls(str(d["score"]), float(d["high_share"]), float(d["low_share"]),
                      *(tuple(tuple(float(v) for v in g) for g in d[k]) for k in ("abs_mean", "abs_served", "scores")),
                      int(d["n_cells"]))
        except (KeyError, TypeError) as e:
            raise ValueError(f"an incomplete confidence reference: {e}") from e
        grids = np.array(ref.abs_mean + ref.abs_served + ref.scores, dtype=np.float64)
        if ref.score not in SCORES or any(len(g) != HORIZONS for g in (ref.abs_mean, ref.abs_served, ref.scores)) \
                or not np.isfinite(grids).all() or (np.diff(grids, axis=1) < 0).any():
            raise ValueError("a confidence reference must give a finite, sorted grid per horizon for a known score")
        return ref


# ---- the round's tables ------------------------------------------------------------------------------

def within_rank(x) -> np.ndarray:
    """[N] percentile ranks in (0, 1] of x (ties by position: every share is exactly its coverage)."""
    return pd.Series(np.asarray(x, dtype=np.float64)).rank(method="first", pct=True).to_numpy()


def _rank_by(frame: pd.DataFrame, col: str) -> np.ndarray:
    """[N] within-(fold, horizon) percentile rank of frame[col]."""
    out = np.empty(len(frame))
    for _, idx in frame.groupby(["fold", "horizon"]).indices.items():
        out[idx] = within_rank(frame[col].to_numpy()[idx])
    return out


def cell_inputs(ensemble: pd.DataFrame, members: list[pd.DataFrame], served: pd.DataFrame,
                rule: pd.DataFrame | None) -> pd.DataFrame:
    """[fold, coin, as_of, horizon, abs_mean, abs_served, agree, rule, served, realised] of the same cells of
    the ensemble, its members, the served forecast and the best rule's forecast (rule: None -> 0)."""
    keys = ["fold", "coin", "as_of", "horizon"]
    for other in [*members, served] + ([rule] if rule is not None else []):
        if not other[keys].reset_index(drop=True).equals(ensemble[keys].reset_index(drop=True)):
            raise ValueError("the ensemble, its members, the served forecast and the rule must cover the same cells")
    m = ensemble["pred_log_return"].to_numpy()
    s = served["pred_log_return"].to_numpy()
    out = ensemble[keys].reset_index(drop=True).copy()
    out["abs_mean"], out["abs_served"] = np.abs(m), np.abs(s)
    out["agree"] = members_agree(np.stack([f["pred_log_return"].to_numpy() for f in members]), m)
    out["rule"] = rule_agree(s, rule["pred_log_return"].to_numpy()) if rule is not None else 0.0
    out["served"] = s
    if "realised_log_return" in served:
        out["realised"] = served["realised_log_return"].to_numpy()
    return out


def _da(frame: pd.DataFrame, pred: str, sel: np.ndarray, ci: bool = True) -> dict:
    """DA of frame[pred]'s sign on the selected cells, with its 95 % day-block interval."""
    f = frame[sel]
    if f.empty:
        return {"da": None, "n": 0}
    if not ci:
        hit, scored = metrics.direction_hits(f["realised"].to_numpy(), f[pred].to_numpy())
        return {"da": float(hit.sum() / scored.sum()), "n": int(len(f))}
    b = metrics.block_bootstrap_da(f["realised"].to_numpy(), f[pred].to_numpy(), f["as_of"].to_numpy())
    return {"da": b["da"], "ci": b["da_ci"], "n": int(len(f))}


def tier_figures(cells: pd.DataFrame, name: str, share: float, low_share: float = 1 / 3) -> dict:
    """One candidate (score `name`, high `share`) on the cells of `cell_inputs` (+ realised): DA per tier with
    intervals, and the high tier's DA per horizon and per coin."""
    pm, ps = _rank_by(cells, "abs_mean"), _rank_by(cells, "abs_served")
    raw = score(name, pm, ps, cells["agree"].to_numpy(), cells["rule"].to_numpy())
    pct = _rank_by(cells.assign(_s=raw), "_s")
    tier = tier_of(pct, share, low_share)
    out = {t: _da(cells, "served", tier == t) for t in TIERS}
    hi = tier == "high"
    out["high_per_horizon"] = {str(h): _da(cells, "served", hi & (cells["horizon"] == h).to_numpy(), ci=False)["da"]
                               for h in sorted(cells["horizon"].unique())}
    out["high_per_coin"] = {c: _da(cells, "served", hi & (cells["coin"] == c).to_numpy(), ci=False)["da"]
                            for c in sorted(cells["coin"].unique())}
    return out


def baseline_confident(cells: pd.DataFrame, baselines: pd.DataFrame, signals: pd.DataFrame, share: float) -> dict:
    """Every baseline's DA on its own top `share` of cells per (fold, horizon), ranked by its natural score
    (RULE_SCORE, PROB_SCORE); always-up (no score) and the random walk get their overall DA."""
    keys = ["fold", "coin", "as_of", "horizon"]
    f = cells[keys + ["realised"]].merge(baselines, on=keys, how="left").merge(signals, on=keys, how="left")
    if f[[c for c in baselines.columns if c not in keys]].isna().any().any():
        raise ValueError("the baselines do not cover the model's cells")
    out = {}
    for b in [c for c in baselines.columns if c not in keys and c != "random_walk"]:
        if b in RULE_SCORE:
            nat = f[RULE_SCORE[b]].abs()
        elif b in PROB_SCORE:
            nat = f[b].abs()
        else:  # always_up: no score
            out[b] = {**_da(f, b, np.ones(len(f), bool), ci=False), "ranked_by": "none (overall DA)"}
            continue
        top = _rank_by(f.assign(_n=nat.to_numpy()), "_n") > 1.0 - share
        out[b] = {**_da(f, b, top), "ranked_by": f"|{RULE_SCORE.get(b, b)}|"}
    return out


def overlap(cells: pd.DataFrame, baselines: pd.DataFrame, signals: pd.DataFrame, share: float = 1 / 3) -> dict:
    """For the model's top `share` by |ensemble mean|: the share of its cells in each rule's own top `share`, and
    how often the model's served sign and the rule's agree on the model's top cells."""
    keys = ["fold", "coin", "as_of", "horizon"]
    f = cells.merge(baselines, on=keys, how="left").merge(signals, on=keys, how="left")
    mine = _rank_by(f, "abs_mean") > 1.0 - share
    out = {}
    for b, sig in RULE_SCORE.items():
        if b not in f:
            continue
        theirs = _rank_by(f.assign(_n=f[sig].abs().to_numpy()), "_n") > 1.0 - share
        out[b] = {"in_its_top": float((mine & theirs).sum() / mine.sum()),
                  "same_sign": float(np.mean(np.sign(f.loc[mine, "served"]) == np.sign(f.loc[mine, b])))}
    return out


def pick(candidates: dict, tie: float = TIE) -> dict:
    """Round 8's rule on {"<score>@<share>": tier_figures}: the highest lower end of the high tier's interval; a
    larger share within `tie` of it wins."""
    lows = {k: v["high"]["ci"][0] for k, v in candidates.items()}
    best = max(lows, key=lambda k: lows[k])
    near = [k for k in lows if lows[k] >= lows[best] - tie]
    chosen = max(near, key=lambda k: (float(k.split("@")[1]), lows[k]))
    name, share = chosen.split("@")
    return {"candidate": chosen, "score": name, "high_share": float(share), "high_ci_low": lows[chosen],
            "best_ci_low": lows[best], "best": best}
