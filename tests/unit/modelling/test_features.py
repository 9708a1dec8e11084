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



# The column list each feature version stands for: changing FEATURES without a new FEATURE_VERSION fails here
# (a stored model would silently receive other inputs under the same version).
COLUMNS_OF_VERSION = {
    "f2-2026.11": ["ret_1", "ret_3", "ret_7", "ret_14", "ret_30", "rv_7", "rv_30", "hl_range", "clv", "vol_rel",
                   "rsi_14", "macd", "macd_hist", "dist_ma20", "dow_sin", "dow_cos", "mkt_ret_1", "mkt_ret_7",
                   "xs_ret_1", "xs_ret_7", "xs_rank_7"],
}


def test_the_feature_version_names_the_column_list():
    assert features.FEATURES == COLUMNS_OF_VERSION[features.FEATURE_VERSION]
    assert features.MARKET_COINS == ("BTC", "ETH", "BNB", "XRP", "ADA", "SOL", "DOGE", "LTC", "LINK")


def test_served_coins_features_are_bit_identical_with_and_without_auxiliary_coins():
    served = synthetic_panel(("BTC", "ETH", "SOL"), days=300)
    aux = synthetic_panel(("ATOM", "XMR"), days=300, seed=5, late_start={"XMR": 40})
    aux = aux[~((aux.coin == "XMR") & (aux.day > pd.Timestamp("2020-08-01")))]  # a coin that stops trading
    alone = features.build_features(served)
    mixed = features.build_features(pd.concat([served, aux], ignore_index=True))
    assert set(mixed["coin"]) == {"BTC", "ETH", "SOL", "ATOM", "XMR"}
    mine = mixed[mixed["coin"].isin(["BTC", "ETH", "SOL"])].reset_index(drop=True)
    pd.testing.assert_frame_equal(alone, mine, check_exact=True)
    # the auxiliary rows are measured against the same market (served coins), not against themselves
    day = mixed["day"].max()
    on_day = mixed[mixed["day"] == day].set_index("coin")
    assert on_day.loc["ATOM", "mkt_ret_1"] == on_day.loc["BTC", "mkt_ret_1"]
    assert np.isclose(on_day.loc["BTC", "mkt_ret_1"], np.mean(on_day.loc[["BTC", "ETH", "SOL"], "ret_1"]))
    assert not np.isclose(on_day.loc["BTC", "mkt_ret_1"], np.mean(on_day["ret_1"]))


def test_cross_sectional_features():
    f = features.build_features(synthetic_panel(("BTC", "ETH", "SOL"), days=300))
    day = f[f["day"] == f["day"].max()].set_index("coin")
    assert np.allclose(day["xs_ret_7"], day["ret_7"] - day["mkt_ret_7"])
    assert sorted(day["xs_rank_7"].round(6)) == sorted(np.round([2 * (0.5 / 3) - 1, 2 * (1.5 / 3) - 1,
                                                                 2 * (2.5 / 3) - 1], 6))
    assert day["xs_rank_7"].idxmax() == day["ret_7"].idxmax()


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


def test_a_coins_own_features_do_not_depend_on_the_other_coins_in_the_panel():
    """The per-coin features are computed on one [days, coins] grid: coins that start earlier, stop early or
    have gaps leave NaN cells around this coin's history, which must change none of its bits."""
    own = [c for c in features.FEATURES if not c.startswith(("mkt_", "xs_"))]
    sol = synthetic_panel(("SOL",), days=300, seed=3)
    others = synthetic_panel(("ATOM", "XMR", "DOT"), days=400, seed=9, late_start={"XMR": 150})
    others = others[~((others.coin == "ATOM") & (others.day.between("2020-05-01", "2020-05-03")))]  # a gap
    others = others[~((others.coin == "DOT") & (others.day > pd.Timestamp("2020-06-15")))]  # stops early
    alone = features.build_features(sol)
    among = features.build_features(pd.concat([others, sol], ignore_index=True))
    mine = among[among["coin"] == "SOL"].reset_index(drop=True)
    assert len(alone) > 100 and mine[["day"] + own].equals(alone[["day"] + own])
