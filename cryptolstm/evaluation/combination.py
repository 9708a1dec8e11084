"""Forecast combination (issue 28): the LSTM ensemble's forecast combined with the signals the simple rules and
the logistic classifier already compute, each divided by its training-period scale, then mapped back to return
units by the LSTM's own scale, so the forecast stays a 5-day log return (MAE and the ranges keep their meaning).

Signals of a cell (coin c, as-of day t), all known at t, stacked as s [N, H, S] in the order of SIGNALS:

    lstm            the ensemble's predicted log return                                   [N, H]
    r_1, r_3, r_7   the trailing log returns ret_k = log(close_t / close_{t-k}) (features.py), [N] repeated over H
    logit           P(up) - 0.5 of the logistic classifier fit on the training period      [N, H]

    z = s / scale      scale: `TrainingScales`, known at the fold's cutoff
    blend_equal        forecast = scale_lstm * (z_lstm + z_rule) / 2, rule = the best rule on the training period
                       (reversal_k's signal is -r_k, momentum_k's r_k)
    stacked            forecast_h = scale_lstm_h * (w_h . z_h), w_h [S] fit by ridge (no intercept) on the
                       out-of-sample z and y / scale_lstm of the folds BEFORE the forecast one (nested); the first
                       fold has no earlier one and gets equal weights 1/S, each r_k signed by
                       the training period's better direction at lag k (TrainingScales.lag_signs)

Pure numpy/pandas; the walk-forward pieces that compute the signals are in `combination_round`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from cryptolstm.config import HORIZONS, CombinationConfig
from cryptolstm.evaluation import metrics

SIGNALS = ("lstm", "r_1", "r_3", "r_7", "logit")
LAGS = (1, 3, 7)  # the trailing returns r_k of SIGNALS, the features ret_k
RULES = {**{f"reversal_{k}": (k, -1.0) for k in LAGS}, **{f"momentum_{k}": (k, 1.0) for k in LAGS}}  # name: (k, sign)
COMBINERS = ("blend_equal", "stacked")
KEYS = ["fold", "coin", "as_of", "horizon"]  # walkforward.KEYS (not imported: this module sits below it)


class CombinationError(ValueError):
    """A combination's scales or weights are missing or not finite: it cannot forecast."""


def _finite(name: str, values, shape: tuple[int, ...]) -> tuple:
    """`values` as nested tuples of floats of `shape`; CombinationError when absent, misshapen or not finite."""
    if values is None:
        raise CombinationError(f"{name} is missing")
    try:
        a = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as e:
        raise CombinationError(f"{name} is not numeric: {values!r}") from e
    if a.shape != shape:
        raise CombinationError(f"{name} has shape {a.shape}, expected {shape}")
    if not np.isfinite(a).all():
        raise CombinationError(f"{name} is not finite: {a.tolist()}")
    return tuple(map(tuple, a)) if a.ndim == 2 else tuple(float(v) for v in a)


