"""Synthetic coin universes of any size, built from the real candles (for the scale benchmark only).

A synthetic coin is a real coin's daily log returns, shifted in time and rescaled:

    day d of the synthetic coin  <-  day d - shift of its base coin
    log(close[d] / close[d-1])   =   scale * log(close_b[d - shift] / close_b[d - shift - 1])

and the same for open/high/low relative to the previous close, so every candle is a valid OHLC (a positive
scale keeps high >= max(open, close) >= min(open, close) >= low). The start price and the volume level are
drawn per coin. Each coin gets its own (base, shift, scale), so the data has real-market statistics (fat
tails, volatility clustering, the base's gaps) without any two coins being copies of each other or of a
real coin on the same days. Deterministic for a given seed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from cryptolstm.market.panel import COLUMNS, normalise


@dataclass(frozen=True)
class Recipe:
    coin: str  # synthetic coin name, e.g. "SYN0001"
    base: str  # the real coin whose returns it replays
    shift: int  # days: the synthetic day d takes the base's day d - shift (>= 1)
    scale: float  # multiplies every log return (never 1: not a copy)
    start_price: float  # close of its first day
    volume_scale: float  # multiplies the base's volume


def recipes(bases: list[str], n: int, seed: int = 0, max_shift: int = 400) -> list[Recipe]:
    """`n` distinct recipes cycling over `bases`; the k-th copy of a base has a shift in [10 + 7k, 16 + 7k]."""
    out = []
    for j in range(n):
        rng = np.random.default_rng([seed, j])
        k = j // len(bases)
        shift = 10 + 7 * k + int(rng.integers(0, 7))
        if shift > max_shift:
            raise ValueError(f"{n} synthetic coins over {len(bases)} bases need shifts beyond {max_shift} days")
        scale = float(rng.choice([rng.uniform(0.6, 0.95), rng.uniform(1.05, 1.6)]))
        out.append(Recipe(coin=f"SYN{j + 1:04d}", base=bases[j % len(bases)], shift=shift, scale=scale,
                          start_price=float(10 ** rng.uniform(-3, 3)), volume_scale=float(10 ** rng.uniform(-1, 1))))
    return out


def synthesise(panel: pd.DataFrame, recipe: Recipe, last_day: pd.Timestamp) -> pd.DataFrame:
    """The synthetic coin's candles [coin, day, open, high, low, close, volume], ending on `last_day`."""
    b = panel[panel["coin"] == recipe.base].sort_values("day")
    keep = b["day"] + pd.Timedelta(days=recipe.shift) <= last_day
    b = b[keep]
    if len(b) < 2:
        raise ValueError(f"{recipe.base} has no history left after a {recipe.shift}-day shift")
    lc = np.log(b["close"].to_numpy())
    prev = lc[:-1]  # the previous close of rows 1..; row 0 only anchors the start price
    rel = {c: np.log(b[c].to_numpy()[1:]) - prev for c in ("open", "high", "low", "close")}
    close = np.log(recipe.start_price) + np.concatenate([[0.0], np.cumsum(recipe.scale * rel["close"])])
    s_prev = close[:-1]
    return pd.DataFrame({
        "coin": recipe.coin,
        "day": (b["day"] + pd.Timedelta(days=recipe.shift)).to_numpy()[1:],
        "open": np.exp(s_prev + recipe.scale * rel["open"]),
        "high": np.exp(s_prev + recipe.scale * rel["high"]),
        "low": np.exp(s_prev + recipe.scale * rel["low"]),
        "close": np.exp(close[1:]),
        "volume": b["volume"].to_numpy()[1:] * recipe.volume_scale,
    })[COLUMNS]


def universe(real: pd.DataFrame, n: int, served: tuple[str, ...], seed: int = 0) -> tuple[pd.DataFrame, list[Recipe]]:
    """A panel of `n` coins: the served coins, then the other real ones, then synthetic coins as needed.

    Synthetic coins are based only on real coins still trading on the panel's last day, so every coin of the
    universe has a candle on that day (the day the daily forecast is made for).
    """
    last_day = real["day"].max()
    real_coins = list(served) + sorted(set(real["coin"]) - set(served))
    if n <= len(real_coins):
        return normalise(real[real["coin"].isin(real_coins[:n])]), []
    live = sorted(c for c, d in real.groupby("coin")["day"].max().items() if d == last_day)
    rs = recipes(live, n - len(real_coins), seed=seed)
    frames = [real] + [synthesise(real, r, last_day) for r in rs]
    return normalise(pd.concat(frames, ignore_index=True)), rs


def write_csv_dir(panel: pd.DataFrame, path, quote: str = "USDT") -> None:
    """One `<COIN><QUOTE>.csv` per coin in the recorded-candles format the stand-in and `load_csv_dir` read."""
    from pathlib import Path

    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    for coin, g in panel.groupby("coin", sort=True):
        out = g.drop(columns="coin").rename(columns={"day": "date"})
        out["date"] = out["date"].dt.strftime("%Y-%m-%d")
        out.to_csv(path / f"{coin}{quote}.csv", index=False, float_format="%.12g")
