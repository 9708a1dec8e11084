"""Typed scores of a walk-forward: what `walkforward.score` returns and every consumer reads by attribute.

    scores = walkforward.score(predictions, baseline_predictions)
    scores.model.overall.da, scores.models["always_up"].per_horizon["1"].da, scores.bootstrap["overall"].da_ci

Frozen dataclasses; `to_json()` gives the JSON shape the registry metrics and the report files have always had (so
stored models and reports still read), `from_json` reads it back. Horizons and folds are string keys ("1".."H"),
as in that JSON.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np

from cryptolstm.evaluation import metrics


@dataclass(frozen=True)
class Summary:
    """All point metrics of one forecast on the same cells (`of`)."""

    n_cells: int
    mae: float
    rmse: float
    da: float  # metrics.directional_accuracy: the one definition of a hit
    mae_ratio_rw: float
    share_positive: float
    pt_stat: float
    pt_p: float
    path_error: float | None = None  # [N, H] cells only
    constant_sign_share: float | None = None  # a model's overall summary only (per fold x horizon)

    @classmethod
    def of(cls, y_true: np.ndarray, y_pred: np.ndarray) -> Summary:
        """The metrics of `evaluation.metrics` on cells y, p ([N, H] or [N])."""
        y, p = np.asarray(y_true, dtype=np.float64), np.asarray(y_pred, dtype=np.float64)
        pt, pt_p = metrics.pesaran_timmermann(y, p)
        return cls(int(y.size), metrics.mae(y, p), metrics.rmse(y, p), metrics.directional_accuracy(y, p),
                   metrics.mae_ratio_to_random_walk(y, p), metrics.share_positive(p), pt, pt_p,
                   metrics.path_error(y, p) if y.ndim == 2 else None)

    def to_json(self) -> dict:
        return {k: v for k, v in asdict(self).items()
                if v is not None or k not in ("path_error", "constant_sign_share")}

    @classmethod
    def from_json(cls, d: dict) -> Summary:
        return cls(**d)


@dataclass(frozen=True)
class ModelScores:
    """One model (the LSTM or a baseline) on the walk-forward cells: overall, per horizon, coin and fold."""

    overall: Summary
    per_horizon: dict[str, Summary]
    per_coin: dict[str, Summary]
    per_fold: dict[str, Summary]

    def to_json(self) -> dict:
        return {"overall": self.overall.to_json(), **{k: {g: s.to_json() for g, s in getattr(self, k).items()}
                                                      for k in ("per_horizon", "per_coin", "per_fold")}}

    @classmethod
    def from_json(cls, d: dict) -> ModelScores:
        return cls(Summary.from_json(d["overall"]), *({g: Summary.from_json(s) for g, s in d[k].items()}
                                                      for k in ("per_horizon", "per_coin", "per_fold")))


@dataclass(frozen=True)
class Comparison:
    """DA minus one baseline's DA on the same cells, with its block-bootstrap interval and one-sided p."""

    diff: float
    ci: tuple[float, float]
    p_le_0: float  # bootstrap share of draws with diff <= 0

    def to_json(self) -> dict:
        return {"diff": self.diff, "ci": list(self.ci), "p_le_0": self.p_le_0}


@dataclass(frozen=True)
class Bootstrap:
    """`metrics.block_bootstrap_da` of the model: its DA interval and one `Comparison` per baseline."""

    da: float
    da_ci: tuple[float, float]
    n_days: int
    block: int
    n_boot: int
    vs: dict[str, Comparison]

    @classmethod
    def from_json(cls, d: dict) -> Bootstrap:
        return cls(d["da"], tuple(d["da_ci"]), d["n_days"], d["block"], d["n_boot"],
                   {n: Comparison(c["diff"], tuple(c["ci"]), c["p_le_0"]) for n, c in d["vs"].items()})

    def to_json(self) -> dict:
        return {"da": self.da, "da_ci": list(self.da_ci), "n_days": self.n_days, "block": self.block,
                "n_boot": self.n_boot, "vs": {n: c.to_json() for n, c in self.vs.items()}}


@dataclass(frozen=True)
class Scores:
    """Every model on the same cells ('model' is the LSTM, the others the baselines) and the model's bootstrap
    comparisons, overall and per horizon (`bootstrap["overall"]`, `bootstrap["1"]`, ...)."""

    n_cells: int
    n_as_of_days: int
    models: dict[str, ModelScores]
    bootstrap: dict[str, Bootstrap]
    folds: tuple[dict, ...] = field(default=())  # the walk-forward's fold records, once assembled

    @property
    def model(self) -> ModelScores:
        return self.models["model"]

    @property
    def da(self) -> float:
        return self.model.overall.da

    @property
    def mae_ratio_rw(self) -> float:
        return self.model.overall.mae_ratio_rw

    @property
    def baselines(self) -> dict[str, ModelScores]:
        return {n: m for n, m in self.models.items() if n != "model"}

    def best_baseline(self) -> tuple[str, float] | None:
        """(name, DA) of the baseline with the highest DA, None without baselines."""
        if not self.baselines:
            return None
        name = max(self.baselines, key=lambda n: self.models[n].overall.da)
        return name, self.models[name].overall.da

    def baseline_table(self) -> dict:
        """{baseline: {da, mae_ratio_rw, share_positive, constant_sign_share}} (JSON: what the weekly challenger's
        registry metrics carry beside the model's own)."""
        keys = ("da", "mae_ratio_rw", "share_positive", "constant_sign_share")
        return {n: {k: getattr(m.overall, k) for k in keys} for n, m in self.baselines.items()}

    def to_json(self) -> dict:
        out = {"n_cells": self.n_cells, "n_as_of_days": self.n_as_of_days,
               "models": {n: m.to_json() for n, m in self.models.items()},
               "bootstrap": {k: b.to_json() for k, b in self.bootstrap.items()},
               "da": self.da, "mae_ratio_rw": self.mae_ratio_rw}
        best = self.best_baseline()
        if best:
            out["best_baseline"] = {"name": best[0], "da": best[1]}
        if self.folds:
            out["folds"] = list(self.folds)
        return out