@dataclass(frozen=True)
class TrainingScales:
    """What a fold knows at its cutoff about its training period: each signal's scale and the best rule."""

    lstm: tuple[float, ...]  # [H] the ensemble's prediction scale (`TrainedModel.info["pred_scale"]`)
    returns: tuple[float, ...]  # [len(LAGS)] sd of ret_k over the training cells
    logit: tuple[float, ...]  # [H] sd of P(up) - 0.5 over the training cells
    best_rule: str  # the rule of RULES with the highest DA on the training cells
    # per lag k of LAGS: +1 if momentum_k beat reversal_k on the training cells, -1 if reversal_k did; a first
    # fold's equal weights give each r_k this sign (unsigned, they would bet on momentum at every lag)
    lag_signs: tuple[float, ...] = (1.0,) * len(LAGS)

    def __post_init__(self):
        H = len(self.lstm)
        for name, shape in (("lstm", (H,)), ("returns", (len(LAGS),)), ("logit", (H,))):
            values = _finite(f"the training-period scale of {name}", getattr(self, name), shape)
            if min(values) <= 0:
                raise CombinationError(f"the training-period scale of {name} must be > 0, got {list(values)}")
            object.__setattr__(self, name, values)
        if self.best_rule not in RULES:
            raise CombinationError(f"unknown rule {self.best_rule!r}; one of {list(RULES)}")
        signs = tuple(float(v) for v in self.lag_signs)
        if len(signs) != len(LAGS) or any(v not in (-1.0, 1.0) for v in signs):
            raise CombinationError(f"lag signs must be {len(LAGS)} values of +1 or -1, got {list(self.lag_signs)}")
        object.__setattr__(self, "lag_signs", signs)

    def matrix(self) -> np.ndarray:
        """[H, S] the scale of each signal at each horizon (SIGNALS order)."""
        H = len(self.lstm)
        r = np.broadcast_to(np.asarray(self.returns)[None, :], (H, len(LAGS)))
        return np.column_stack([self.lstm, r, self.logit])

    def to_json(self) -> dict:
        return {"lstm": list(self.lstm), "returns": list(self.returns), "logit": list(self.logit),
                "best_rule": self.best_rule, "lag_signs": list(self.lag_signs)}


def _rule_da(returns: np.ndarray, y: np.ndarray) -> dict[str, float]:
    """{rule: its DA (`metrics.directional_accuracy`)} on training cells: returns [N, 3] (ret_1, ret_3, ret_7),
    y [N, H] their realised log returns."""
    return {name: metrics.directional_accuracy(y, np.broadcast_to(sign * returns[:, [LAGS.index(k)]], y.shape))
            for name, (k, sign) in RULES.items()}


def best_rule(returns: np.ndarray, y: np.ndarray) -> str:
    """The rule of RULES with the highest DA on training cells (see `_rule_da`); a tie goes to the earlier rule."""
    da = _rule_da(returns, y)
    return max(RULES, key=lambda n: (da[n], -list(RULES).index(n)))


def lag_signs(returns: np.ndarray, y: np.ndarray) -> tuple[float, ...]:
    """Per lag k: -1.0 if reversal_k's DA on the training cells is above momentum_k's, else +1.0."""
    da = _rule_da(returns, y)
    return tuple(-1.0 if da[f"reversal_{k}"] > da[f"momentum_{k}"] else 1.0 for k in LAGS)


def training_facts(returns: np.ndarray, y: np.ndarray, prob_up: np.ndarray) -> dict:
    """What a training period says about the rules and the classifier (`TrainingScales` less the LSTM's scale):
    returns [N, 3] and prob_up [N, H] (the classifier's P(up) on its own training cells) of the training cells,
    y [N, H] their targets."""
    return {"returns": tuple(np.std(returns, axis=0)), "logit": tuple(np.std(prob_up - 0.5, axis=0)),
            "best_rule": best_rule(returns, y), "lag_signs": lag_signs(returns, y)}


def training_scales(returns: np.ndarray, y: np.ndarray, prob_up: np.ndarray, lstm_scale) -> TrainingScales:
    """The `TrainingScales` of a training period (`training_facts`), lstm_scale [H] the ensemble's."""
    return TrainingScales(tuple(lstm_scale), **training_facts(returns, y, prob_up))


def stack_signals(lstm: np.ndarray, returns: np.ndarray, prob_up: np.ndarray) -> np.ndarray:
    """[N, H, S] the signals of N cells in SIGNALS order: lstm [N, H], returns [N, 3], prob_up [N, H]."""
    H = lstm.shape[1]
    r = np.broadcast_to(returns[:, None, :], (len(returns), H, len(LAGS)))  # [N, H, 3]
    return np.concatenate([lstm[:, :, None], r, (prob_up - 0.5)[:, :, None]], axis=2)


def standardise(signals: np.ndarray, scales: TrainingScales) -> np.ndarray:
    """[N, H, S] z = each signal divided by its training-period scale."""
    return signals / scales.matrix()[None, :, :]


