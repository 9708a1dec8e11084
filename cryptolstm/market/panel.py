"""The canonical candle panel: one DataFrame [coin, day, open, high, low, close, volume] per source.

Every later step (features, windows, training, evaluation) reads this frame and nothing else, so the
CSV files and the `candles` table are interchangeable. `day` is a tz-naive `datetime64[ns]` UTC
calendar day; rows are sorted by (coin, day) with no duplicates. Gaps are allowed (the feature step
turns them into invalid rows, it never fills them).

Coin ids for the model's embedding come from the stable `coins.coin_index` of the database
(BTC=0 ... LINK=8, then the auxiliary coins ATOM=9 ... XMR=19: `config.COIN_ORDER`); `coin_index()` is the same mapping.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd

from cryptolstm.config import COIN_ORDER
from cryptolstm.market.csv_files import read_csv

COLUMNS = ["coin", "day", "open", "high", "low", "close", "volume"]
PRICE_COLUMNS = ["open", "high", "low", "close"]


def coin_index(coins: tuple[str, ...] = COIN_ORDER) -> dict[str, int]:
    """Stable embedding ids: the position in COIN_ORDER (served coins 0-8, then the auxiliary ones; matches
    `coins.coin_index` in SQL)."""
    return {c: i for i, c in enumerate(coins)}


def to_day(value) -> pd.Timestamp:
    """A date / 'YYYY-MM-DD' / Timestamp as a tz-naive midnight Timestamp (the panel's `day` type)."""
    ts = pd.Timestamp(value)
    if ts.tzinfo is not None:
        ts = ts.tz_convert("UTC").tz_localize(None)
    return ts.normalize()


def normalise(frame: pd.DataFrame) -> pd.DataFrame:
    """Check and canonicalise a candle frame: column set and types, sorted, unique (coin, day), positive prices."""
    missing = set(COLUMNS) - set(frame.columns)
    if missing:
        raise ValueError(f"candle frame lacks columns {sorted(missing)}")
    df = frame[COLUMNS].copy()
    df["coin"] = df["coin"].astype(str)
    df["day"] = pd.to_datetime(df["day"]).dt.normalize().astype("datetime64[ns]")
    for col in PRICE_COLUMNS + ["volume"]:
        df[col] = df[col].astype("float64")
    df = df.sort_values(["coin", "day"], kind="stable").reset_index(drop=True)
    if df.duplicated(["coin", "day"]).any():
        raise ValueError("candle frame has duplicate (coin, day) rows")
    if not np.isfinite(df[PRICE_COLUMNS + ["volume"]].to_numpy()).all():
        raise ValueError("candle frame has non-finite prices or volumes")
    if (df[PRICE_COLUMNS] <= 0).to_numpy().any() or (df["volume"] < 0).any():
        raise ValueError("candle frame has non-positive prices or negative volumes")
    return df


def load_csv_dir(path: str | Path, coins: tuple[str, ...] | None = None, quote: str = "USDT") -> pd.DataFrame:
    """Read `<COIN><QUOTE>.csv` files (columns date, open, high, low, close, volume) into a panel.

    `coins=None` reads every `*{quote}.csv` in the folder. Files are only read, never written; every row
    is checked (`read_csv`).
    """
    path = Path(path)
    if coins is None:
        files = sorted(path.glob(f"*{quote}.csv"))
        coins = tuple(f.name[: -len(f"{quote}.csv")] for f in files)
    frames = []
    for coin in coins:
        f = path / f"{coin}{quote}.csv"
        if not f.exists():
            raise FileNotFoundError(f"no candle file for {coin}: {f}")
        frames.append(pd.DataFrame([[coin, day, *map(float, values)] for day, values in read_csv(f)],
                                   columns=COLUMNS))
    if not frames:
        raise FileNotFoundError(f"no *{quote}.csv candle files in {path}")
    return normalise(pd.concat(frames, ignore_index=True))


def read_candles(dsn: str, until: date | str | None = None) -> pd.DataFrame:
    """All stored candles with day <= `until` (everything if None) from the `candles` table."""
    from cryptolstm import storage

    with storage.transaction(dsn) as cur:
        cur.execute(storage.query("candles_select_panel"), {"until": None if until is None else str(to_day(until).date())})
        rows = cur.fetchall()
    return normalise(pd.DataFrame(rows, columns=COLUMNS))


def until(panel: pd.DataFrame, day) -> pd.DataFrame:
    """The panel rows with day <= `day` (history as it was known at the close of `day`)."""
    return panel[panel["day"] <= to_day(day)].reset_index(drop=True)
