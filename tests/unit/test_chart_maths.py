"""Pure chart maths: conformal half-widths, price paths from log returns, rolling live accuracy."""

from __future__ import annotations

import math
from datetime import date, timedelta

import numpy as np
import pandas as pd
import pytest

from cryptolstm.ui import charts


def test_conformal_halfwidth_is_the_finite_sample_quantile_of_abs_residuals():
    # |e| = 1..10 for h=1: k = ceil(11 * 0.8) = 9 -> q = 9; h=2 has 3 residuals < min_count -> NaN
    res = pd.DataFrame({"horizon": [1] * 10 + [2] * 3,
                        "residual": [-1, 2, -3, 4, -5, 6, -7, 8, -9, 10, 0.1, 0.2, 0.3]})
    q = charts.conformal_halfwidths(res, coverage=0.8, min_count=5)
    assert q[1] == 9.0
    assert math.isnan(q[2])


def test_conformal_halfwidth_covers_the_requested_share_on_fresh_draws():
    rng = np.random.default_rng(0)
    cal = pd.DataFrame({"horizon": 1, "residual": rng.normal(0, 0.05, 2000)})
    q = charts.conformal_halfwidths(cal, coverage=0.9)[1]
    fresh = rng.normal(0, 0.05, 20000)
    assert abs(np.mean(np.abs(fresh) <= q) - 0.9) < 0.02


def test_conformal_rejects_bad_input():
    with pytest.raises(ValueError):
        charts.conformal_halfwidths(pd.DataFrame({"horizon": [1]}), 0.8)
    with pytest.raises(ValueError):
        charts.conformal_halfwidths(pd.DataFrame({"horizon": [1], "residual": [0.1]}), 1.5)


def test_forecast_prices_convert_log_returns_and_bands():
    d = date(2024, 1, 1)
    fc = pd.DataFrame({"horizon": [2, 1], "target_day": [d + timedelta(2), d + timedelta(1)],
                       "base_close": [100.0, 100.0], "pred_log_return": [0.02, -0.01]})
    out = charts.forecast_prices(fc, pd.Series({1: 0.05, 2: 0.1}))
    assert list(out["horizon"]) == [1, 2]
    assert out["pred_close"].tolist() == pytest.approx([100 * math.exp(-0.01), 100 * math.exp(0.02)])
    assert out["lo"].tolist() == pytest.approx([100 * math.exp(-0.06), 100 * math.exp(-0.08)])
    assert out["hi"].tolist() == pytest.approx([100 * math.exp(0.04), 100 * math.exp(0.12)])
    assert out["lo"].isna().all() == False  # noqa: E712
    assert charts.forecast_prices(fc, None)["lo"].isna().all()


def test_rolling_live_accuracy_by_hand():
    d = date(2024, 1, 1)
    scored = pd.DataFrame({
        "target_day": [d, d, d + timedelta(1), d + timedelta(3)],
        "pred_log_return": [0.01, -0.02, 0.03, 0.01],
        "realised_log_return": [0.02, 0.01, 0.0, -0.04],
    })
    acc = charts.rolling_live_accuracy(scored, window=2)
    assert list(acc.index.date) == [d + timedelta(i) for i in range(4)]
    # day 0: hits = [True, False] -> 0.5; up = 2/2; mae = (0.01 + 0.03) / 2; rw = (0.02 + 0.01) / 2
    assert acc.loc[pd.Timestamp(d), ["da", "da_up", "n"]].tolist() == pytest.approx([0.5, 1.0, 2])
    assert acc.loc[pd.Timestamp(d), "mae"] == pytest.approx(0.02)
    assert acc.loc[pd.Timestamp(d), "mae_rw"] == pytest.approx(0.015)
    # day 1 window = days 0..1: the r == 0 forecast counts for MAE, not for DA
    assert acc.iloc[1][["da", "n"]].tolist() == pytest.approx([0.5, 3])
    assert acc.iloc[1]["mae_rw"] == pytest.approx(0.01)
    # day 2: only day 1 (r == 0) in the window -> DA undefined
    assert math.isnan(acc.iloc[2]["da"]) and acc.iloc[2]["n"] == 1
    # day 3: one miss, realised down
    assert acc.iloc[3][["da", "da_up"]].tolist() == [0.0, 0.0]


def test_plots_write_png_bytes(tmp_path):
    import io

    buf = io.BytesIO()
    charts.plot_live_accuracy(charts.rolling_live_accuracy(pd.DataFrame(
        columns=["target_day", "pred_log_return", "realised_log_return"])), buf)
    assert buf.getvalue()[:8] == b"\x89PNG\r\n\x1a\n"
