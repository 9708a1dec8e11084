"""Naive and classical baselines with the same fit/predict shape as the LSTM, scored on the same cells.

X is the feature frame at the as-of days ([coin, day, *features.FEATURES], one row per cell) and
y the [N, 5] realised log returns of the training cells. `predict(X)` returns [N, 5].

Sign baselines (always-up, momentum, reversal) are meant to be judged by directional accuracy; their
magnitude is a small training-fold constant (10 % of the mean |y_h|) so their MAE stays near the
random walk's and is not an artefact of an arbitrary scale.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from cryptolstm.config import HORIZONS as H
from cryptolstm.modelling.features import FEATURES


def _one_thread():
    """Run sklearn's OpenMP code on one thread: on a CPU shared with other jobs (Airflow workers, TensorFlow),
    HistGradientBoosting's spinning threads made one fit 6x slower (measured: 40 s vs 6 s on 20k x 40)."""
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=1, user_api="openmp")


class RandomWalk:
    """p = 0 for every horizon (no change in price)."""

    name = "random_walk"

    def fit(self, X: pd.DataFrame, y: np.ndarray) -> "RandomWalk":
        return self

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        return np.zeros((len(X), H))


class _SignRule:
    name = "sign_rule"

    def fit(self, X: pd.DataFrame, y: np.ndarray) -> "_SignRule":
        self.size_ = 0.1 * np.mean(np.abs(np.asarray(y)), axis=0)  # [H]
        return self

    def direction(self, X: pd.DataFrame) -> np.ndarray:  # [N] in {-1, 0, 1}
        raise NotImplementedError

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        return self.direction(X)[:, None] * self.size_[None, :]


class AlwaysUp(_SignRule):
    """p_h = +c_h: always calls 'up' (crypto's long-run drift)."""

    name = "always_up"

    def direction(self, X):
        return np.ones(len(X))


class Momentum(_SignRule):
    """p_h = sign(log(close_t / close_{t-k})) * c_h: the last k days' move continues."""

    def __init__(self, k: int):
        self.k, self.name = k, f"momentum_{k}"

    def direction(self, X):
        return np.sign(X[f"ret_{self.k}"].to_numpy())


class Reversal(Momentum):
    """p_h = -sign(log(close_t / close_{t-k})) * c_h: the last k days' move reverts."""

    def __init__(self, k: int):
        super().__init__(k)
        self.name = f"reversal_{k}"

    def direction(self, X):
        return -super().direction(X)


def _design(X: pd.DataFrame, n_coins: int, coin_ids: dict[str, int]) -> np.ndarray:
    """[N, F + C]: the features plus a one-hot coin id (the non-deep analogue of the embedding)."""
    onehot = np.zeros((len(X), n_coins))
    ids = X["coin"].map(coin_ids).fillna(-1).astype(int).to_numpy()
    onehot[ids >= 0, ids[ids >= 0]] = 1.0
    return np.hstack([X[FEATURES].to_numpy(), onehot])


class RidgeBaseline:
    """Multi-output ridge regression on robust-scaled features + coin one-hot (scaler fit on the training rows)."""

    name = "ridge"

    def __init__(self, alpha: float = 10.0):
        self.alpha = alpha

    def fit(self, X: pd.DataFrame, y: np.ndarray) -> "RidgeBaseline":
        from sklearn.linear_model import Ridge
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import RobustScaler

        self.coins_ = {c: i for i, c in enumerate(sorted(X["coin"].unique()))}
        self.model_ = make_pipeline(RobustScaler(), Ridge(alpha=self.alpha))
        self.model_.fit(_design(X, len(self.coins_), self.coins_), y)
        return self

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        return self.model_.predict(_design(X, len(self.coins_), self.coins_))


class GradientBoostingBaseline:
    """One HistGradientBoostingRegressor per horizon on the features + coin id (no random early-stopping
    split: sklearn's would shuffle across time)."""

    name = "gbm"

    def __init__(self, max_iter: int = 150, learning_rate: float = 0.05, seed: int = 0):
        self.max_iter, self.learning_rate, self.seed = max_iter, learning_rate, seed

    def fit(self, X: pd.DataFrame, y: np.ndarray) -> "GradientBoostingBaseline":
        from sklearn.ensemble import HistGradientBoostingRegressor

        self.coins_ = {c: i for i, c in enumerate(sorted(X["coin"].unique()))}
        d = _design(X, len(self.coins_), self.coins_)
        with _one_thread():
            self.models_ = [HistGradientBoostingRegressor(
                max_iter=self.max_iter, learning_rate=self.learning_rate, max_leaf_nodes=15, min_samples_leaf=100,
                l2_regularization=1.0, early_stopping=False, random_state=self.seed).fit(d, y[:, h]) for h in range(H)]
        return self

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        d = _design(X, len(self.coins_), self.coins_)
        with _one_thread():
            return np.column_stack([m.predict(d) for m in self.models_])