def blend_equal(signals: np.ndarray, scales: TrainingScales) -> np.ndarray:
    """[N, H] scale_lstm * (z_lstm + z_rule) / 2, in return units (the rule's z has the rule's sign)."""
    z = standardise(signals, scales)
    k, sign = RULES[scales.best_rule]
    z_rule = sign * z[:, :, SIGNALS.index(f"r_{k}")]
    return np.asarray(scales.lstm)[None, :] * (z[:, :, 0] + z_rule) / 2


@dataclass(frozen=True)
class StackWeights:
    """The stacked combination's weights, per horizon one weight per signal ([H][S], SIGNALS order), and the
    folds whose out-of-sample predictions fitted them (empty: the equal weights of a first fold)."""

    weights: tuple[tuple[float, ...], ...]
    fitted_on: tuple[int, ...] = ()

    def __post_init__(self):
        object.__setattr__(self, "weights", _finite("the stacked weights", self.weights, (HORIZONS, len(SIGNALS))))

    @classmethod
    def equal(cls, lag_signs=(1.0,) * len(LAGS)) -> "StackWeights":
        """1/S on every signal, each r_k with its sign (`TrainingScales.lag_signs`: the training period's better
        direction at lag k)."""
        row = tuple(v / len(SIGNALS) for v in (1.0, *lag_signs, 1.0))  # SIGNALS order: lstm, r_1, r_3, r_7, logit
        return cls(tuple(row for _ in range(HORIZONS)))

    def apply(self, signals: np.ndarray, scales: TrainingScales) -> np.ndarray:
        """[N, H] scale_lstm_h * (w_h . z_h): the combined forecast in return units."""
        z = standardise(signals, scales)  # [N, H, S]
        return np.asarray(scales.lstm)[None, :] * np.einsum("nhs,hs->nh", z, np.asarray(self.weights))

    def to_json(self) -> dict:
        return {"signals": list(SIGNALS), "weights": [list(w) for w in self.weights], "fitted_on": list(self.fitted_on)}

    @classmethod
    def from_json(cls, d) -> "StackWeights":
        """CombinationError on anything but finite weights of the right shape for SIGNALS."""
        if not isinstance(d, dict) or list(d.get("signals") or []) != list(SIGNALS):
            raise CombinationError(f"stored stacked weights name other signals than {list(SIGNALS)}: {d!r}")
        return cls(d.get("weights"), tuple(int(f) for f in d.get("fitted_on", ())))


def fit_stack(z: np.ndarray, y: np.ndarray, lstm_scale: np.ndarray, folds=(), ridge: float = CombinationConfig.ridge
              ) -> StackWeights:
    """Per horizon h, w_h = argmin sum (y_h / scale_lstm_h - w . z_h)^2 + ridge * n * |w|^2 (no intercept) over
    rows z [n, H, S] (standardised signals), y [n, H] realised log returns, lstm_scale [n, H] the LSTM scale each
    row was standardised with; so scale_lstm * (w . z) is the least-squares forecast of y. `folds` labels them."""
    if len(z) == 0:
        raise CombinationError("no out-of-sample rows to fit the stacked weights on")
    target = y / lstm_scale  # [n, H]
    S = z.shape[2]
    w = [np.linalg.solve(z[:, h].T @ z[:, h] + ridge * len(z) * np.eye(S), z[:, h].T @ target[:, h])
         for h in range(z.shape[1])]
    return StackWeights(tuple(tuple(float(v) for v in wh) for wh in w), tuple(int(f) for f in folds))


def nested_weights(z: dict[int, np.ndarray], y: dict[int, np.ndarray], lstm_scale: dict[int, np.ndarray],
                   ridge: float = CombinationConfig.ridge, first: StackWeights | None = None) -> dict[int, StackWeights]:
    """{fold j: the weights that forecast fold j}, fit on the rows of every fold before j only (folds in
    increasing order; the first gets `first`, default `StackWeights.equal()`). z[j] [n_j, H, S], y[j] [n_j, H],
    lstm_scale[j] [H]."""
    out, seen = {}, []
    for j in sorted(z):
        if not seen:
            out[j] = StackWeights.equal() if first is None else first
        else:
            out[j] = fit_stack(np.concatenate([z[i] for i in seen]), np.concatenate([y[i] for i in seen]),
                               np.concatenate([np.broadcast_to(np.asarray(lstm_scale[i])[None, :], y[i].shape)
                                               for i in seen]), seen, ridge)
        seen.append(j)
    return out


