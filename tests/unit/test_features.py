"""Features: trailing-only formulas, warm-up dropped, gaps never filled."""

import numpy as np
import pandas as pd

from cryptolstm.modelling import features

from cryptolstm.market import panel
from modelling_helpers import synthetic_panel


def test_columns_and_no_missing_values():
    f = features.build_features(synthetic_panel())
    assert list(f.columns) == ["coin", "day"] + features.FEATURES
    assert np.isfinite(f[features.FEATURES].to_numpy()).all()
    assert isinstance(features.FEATURE_VERSION, str) and features.FEATURE_VERSION


def test_warm_up_rows_are_dropped_not_filled():
    p = synthetic_panel()
    f = features.build_features(p)
    for coin, g in f.groupby("coin"):
        first_candle = p.loc[p.coin == coin, "day"].min()
        assert g["day"].min() == first_candle + pd.Timedelta(days=features.WARMUP_DAYS - 1)


def test_return_features_match_their_formula():
    p = synthetic_panel()
    f = features.build_features(p).set_index(["coin", "day"])
    c = p.set_index(["coin", "day"])["close"]
    key = ("ETH", pd.Timestamp("2020-09-01"))
    for k in features.RETURN_LAGS:
        prev = ("ETH", key[1] - pd.Timedelta(days=k))
        assert np.isclose(f.loc[key, f"ret_{k}"], np.log(c[key] / c[prev]))
    day_ret = np.log(c.loc["ETH"]).diff()
    window = day_ret.loc[key[1] - pd.Timedelta(days=6): key[1]]
    assert np.isclose(f.loc[key, "rv_7"], window.std())


def test_a_gap_invalidates_rows_instead_of_filling():
    p = synthetic_panel(coins=("BTC",), days=300)
    gap_day = pd.Timestamp("2020-07-01")
    f = features.build_features(p[p.day != gap_day])
    days = set(f["day"])
    assert gap_day not in days
    # the 30-day windows that contain the gap are invalid too
    assert gap_day + pd.Timedelta(days=10) not in days
    assert gap_day + pd.Timedelta(days=31) in days


def test_volume_is_relative_to_the_coins_own_trailing_mean():
    p = synthetic_panel(coins=("BTC",), days=200)
    q = p.assign(volume=p.volume * 1e6)  # different volume units leave the feature unchanged
    a, b = features.build_features(p), features.build_features(q)
    np.testing.assert_allclose(a["vol_rel"], b["vol_rel"], rtol=1e-9, atol=1e-9)


def test_real_data_loads_and_builds(shared_data):
    p = panel.load_csv_dir(shared_data, coins=("BTC", "SOL"))
    assert p["day"].max() == pd.Timestamp("2025-02-20")
    f = features.build_features(p)
    assert set(f["coin"]) == {"BTC", "SOL"} and np.isfinite(f[features.FEATURES].to_numpy()).all()
