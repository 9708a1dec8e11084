"""Charts from a real PostgreSQL filled with synthetic candles, forecasts and scores."""

from __future__ import annotations

import math
from datetime import timedelta

import numpy as np
import pytest
from dashboard_seed import AS_OF, SWITCH, seed
from PIL import Image

from cryptolstm.ui import charts

COINS = ["BTC", "ETH", "BNB", "XRP", "ADA", "SOL", "DOGE", "LTC", "LINK"]


def _is_real_chart(path) -> bool:
    with Image.open(path) as im:
        px = np.asarray(im.convert("L"), dtype=float)
    return px.std() > 10 and (px < 128).mean() > 0.002  # not blank: lines and text drawn


def test_a_chart_for_every_coin_and_the_live_accuracy(db, tmp_path):
    seed(db)
    paths = charts.render_charts(db, AS_OF, tmp_path / "charts")
    assert [p.name for p in paths] == [f"{c}.png" for c in COINS] + ["live_accuracy.png"]
    for p in paths:
        with Image.open(p) as im:
            assert im.format == "PNG" and im.size[0] >= 700
        assert _is_real_chart(p), p


def test_chart_data_is_point_in_time_and_uses_the_champion_of_the_day(db):
    seed(db)
    day = SWITCH - timedelta(days=3)
    data = charts.load_chart_data(db, day)
    assert data["history"]["day"].max() == day
    assert set(data["forecasts"]["as_of"]) == {day}
    assert set(data["forecasts"]["model_id"]) == {"m1"}  # m2 is not champion yet
    assert data["scored"]["target_day"].max() <= day
    latest = charts.load_chart_data(db, AS_OF)["forecasts"]
    assert set(latest["model_id"]) == {"m2"} and len(latest) == 9 * 5


def test_bands_come_from_each_coins_residuals_and_prices_from_log_returns(db):
    seed(db)
    data = charts.load_chart_data(db, AS_OF)
    s = data["scored"]
    btc = s[(s["coin"] == "BTC") & (s["horizon"] == 1)]
    res = np.sort(np.abs(btc["realised_log_return"] - btc["pred_log_return"]).to_numpy())
    k = math.ceil((len(res) + 1) * charts.COVERAGE)
    q = charts.coin_halfwidths(s, "BTC")
    assert q[1] == pytest.approx(res[k - 1])
    fc = data["forecasts"][data["forecasts"]["coin"] == "BTC"]
    fp = charts.forecast_prices(fc, q)
    base = float(fc["base_close"].iloc[0])
    assert fp["pred_close"].to_numpy() == pytest.approx(base * np.exp(fc.sort_values("horizon")["pred_log_return"]))
    assert (fp["lo"] < fp["pred_close"]).all() and (fp["pred_close"] < fp["hi"]).all()


def test_walk_forward_residuals_can_replace_live_ones(db, tmp_path):
    import pandas as pd

    seed(db)
    data = charts.load_chart_data(db, AS_OF)
    wf = pd.DataFrame({"horizon": np.repeat(np.arange(1, 6), 50), "residual": np.linspace(-0.1, 0.1, 250)})
    out = charts.render_coin_chart(data, "ETH", tmp_path / "eth.png", residuals=wf)
    assert _is_real_chart(out)


def test_empty_database_still_renders_honest_empty_charts(db, tmp_path):
    paths = charts.render_charts(db, AS_OF, tmp_path)
    assert len(paths) == 10 and all(p.stat().st_size > 0 for p in paths)