def _sorted(df: pd.DataFrame) -> pd.DataFrame:
    return df.sort_values(KEYS, kind="stable").reset_index(drop=True)


def fold_arrays(predictions: pd.DataFrame, signals: pd.DataFrame, scales: dict[int, TrainingScales]
                ) -> tuple[pd.DataFrame, dict[int, tuple[np.ndarray, np.ndarray, np.ndarray]]]:
    """(predictions sorted by KEYS, {fold: (its rows [n_rows] bool, signals [n, H, S], realised y [n, H])}) of a
    walk-forward's ensemble predictions and the signals of the same cells (see `combine_walk_forward`)."""
    p, s = _sorted(predictions), _sorted(signals)
    if not p[KEYS].equals(s[KEYS]):
        raise ValueError("the signals must be of exactly the predictions' cells")
    H = int(p["horizon"].max())
    by_fold = {}
    for j in sorted(p["fold"].unique()):
        rows = (p["fold"] == j).to_numpy()
        if int(j) not in scales:
            raise CombinationError(f"fold {j} has no training-period scales")
        mat = lambda col: p.loc[rows, col].to_numpy().reshape(-1, H)  # noqa: E731  [n_j, H]
        sig = lambda col: s.loc[rows, col].to_numpy().reshape(-1, H)  # noqa: E731
        stacked = stack_signals(mat("pred_log_return"), np.stack([sig(f"r_{k}")[:, 0] for k in LAGS], axis=1),
                                sig("prob_up"))
        by_fold[int(j)] = (rows, stacked, mat("realised_log_return"))
    return p, by_fold


def served_weights(predictions: pd.DataFrame, signals: pd.DataFrame, scales: dict[int, TrainingScales],
                   ridge: float = CombinationConfig.ridge) -> StackWeights:
    """The stacked weights of a model trained after the walk-forward: `final_weights` on every fold's rows."""
    _, by_fold = fold_arrays(predictions, signals, scales)
    return final_weights({j: standardise(v[1], scales[j]) for j, v in by_fold.items()},
                         {j: v[2] for j, v in by_fold.items()}, {j: np.asarray(scales[j].lstm) for j in by_fold}, ridge)


def combine_walk_forward(predictions: pd.DataFrame, signals: pd.DataFrame, scales: dict[int, TrainingScales],
                         method: str, ridge: float = CombinationConfig.ridge) -> tuple[pd.DataFrame, dict]:
    """A combiner's out-of-sample predictions over a walk-forward, in the long format of `predictions` (so
    `walkforward.score` scores them next to every baseline on the same cells), and its per-fold parameters.

    predictions: the ensemble's [fold, coin, as_of, horizon, pred_log_return, realised_log_return];
    signals: [fold, coin, as_of, horizon, r_1, r_3, r_7, prob_up] of the same cells (`combination_round`);
    scales: {fold: its TrainingScales}; method: one of COMBINERS. Returns (predictions sorted by KEYS with the
    combined pred_log_return, {fold: {"scales": ..., "rule" or "weights": ...}})."""
    if method not in COMBINERS:
        raise ValueError(f"unknown combination {method!r}; one of {COMBINERS}")
    p, by_fold = fold_arrays(predictions, signals, scales)
    params = {j: {"scales": scales[j].to_json()} for j in by_fold}
    if method == "stacked":
        weights = nested_weights({j: standardise(v[1], scales[j]) for j, v in by_fold.items()},
                                 {j: v[2] for j, v in by_fold.items()},
                                 {j: np.asarray(scales[j].lstm) for j in by_fold}, ridge,
                                 first=StackWeights.equal(scales[min(by_fold)].lag_signs))
    out = p.copy()
    for j, (rows, stacked, _) in by_fold.items():
        if method == "blend_equal":
            pred = blend_equal(stacked, scales[j])
            params[j]["rule"] = scales[j].best_rule
        else:
            pred = weights[j].apply(stacked, scales[j])
            params[j]["weights"] = weights[j].to_json()
        if not np.isfinite(pred).all():
            raise CombinationError(f"fold {j}: the {method} forecast is not finite")
        out.loc[rows, "pred_log_return"] = pred.reshape(-1)
    return out, params


