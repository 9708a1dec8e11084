"""Model inputs per coin and day, from candles <= that day only.

Every feature at day t is a function of the coin's candles on days <= t (and, for the market and
cross-sectional features, of the MARKET_COINS' candles on days <= t). Only trailing windows and forward-recursive
EMAs are used: no backward filling, no centred windows, no statistic over the whole sample. Rows inside the
warm-up (the first `WARMUP_DAYS` candles of a coin) or touched by a gap are dropped, never filled.

Change FEATURE_VERSION whenever a formula, a window length or the column list changes: it is stored
with every model, and a model refuses features of another version.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from cryptolstm.config import DEFAULT_COINS

FEATURE_VERSION = "f2-2026.11"  # f2: market means over MARKET_COINS only; cross-sectional xs_* columns
# The coins the market features average, fixed HERE (not "whatever coins are in the panel"): training on
# auxiliary coins must not change the served coins' inputs. Changing this tuple is a new FEATURE_VERSION.
MARKET_COINS = DEFAULT_COINS

RETURN_LAGS = (1, 3, 7, 14, 30)  # ret_k = log(close[t] / close[t-k])
WARMUP_DAYS = 80  # > 3 x the longest EMA span (26): early EMA values are dropped, not used
FEATURES = (
    [f"ret_{k}" for k in RETURN_LAGS]
    + ["rv_7", "rv_30",  # realised volatility: std of daily log returns over the trailing 7 / 30 days
       "hl_range",  # (high - low) / close
       "clv",  # close location in the day's range: (2 close - high - low) / (high - low), in [-1, 1]
       "vol_rel",  # log(volume / trailing 30-day mean volume of the same coin), clipped to +-5
       "rsi_14",  # Wilder RSI(14) mapped to [-1, 1]
       "macd", "macd_hist",  # (EMA12 - EMA26) / close, and its difference to its EMA9
       "dist_ma20",  # log(close / trailing 20-day mean close)
       "dow_sin", "dow_cos",  # day of week of t on the unit circle
       "mkt_ret_1", "mkt_ret_7",  # mean ret_1 / ret_7 over the MARKET_COINS that have that day
       "xs_ret_1", "xs_ret_7",  # the coin's ret_k minus mkt_ret_k (its move relative to the market)
       "xs_rank_7"]  # share of MARKET_COINS (that day) with a lower ret_7, mapped to [-1, 1]
)


def _ema(x: pd.DataFrame, span: int) -> pd.DataFrame:
    return x.ewm(span=span, adjust=False, min_periods=span).mean()


def _wide_features(wide: dict[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    """The per-coin features, each a [days, coins] frame computed column by column (one vectorised pandas
    call per feature instead of one per coin; a coin's NaN days before its first candle add nothing to its
    trailing windows or EMAs, so every value equals the per-coin computation bit for bit)."""
    close, high, low, volume = wide["close"], wide["high"], wide["low"], wide["volume"]
    logc = np.log(close)
    r1 = logc.diff()
    out = {f"ret_{k}": logc - logc.shift(k) for k in RETURN_LAGS}
    out["rv_7"] = r1.rolling(7, min_periods=7).std()
    out["rv_30"] = r1.rolling(30, min_periods=30).std()
    out["hl_range"] = (high - low) / close
    out["clv"] = (2 * close - high - low) / (high - low + 1e-12 * close)
    mean_vol = volume.rolling(30, min_periods=30).mean()
    out["vol_rel"] = np.log((volume + 1e-12) / (mean_vol + 1e-12)).clip(-5.0, 5.0)
    up, down = r1.clip(lower=0.0), (-r1).clip(lower=0.0)
    avg_up = up.ewm(alpha=1 / 14, adjust=False, min_periods=14).mean()
    avg_down = down.ewm(alpha=1 / 14, adjust=False, min_periods=14).mean()
    out["rsi_14"] = (avg_up - avg_down) / (avg_up + avg_down + 1e-12)  # = (RSI - 50) / 50
    macd = (_ema(close, 12) - _ema(close, 26)) / close
    out["macd"] = macd
    out["macd_hist"] = macd - macd.ewm(span=9, adjust=False, min_periods=9).mean()
    out["dist_ma20"] = logc - np.log(close.rolling(20, min_periods=20).mean())
    return out


def _coin_features(full: pd.DataFrame) -> pd.DataFrame:
    """Features of every coin of a complete daily calendar (missing days are NaN rows), row-aligned with it."""
    day_idx, days = pd.factorize(full["day"], sort=True)
    coin_idx, coins = pd.factorize(full["coin"], sort=True)
    at = (day_idx, coin_idx)  # each row's cell in the [days, coins] frames

    def widen(col: str) -> pd.DataFrame:  # [days, coins], NaN where the coin has no row
        cells = np.full((len(days), len(coins)), np.nan)
        cells[at] = full[col].to_numpy(dtype=np.float64)
        return pd.DataFrame(cells, index=days, columns=coins)

    wide = {c: widen(c) for c in ("close", "high", "low", "volume")}
    out = pd.DataFrame({name: f.to_numpy()[at] for name, f in _wide_features(wide).items()}, index=full.index)
    dow = full["day"].dt.day_of_week.to_numpy()
    out["dow_sin"] = np.sin(2 * np.pi * dow / 7)
    out["dow_cos"] = np.cos(2 * np.pi * dow / 7)
    # a row is usable only after WARMUP_DAYS candles AND when every input window is gap-free
    seen = full["close"].notna().groupby(full["coin"], sort=False).cumsum()
    out.loc[(seen < WARMUP_DAYS).to_numpy() | full["close"].isna().to_numpy(), :] = np.nan
    return out


def complete_calendar(panel: pd.DataFrame) -> pd.DataFrame:
    """Each coin's rows from its first to its last day, one per calendar day; missing days are NaN."""
    if panel.empty:
        return panel.iloc[:0].copy()
    span = panel.groupby("coin", sort=True)["day"].agg(["min", "max"])
    n = ((span["max"] - span["min"]).dt.days + 1).to_numpy()  # calendar days per coin
    offset = np.arange(n.sum()) - np.repeat(np.cumsum(n) - n, n)  # 0, 1, .. within each coin
    grid = pd.DataFrame({"coin": np.repeat(span.index.to_numpy(), n),
                         "day": np.repeat(span["min"].to_numpy(), n) + offset * np.timedelta64(1, "D")})
    cols = ["coin", "day", "open", "high", "low", "close", "volume"]
    return grid.merge(panel[cols], on=["coin", "day"], how="left", validate="one_to_one")[cols]


