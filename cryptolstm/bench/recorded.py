"""The recorded candles of the benchmarks: read from their CSV folders as one panel, and stored into a forecasting
database as if ingested (coins registered, candles upserted with one fetch time), so a benchmark times the weekly
run, not the bootstrap of the history."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd


def panel(dirs: list[Path], coins: tuple[str, ...] | None = None, until: date | None = None) -> pd.DataFrame:
    """The candles of `dirs` (one CSV per coin each), of `coins` only (None: all), up to `until` inclusive."""
    import pandas as pd

    from cryptolstm.market import panel as panel_mod

    p = panel_mod.normalise(pd.concat([panel_mod.load_csv_dir(d) for d in dirs], ignore_index=True))
    if coins is not None:
        missing = sorted(set(coins) - set(p["coin"]))
        if missing:
            raise ValueError(f"no recorded candles for {', '.join(missing)} in {', '.join(map(str, dirs))}")
        p = p[p["coin"].isin(coins)].reset_index(drop=True)
    return panel_mod.until(p, until) if until is not None else p


def store(dsn: str, candles: pd.DataFrame, fetched_at: datetime, quote: str = "USDT",
          exchange: str = "binance") -> None:
    """Register every coin of the panel and store its candles, fetched at `fetched_at`, in one transaction."""
    import psycopg2.extras

    from cryptolstm import storage
    from cryptolstm.market import candles as candles_mod

    with storage.transaction(dsn) as cur:
        for coin in sorted(candles["coin"].unique()):
            candles_mod.register_coin(cur, coin, f"{coin}/{quote}", exchange)
        rows = [(r.coin, r.day.date(), r.open, r.high, r.low, r.close, r.volume, fetched_at)
                for r in candles.itertuples(index=False)]
        psycopg2.extras.execute_values(cur, storage.query("candles_insert_seed"), rows, page_size=5000)
