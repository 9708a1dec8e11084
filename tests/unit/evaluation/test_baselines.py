"""Baselines: the same fit/predict shape as the LSTM; sign rules do what their names say."""

import numpy as np
import pandas as pd

from cryptolstm.evaluation import baselines

from cryptolstm.modelling import features
from modelling_helpers import synthetic_panel


def _frame(n=6):
    X = pd.DataFrame({f: np.zeros(n) for f in features.FEATURES})
    X["ret_1"] = [0.1, -0.1, 0.2, -0.2, 0.0, 0.3][:n]
    X["ret_3"] = -X["ret_1"]
    X.insert(0, "day", pd.date_range("2024-01-01", periods=n))
    X.insert(0, "coin", ["BTC", "ETH"] * (n // 2))
    return X


def test_random_walk_and_always_up():
    X, y = _frame(), np.full((6, 5), 0.01)
    assert (baselines.RandomWalk().fit(X, y).predict(X) == 0).all()
    up = baselines.AlwaysUp().fit(X, y).predict(X)
    assert up.shape == (6, 5) and (up > 0).all()


def test_momentum_and_reversal_follow_the_sign_of_the_last_k_days():
    X, y = _frame(), np.full((6, 5), 0.02)
    mom = baselines.Momentum(1).fit(X, y).predict(X)
    rev = baselines.Reversal(1).fit(X, y).predict(X)
    assert (np.sign(mom[:, 0]) == np.sign(X["ret_1"])).all()
    assert (np.sign(rev[:, 0]) == -np.sign(X["ret_1"])).all()
    assert (np.sign(baselines.Momentum(3).fit(X, y).predict(X)[:, 2]) == np.sign(X["ret_3"])).all()
    assert baselines.Reversal(3).name == "reversal_3"


def test_sklearn_baselines_fit_on_real_features():
    f = features.build_features(synthetic_panel())
    rng = np.random.default_rng(0)
    w = rng.normal(size=len(features.FEATURES))
    y = np.column_stack([f[features.FEATURES].to_numpy() @ w * 0.01 * h for h in range(1, 6)])
    for b in (baselines.RidgeBaseline(), baselines.GradientBoostingBaseline(max_iter=30)):
        pred = b.fit(f, y).predict(f)
        assert pred.shape == (len(f), 5)
        assert np.corrcoef(pred[:, 0], y[:, 0])[0, 1] > 0.5  # they learn a learnable signal


def test_default_set_has_every_required_kind():
    names = [b.name for b in baselines.default_baselines()]
    assert {"random_walk", "always_up", "ridge", "gbm", "logit", "gbm_clf"} <= set(names)
    assert sum(n.startswith("momentum_") for n in names) >= 2
    assert sum(n.startswith("reversal_") for n in names) >= 2


def test_sign_classifiers_learn_a_sign_and_predict_probability_minus_half():
    f = features.build_features(synthetic_panel())
    rng = np.random.default_rng(1)
    signal = np.sign(f["ret_1"].to_numpy())  # next move continues yesterday's sign, with noise
    y = np.column_stack([0.01 * h * (signal + rng.normal(0, 0.5, len(f))) for h in range(1, 6)])
    for b in (baselines.LogisticBaseline(), baselines.GradientBoostingClassifierBaseline(max_iter=30)):
        b.fit(f, y)
        p_up, pred = b.prob_up(f), b.predict(f)
        assert pred.shape == (len(f), 5) and ((p_up >= 0) & (p_up <= 1)).all()
        # signed prediction = (P(up) - 0.5) x mean |y_h|: same sign as P(up) - 1/2, return-sized
        np.testing.assert_allclose(pred, (p_up - 0.5) * np.mean(np.abs(y), axis=0))
        assert np.mean(np.sign(pred[:, 0]) == np.sign(y[:, 0])) > 0.75