def _rank_against(out: pd.DataFrame, market: pd.DataFrame, col: str) -> np.ndarray:
    """Per row: 2 * (share of that day's market-coin values strictly below the row's, + half the ties) - 1.
    Uses only the day's MARKET_COINS values, so an auxiliary coin in the panel changes no other row."""
    ref = market[["day", col]].dropna()
    rank = np.full(len(out), np.nan)
    sorted_ref = {d: np.sort(v.to_numpy()) for d, v in ref.groupby("day")[col]}
    vals = out[col].to_numpy()
    for day, rows in out.groupby("day").indices.items():  # one vectorised search per day, not per row
        r = sorted_ref.get(pd.Timestamp(day))
        if r is None:
            continue
        rows = rows[np.isfinite(vals[rows])]
        v = vals[rows]
        below, upto = np.searchsorted(r, v, "left"), np.searchsorted(r, v, "right")
        rank[rows] = 2.0 * (below + 0.5 * (upto - below)) / len(r) - 1.0
    return rank


def build_features(panel: pd.DataFrame) -> pd.DataFrame:
    """[coin, day, *FEATURES] for every (coin, day) whose features are all defined; float64."""
    full = complete_calendar(panel)
    out = pd.concat([full[["coin", "day"]], _coin_features(full)], axis=1) if len(full) else full[["coin", "day"]]
    # market features: per day, the mean over the MARKET_COINS whose own return is defined that day
    market = out[out["coin"].isin(MARKET_COINS)]
    for k in (1, 7):
        col = f"ret_{k}"
        mean = market.groupby("day")[col].mean()  # NaN-skipping mean, in a fixed (sorted-coin) order
        out[f"mkt_ret_{k}"] = out["day"].map(mean).to_numpy(dtype=np.float64) if len(out) else []
        out[f"xs_ret_{k}"] = out[col] - out[f"mkt_ret_{k}"]
    out["xs_rank_7"] = _rank_against(out, market, "ret_7") if len(out) else []
    out = out.dropna().reset_index(drop=True)
    return out[["coin", "day"] + FEATURES]
