"""Input drift: windows like the training ones are rarely flagged, shifted or rescaled ones are, a NaN or
infinite feature is always flagged with its name, and the description round-trips exactly."""

from __future__ import annotations

import json

import numpy as np
import pytest

from cryptolstm.modelling import drift
from cryptolstm.modelling.windows import gather_windows

T, F, C, D = 20, 5, 3, 1000
NAMES = [f"f{i}" for i in range(F)]


def _series(seed=0):
    """[C, D, F] AR(1) features, stationary, unit variance."""
    rng = np.random.default_rng(seed)
    x = np.zeros((C, D, F))
    e = rng.normal(size=(C, D, F))
    for d in range(1, D):
        x[:, d] = 0.7 * x[:, d - 1] + np.sqrt(1 - 0.49) * e[:, d]
    return x


def _cells(first, last):
    c, t = np.meshgrid(np.arange(C), np.arange(first, last + 1), indexing="ij")
    return c.ravel(), t.ravel()


def _describe(x, last_train=799):
    coin, t = _cells(T - 1, last_train)
    return drift.describe(gather_windows(x, coin, t, T), coin, t, x[:, :last_train + 1].reshape(-1, F), NAMES, 6.0)


def test_unseen_windows_like_the_training_ones_are_rarely_flagged():
    x = _series()
    desc = _describe(x)
    coin, t = _cells(800 + T, D - 1)  # after the training days, windows not overlapping them
    a = desc.assess(gather_windows(x, coin, t, T))
    assert np.isfinite(a.distance).all()
    assert a.drifted.mean() < 0.05  # threshold = 99th percentile of the training windows' own DI
    assert all((c is None) == (not f) for c, f in zip(a.cause, a.drifted))


@pytest.mark.parametrize("change", [lambda w: w + 3.0, lambda w: w * 3.0, lambda w: w - 2.0])
def test_shifted_or_scaled_windows_are_flagged(change):
    x = _series()
    desc = _describe(x)
    coin, t = _cells(800 + T, D - 1)
    a = desc.assess(change(gather_windows(x, coin, t, T)))
    assert a.drifted.mean() > 0.95
    assert all(c.startswith("distance ") for c, f in zip(a.cause, a.drifted) if f)


def test_one_drifted_feature_is_named():
    x = _series()
    desc = _describe(x)
    w = gather_windows(x, *_cells(900, 900), T)
    w[:, :, 2] += 8.0  # beyond the training range of f2 only
    a = desc.assess(w)
    assert a.drifted.all() and all("outside the training range: f2" in c for c in a.cause)


def test_non_finite_features_are_flagged_never_not_drifted():
    x = _series()
    desc = _describe(x)
    w = gather_windows(x, *_cells(900, 900), T)  # [3, T, F]
    w[0, 5, 1] = np.nan
    w[1, -1, 3] = np.inf
    a = desc.assess(w)
    assert a.drifted[:2].all() and np.isnan(a.distance[:2]).all()
    assert a.cause[0] == "non-finite feature(s): f1" and a.cause[1] == "non-finite feature(s): f3"
    assert np.isfinite(a.distance[2])


def test_the_threshold_comes_from_training_data_alone_and_the_description_round_trips():
    x = _series()
    desc = _describe(x)
    y = x.copy()
    y[:, 800:] += 5.0  # whatever happens after the training days changes nothing
    again = _describe(y)
    assert again.threshold == desc.threshold and np.array_equal(again.reference, desc.reference)
    back = drift.TrainingDescription.from_dict(json.loads(json.dumps(desc.to_dict())))
    assert np.array_equal(back.reference, desc.reference) and np.array_equal(back.quantiles, desc.quantiles)
    assert back.summary() == desc.summary()
    w = gather_windows(x, *_cells(900, 950), T)
    assert np.array_equal(back.assess(w).distance, desc.assess(w).distance)
    s = desc.summary()
    assert "reference" not in s and s["n_reference"] == 256 and s["threshold"] > 0 and len(json.dumps(s)) < 5000
    assert desc.quantiles.shape == (len(drift.QUANTILE_LEVELS), F)


def test_input_checks():
    x = _series()
    coin, t = _cells(T - 1, 30)
    w = gather_windows(x, coin, t, T)
    with pytest.raises(ValueError, match="finite"):
        bad = w.copy()
        bad[0, 0, 0] = np.nan
        drift.describe(bad, coin, t, x[0], NAMES, 6.0)
    with pytest.raises(ValueError, match="too few"):
        drift.describe(w[:5], coin[:5], t[:5], x[0], NAMES, 6.0)
    with pytest.raises(ValueError, match=r"\[N, T, 5\]"):
        _describe(x).assess(w[:, :, :4])
    assert np.array_equal(drift.sample(10, size=4), np.sort(drift.sample(10, size=4)))
    assert len(drift.sample(10, size=40)) == 10
