"""The synthetic universe of the scale benchmark: shifted and rescaled real returns, valid candles, no copies."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from cryptolstm.bench import universe as uni
from cryptolstm.config import DEFAULT_COINS
from cryptolstm.market.panel import load_csv_dir


@pytest.fixture(scope="module")
def real(shared_data):
    return pd.concat([load_csv_dir(shared_data), load_csv_dir(shared_data.parent / "binance-1d-more")],
                     ignore_index=True)


def _returns(panel: pd.DataFrame, coin: str) -> pd.Series:
    g = panel[panel["coin"] == coin].set_index("day")["close"]
    return np.log(g).diff().dropna()


def test_small_universes_are_the_real_coins(real):
    nine, r9 = uni.universe(real, 9, DEFAULT_COINS)
    assert r9 == [] and tuple(sorted(nine["coin"].unique())) == tuple(sorted(DEFAULT_COINS))
    twenty, _ = uni.universe(real, 20, DEFAULT_COINS)
    assert twenty["coin"].nunique() == 20


def test_synthetic_coin_is_its_base_shifted_and_rescaled(real):
    panel, recipes = uni.universe(real, 60, DEFAULT_COINS)
    assert panel["coin"].nunique() == 60 and len(recipes) == 40
    last = panel["day"].max()
    for r in recipes[:40:7]:
        syn, base = _returns(panel, r.coin), _returns(real, r.base)
        shifted = base.copy()
        shifted.index = shifted.index + pd.Timedelta(days=r.shift)
        both = syn.index.intersection(shifted.index)
        assert len(both) > 500
        # gaps in the base stay gaps (same days, shifted); elsewhere the return is the base's times the scale
        np.testing.assert_allclose(syn[both].to_numpy(), r.scale * shifted[both].to_numpy(), rtol=1e-9, atol=1e-12)
        assert r.shift >= 10 and abs(r.scale - 1) >= 0.05
        assert panel[panel["coin"] == r.coin]["day"].max() == last  # trades on the forecast day


def test_candles_are_valid_and_no_coin_copies_another(real):
    panel, recipes = uni.universe(real, 120, DEFAULT_COINS)
    p = panel
    assert (p["high"] >= p[["open", "close"]].max(axis=1) * (1 - 1e-12)).all()
    assert (p["low"] <= p[["open", "close"]].min(axis=1) * (1 + 1e-12)).all()
    assert len({(r.base, r.shift, round(r.scale, 12)) for r in recipes}) == len(recipes)
    wide = np.log(p.pivot(index="day", columns="coin", values="close")).diff()
    # on shared days, no two coins have the same returns (a copy would correlate 1 at lag 0)
    corr = wide.corr(min_periods=200).to_numpy().copy()
    np.fill_diagonal(corr, np.nan)
    assert np.nanmax(corr) < 0.999


def test_the_900_coin_universe_can_be_built(real):
    rs = uni.recipes(sorted(real["coin"].unique())[:18], 880)
    assert max(r.shift for r in rs) <= 400 and len({(r.base, r.shift) for r in rs}) == 880


def test_deterministic_and_round_trips_through_csv(real, tmp_path):
    a, _ = uni.universe(real, 40, DEFAULT_COINS, seed=3)
    b, _ = uni.universe(real, 40, DEFAULT_COINS, seed=3)
    pd.testing.assert_frame_equal(a, b)
    uni.write_csv_dir(a, tmp_path)
    back = load_csv_dir(tmp_path)
    assert back["coin"].nunique() == 40 and len(back) == len(a)
    np.testing.assert_allclose(back["close"].to_numpy(), a["close"].to_numpy(), rtol=1e-11)
