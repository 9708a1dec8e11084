"""Charts from a real PostgreSQL filled with synthetic candles, forecasts and scores."""

from __future__ import annotations

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


def test_the_fan_is_the_stored_ranges_not_a_recomputation(db, tmp_path):
    seed(db)
    data = charts.load_chart_data(db, AS_OF)
    fc = data["forecasts"][data["forecasts"]["coin"] == "BTC"].sort_values("horizon")
    fp = charts.forecast_prices(fc)
    for L in ("80", "95"):
        assert fp[f"lo{L}"].tolist() == fc[f"lo{L}_close"].tolist()
        assert fp[f"hi{L}"].tolist() == fc[f"hi{L}_close"].tolist()
    assert (fp["lo95"] < fp["lo80"]).all() and (fp["lo80"] < fp["pred_close"]).all()
    assert (fp["pred_close"] < fp["hi80"]).all() and (fp["hi80"] < fp["hi95"]).all()
    base = float(fc["base_close"].iloc[0])
    assert fp["pred_close"].to_numpy() == pytest.approx(base * np.exp(fc["pred_log_return"].to_numpy()))
    assert _is_real_chart(charts.render_coin_chart(data, "BTC", tmp_path / "btc.png"))


def test_empty_database_still_renders_honest_empty_charts(db, tmp_path):
    paths = charts.render_charts(db, AS_OF, tmp_path)
    assert len(paths) == 10 and all(p.stat().st_size > 0 for p in paths)
