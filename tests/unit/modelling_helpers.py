"""Synthetic candle panels for the modelling tests (no files, no network)."""

from __future__ import annotations

import numpy as np
import pandas as pd


def synthetic_panel(coins=("BTC", "ETH", "SOL"), days: int = 400, seed: int = 0, start: str = "2020-01-01",
                    late_start: dict | None = None) -> pd.DataFrame:
    """Random-walk daily candles; `late_start={'SOL': 100}` lists a coin that many days later."""
    rng = np.random.default_rng(seed)
    late_start = {"SOL": 60} if late_start is None else late_start
    frames = []
    for i, coin in enumerate(coins):
        n = days - late_start.get(coin, 0)
        r = rng.normal(0.0005, 0.03 + 0.01 * i, n)
        close = 100.0 * (i + 1) * np.exp(np.cumsum(r))
        open_ = np.concatenate([[close[0]], close[:-1]])
        high = np.maximum(open_, close) * (1 + rng.uniform(0, 0.03, n))
        low = np.minimum(open_, close) * (1 - rng.uniform(0, 0.03, n))
        vol = rng.lognormal(10 - i, 0.5, n)
        day = pd.date_range(start, periods=days, freq="D")[days - n:]
        frames.append(pd.DataFrame({"coin": coin, "day": day, "open": open_, "high": high, "low": low,
                                    "close": close, "volume": vol}))
    return pd.concat(frames, ignore_index=True)


def with_garbage_after(panel: pd.DataFrame, day, seed: int = 1) -> pd.DataFrame:
    """The same panel with every value after `day` replaced by wild (but valid) numbers."""
    rng = np.random.default_rng(seed)
    out = panel.copy()
    late = out["day"] > pd.Timestamp(day)
    n = int(late.sum())
    base = rng.lognormal(8, 3, n)
    out.loc[late, "open"] = base
    out.loc[late, "close"] = base * rng.lognormal(0, 1, n)
    out.loc[late, "high"] = np.maximum(out.loc[late, "open"], out.loc[late, "close"]) * 3
    out.loc[late, "low"] = np.minimum(out.loc[late, "open"], out.loc[late, "close"]) / 3
    out.loc[late, "volume"] = rng.lognormal(20, 5, n)
    return out