class _SignClassifier:
    """One classifier per horizon on sign(y): label 1 if y_h > 0. Its signed prediction is the PROBABILITY
    MINUS 0.5 (not the log-odds), times the training fold's mean |y_h| so the MAE column stays in return
    units: the sign is that of P(up) - 1/2, which is all DA scores."""

    name = "sign_classifier"

    def _make(self):
        raise NotImplementedError

    def _design(self, X: pd.DataFrame) -> np.ndarray:
        return _design(X, len(self.coins_), self.coins_)

    def fit(self, X: pd.DataFrame, y: np.ndarray) -> "_SignClassifier":
        y = np.asarray(y, dtype=np.float64)
        self.coins_ = {c: i for i, c in enumerate(sorted(X["coin"].unique()))}
        self.size_ = np.mean(np.abs(y), axis=0)  # [H]
        d = self._design(X)
        with _one_thread():
            self.models_ = [self._make().fit(d, (y[:, h] > 0).astype(int)) for h in range(H)]
        return self

    def prob_up(self, X: pd.DataFrame) -> np.ndarray:
        """[N, H] P(y_h > 0)."""
        d = self._design(X)
        with _one_thread():
            return np.column_stack([m.predict_proba(d)[:, list(m.classes_).index(1)] for m in self.models_])

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        return (self.prob_up(X) - 0.5) * self.size_[None, :]


class LogisticBaseline(_SignClassifier):
    """L2-regularised logistic regression on sign(y_h), one per horizon: robust-scaled features clipped to
    +-clip (scaler fit on the training rows), plus the coin one-hot."""

    name = "logit"

    def __init__(self, C: float = 1.0, clip: float = 4.0):
        self.C, self.clip = C, clip

    def _make(self):
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import FunctionTransformer, RobustScaler

        clip = self.clip
        return make_pipeline(RobustScaler(), FunctionTransformer(lambda z: np.clip(z, -clip, clip)),
                             LogisticRegression(C=self.C, max_iter=500))


    def params(self) -> dict:
        """The fitted classifier as plain numbers (JSON), what a model bundle stores instead of a pickle (a bundle
        is untrusted input): the coin ids, the clip, and per horizon the robust scaler's center and scale, the
        coefficients and the intercept of P(y_h > 0). `prob_up_of(params, X)` predicts from them."""
        horizons = []
        for m in self.models_:
            scaler, lr = m.named_steps["robustscaler"], m.named_steps["logisticregression"]
            if list(lr.classes_) != [0, 1]:
                raise ValueError(f"the classifier saw only the classes {list(lr.classes_)}: it cannot be stored")
            horizons.append({"center": scaler.center_.tolist(), "scale": scaler.scale_.tolist(),
                             "coef": lr.coef_[0].tolist(), "intercept": float(lr.intercept_[0])})
        return {"coins": dict(self.coins_), "clip": float(self.clip), "horizons": horizons}


def prob_up_of(params: dict, X: pd.DataFrame) -> np.ndarray:
    """[N, H] P(y_h > 0) of a stored `LogisticBaseline.params` on the feature rows X (what `prob_up` gives, to
    rounding): p = 1 / (1 + exp(-(clip((x - center) / scale) . coef + intercept)))."""
    d = _design(X, len(params["coins"]), params["coins"])  # [N, F + C]
    out = []
    for hp in params["horizons"]:
        z = np.clip((d - np.asarray(hp["center"])) / np.asarray(hp["scale"]), -params["clip"], params["clip"])
        out.append(1.0 / (1.0 + np.exp(-(z @ np.asarray(hp["coef"]) + hp["intercept"]))))
    return np.column_stack(out)


class GradientBoostingClassifierBaseline(_SignClassifier):
    """One HistGradientBoostingClassifier per horizon on sign(y_h), features + coin id (no early-stopping
    split: sklearn's would shuffle across time)."""

    name = "gbm_clf"

    def __init__(self, max_iter: int = 150, learning_rate: float = 0.05, seed: int = 0):
        self.max_iter, self.learning_rate, self.seed = max_iter, learning_rate, seed

    def _make(self):
        from sklearn.ensemble import HistGradientBoostingClassifier

        return HistGradientBoostingClassifier(max_iter=self.max_iter, learning_rate=self.learning_rate,
                                              max_leaf_nodes=15, min_samples_leaf=100, l2_regularization=1.0,
                                              early_stopping=False, random_state=self.seed)


def naive_baselines() -> list:
    """The rules without fitting (cheap): what the weekly promotion gate compares a first model with."""
    return [RandomWalk(), AlwaysUp()] + [Momentum(k) for k in (1, 3, 7)] + [Reversal(k) for k in (1, 3, 7)]


def default_baselines() -> list:
    """The baseline set printed next to every LSTM result: naive rules, two regressors, two sign classifiers."""
    return ([RandomWalk(), AlwaysUp()] + [Momentum(k) for k in (1, 3, 7)] + [Reversal(k) for k in (1, 3, 7)]
            + [RidgeBaseline(), GradientBoostingBaseline(), LogisticBaseline(), GradientBoostingClassifierBaseline()])


def challenger_baselines() -> list:
    """The weekly challenger's set: every naive rule (the first-model gate needs them all) and both sign
    classifiers (the regressors are left to `cryptolstm evaluate`; they never beat the classifiers and cost
    as much)."""
    return naive_baselines() + [LogisticBaseline(), GradientBoostingClassifierBaseline()]