def _finite_tree(name: str, value) -> None:
    """CombinationError unless every number in the nested lists / dicts `value` is finite."""
    if isinstance(value, dict):
        for k, v in value.items():
            _finite_tree(f"{name}.{k}", v)
    elif isinstance(value, (list, tuple)):
        for i, v in enumerate(value):
            _finite_tree(f"{name}[{i}]", v)
    elif isinstance(value, bool) or value is None or isinstance(value, str):
        return
    elif not np.isfinite(float(value)):
        raise CombinationError(f"{name} is not finite: {value!r}")


@dataclass(frozen=True)
class ServedCombination:
    """What a model that serves a combination carries (the bundle's meta "combination", fitted by the weekly
    gather): the method, the final training period's scales and best rule, the stacked weights (fit on every
    walk-forward fold's out-of-sample rows: the folds all precede the final model's first forecast day) and the
    logistic classifier of the final training period as plain numbers (`baselines.LogisticBaseline.params`)."""

    method: str  # one of COMBINERS
    scales: TrainingScales
    weights: StackWeights | None  # stacked only
    classifier: dict

    def __post_init__(self):
        if self.method not in COMBINERS:
            raise CombinationError(f"unknown combination {self.method!r}; one of {COMBINERS}")
        if self.method == "stacked" and self.weights is None:
            raise CombinationError("a stacked combination without its weights")
        if not isinstance(self.classifier, dict) or not self.classifier.get("horizons"):
            raise CombinationError("the combination's classifier is missing")
        _finite_tree("the classifier", self.classifier)

    def forecast(self, signals: np.ndarray) -> np.ndarray:
        """[N, H] the combined forecast (return units) of the signals [N, H, S] (`stack_signals`)."""
        out = blend_equal(signals, self.scales) if self.method == "blend_equal" else self.weights.apply(signals, self.scales)
        if not np.isfinite(out).all():
            raise CombinationError(f"the {self.method} forecast is not finite")
        return out

    def to_json(self) -> dict:
        return {"method": self.method, "scales": self.scales.to_json(),
                "weights": None if self.weights is None else self.weights.to_json(), "classifier": self.classifier}

    @classmethod
    def from_json(cls, d) -> "ServedCombination":
        """CombinationError on anything missing, malformed or not finite (a corrupted bundle)."""
        if not isinstance(d, dict):
            raise CombinationError(f"no stored combination: {d!r}")
        try:
            sc = d["scales"]
            scales = TrainingScales(sc["lstm"], sc["returns"], sc["logit"], sc["best_rule"],
                                    sc.get("lag_signs", (1.0,) * len(LAGS)))
            weights = None if d.get("weights") is None else StackWeights.from_json(d["weights"])
            return cls(d["method"], scales, weights, d["classifier"])
        except (KeyError, TypeError) as e:
            raise CombinationError(f"the stored combination lacks {e}") from e


def final_weights(z: dict[int, np.ndarray], y: dict[int, np.ndarray], lstm_scale: dict[int, np.ndarray],
                  ridge: float = CombinationConfig.ridge) -> StackWeights:
    """The stacked weights a model trained after every walk-forward fold serves: fit on all of their out-of-sample
    rows (`nested_weights`' arguments; each fold precedes the final model's forecast days)."""
    folds = sorted(z)
    return fit_stack(np.concatenate([z[i] for i in folds]), np.concatenate([y[i] for i in folds]),
                     np.concatenate([np.broadcast_to(np.asarray(lstm_scale[i])[None, :], y[i].shape) for i in folds]),
                     folds, ridge)
