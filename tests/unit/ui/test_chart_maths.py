"""Pure chart maths: price paths with their stored ranges, rolling live accuracy."""

from __future__ import annotations

import math
from datetime import date, timedelta

import numpy as np
import pandas as pd
import pytest

from cryptolstm.ui import charts


def test_forecast_prices_take_the_stored_ranges_as_they_are():
    d = date(2024, 1, 1)
    fc = pd.DataFrame({"horizon": [2, 1], "target_day": [d + timedelta(2), d + timedelta(1)],
                       "pred_close": [102.0, 99.0], "lo80_close": [95.0, 97.0], "hi80_close": [108.0, 101.0],
                       "lo95_close": [90.0, 95.5], "hi95_close": [113.0, 103.0]})
    out = charts.forecast_prices(fc)
    assert list(out["horizon"]) == [1, 2] and out["pred_close"].tolist() == [99.0, 102.0]
    assert out[["lo80", "hi80", "lo95", "hi95"]].to_numpy().tolist() == [[97.0, 101.0, 95.5, 103.0],
                                                                           [95.0, 108.0, 90.0, 113.0]]
    no_ranges = fc.assign(lo80_close=None, hi80_close=None, lo95_close=None, hi95_close=None)
    assert charts.forecast_prices(no_ranges)[["lo80", "hi95"]].isna().all().all()


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


def test_charts_are_drawn_without_pyplot():
    """The object API only: pyplot's global state is not safe in the web server's threads."""
    import subprocess
    import sys

    code = ("import io, sys; import pandas as pd; from cryptolstm.ui import charts; buf = io.BytesIO(); "
            "charts.plot_live_accuracy(pd.DataFrame(), buf); "
            "print(buf.getvalue()[:8] == b'\\x89PNG\\r\\n\\x1a\\n', 'matplotlib.pyplot' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split() == ["True", "False"]
