"""The scaler: robust, fit on what it is given (the training fold) only, exact round trip."""

import json

import numpy as np
import pytest

from cryptolstm.modelling.scaling import RobustScaler


def test_median_iqr_and_clip():
    rng = np.random.default_rng(0)
    x = rng.normal(3.0, 2.0, size=(5000, 2))
    x[0, 0] = 1e6  # one crash day barely moves a robust scaler
    y = rng.normal(0, 0.05, size=(5000, 5))
    s = RobustScaler.fit(x, y)
    z = s.transform(x)
    assert z.dtype == np.float32
    assert abs(np.median(z[:, 1])) < 0.05
    assert z[0, 0] == s.clip
    assert np.allclose(s.target_scale, 0.05, rtol=0.1)


def test_targets_are_scaled_without_centring_so_signs_survive():
    y = np.array([[0.01, -0.02, 0.0, 0.03, -0.04]] * 10)
    s = RobustScaler.fit(np.ones((10, 1)) * np.arange(10)[:, None], y)
    assert (np.sign(s.scale_targets(y)) == np.sign(y)).all()
    np.testing.assert_allclose(s.unscale_targets(s.scale_targets(y)), y, rtol=1e-6)


def test_fitting_on_training_rows_ignores_later_rows():
    rng = np.random.default_rng(1)
    train, later = rng.normal(size=(300, 3)), rng.normal(50, 9, size=(100, 3))
    y = rng.normal(size=(300, 5))
    a = RobustScaler.fit(train, y)
    assert np.array_equal(a.transform(later), RobustScaler.fit(train.copy(), y.copy()).transform(later))


def test_round_trip_through_json_is_bit_exact():
    rng = np.random.default_rng(2)
    s = RobustScaler.fit(rng.normal(size=(100, 4)), rng.normal(size=(100, 5)))
    t = RobustScaler.from_dict(json.loads(json.dumps(s.to_dict())))
    x = rng.normal(size=(7, 4))
    assert np.array_equal(s.transform(x), t.transform(x))
    assert np.array_equal(s.target_scale, t.target_scale)


def test_refuses_empty_or_non_finite_training_rows():
    with pytest.raises(ValueError):
        RobustScaler.fit(np.empty((0, 3)), np.ones((1, 5)))
    with pytest.raises(ValueError):
        RobustScaler.fit(np.array([[np.nan, 1.0]]), np.ones((1, 5)))
