"""The canonical candle frame from CSV files."""

import pandas as pd
import pytest

from cryptolstm.config import AUX_COINS, DEFAULT_COINS
from cryptolstm.market import panel
from modelling_helpers import synthetic_panel


def test_load_csv_dir_round_trip(tmp_path):
    p = synthetic_panel(("BTC", "ETH"), days=30)
    for coin, g in p.groupby("coin"):
        g.drop(columns="coin").rename(columns={"day": "date"}).assign(date=lambda d: d.date.dt.strftime("%Y-%m-%d")) \
            .to_csv(tmp_path / f"{coin}USDT.csv", index=False)
    q = panel.load_csv_dir(tmp_path)
    assert list(q.columns) == panel.COLUMNS
    pd.testing.assert_frame_equal(q, panel.normalise(p))
    assert set(panel.load_csv_dir(tmp_path, coins=("ETH",))["coin"]) == {"ETH"}


def test_normalise_rejects_bad_frames():
    p = synthetic_panel(("BTC",), days=10)
    with pytest.raises(ValueError):
        panel.normalise(pd.concat([p, p.iloc[:1]]))
    with pytest.raises(ValueError):
        panel.normalise(p.assign(close=-1.0))
    with pytest.raises(ValueError):
        panel.normalise(p.drop(columns="volume"))


def test_coin_index_matches_the_sql_seed():
    ids = panel.coin_index()
    assert {c: ids[c] for c in DEFAULT_COINS} == {"BTC": 0, "ETH": 1, "BNB": 2, "XRP": 3, "ADA": 4, "SOL": 5,
                                                   "DOGE": 6, "LTC": 7, "LINK": 8}
    # auxiliary coins follow the served ones, so adding them moved no served coin's id
    assert [c for c, _ in sorted(ids.items(), key=lambda kv: kv[1])][9:] == list(AUX_COINS)
    assert sorted(ids.values()) == list(range(20))


def test_until_is_inclusive():
    p = synthetic_panel(("BTC",), days=10)
    assert panel.until(p, "2020-01-05")["day"].max() == pd.Timestamp("2020-01-05")
