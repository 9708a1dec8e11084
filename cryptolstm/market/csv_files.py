"""Recorded candle files: one `<COIN><QUOTE>.csv` per coin (date, open, high, low, close, volume), read
row by row with every row checked. The panel (`market.panel.load_csv_dir`) and the exchange stand-in
(`runtime.standin`) both read them here; no pandas, so the stand-in starts light.
"""

from __future__ import annotations

import csv
import logging
import math
from datetime import date
from pathlib import Path
from typing import Iterable

CSV_HEADER = ["date", "open", "high", "low", "close", "volume"]

log = logging.getLogger(__name__)


class MalformedCsv(ValueError):
    """A candle CSV file that cannot be read; the message names the file and line."""


def read_csv(path: Path) -> list[tuple[date, list[str]]]:
    """[(day, [open, high, low, close, volume] as CSV text)] sorted by day; MalformedCsv names the line.

    Every row is checked: 6 fields, a YYYY-MM-DD day, 5 finite numbers, no repeated day. Values stay text
    so the stand-in serves exactly the digits in the file.
    """
    rows: list[tuple[date, list[str]]] = []
    seen: dict[date, int] = {}
    with Path(path).open(newline="") as f:
        reader = csv.reader(f)
        header = next(reader, None)
        if header is None:
            raise MalformedCsv(f"{path}: empty file (no header, no rows)")
        if header != CSV_HEADER:
            raise MalformedCsv(f"{path} line 1: header must be {','.join(CSV_HEADER)}, got {','.join(header)}")
        for r in reader:
            if r:  # a blank line (e.g. the trailing newline) is skipped
                day = _csv_row_day(r, f"{path} line {reader.line_num}", seen)
                seen[day] = reader.line_num
                rows.append((day, r[1:6]))
    if not rows:
        raise MalformedCsv(f"{path}: no candle rows after the header")
    rows.sort(key=lambda r: r[0])
    return rows


def _csv_row_day(r: list[str], where: str, seen: dict[date, int]) -> date:
    """The day of a CSV row after checking the row; MalformedCsv says what is wrong `where`."""
    if len(r) != len(CSV_HEADER):
        raise MalformedCsv(f"{where}: expected {len(CSV_HEADER)} fields ({','.join(CSV_HEADER)}), got {len(r)}")
    try:
        day = date.fromisoformat(r[0])
    except ValueError:
        raise MalformedCsv(f"{where}: date {r[0]!r} is not YYYY-MM-DD") from None
    for name, x in zip(CSV_HEADER[1:], r[1:]):
        try:
            ok = math.isfinite(float(x))
        except ValueError:
            ok = False
        if not ok:
            raise MalformedCsv(f"{where}: {name} {x!r} is not a finite number")
    if day in seen:
        raise MalformedCsv(f"{where}: day {r[0]} repeats line {seen[day]}")
    return day


def csv_folders(data_dir: str | Path, quote: str = "USDT") -> list[Path]:
    """The folders a data directory stands for: itself when it holds *<quote>.csv files, else its
    immediate subfolders that do (e.g. ../shared/data = binance-1d + binance-1d-more)."""
    data_dir = Path(data_dir)
    if not data_dir.is_dir():
        raise ValueError(f"{data_dir} is not a directory of *{quote}.csv files")
    if any(data_dir.glob(f"*{quote}.csv")):
        return [data_dir]
    subs = [d for d in sorted(data_dir.iterdir()) if d.is_dir() and any(d.glob(f"*{quote}.csv"))]
    return subs or [data_dir]


def read_folders(data_dirs: Iterable[str | Path], quote: str = "USDT") -> tuple[dict[str, list], dict[str, str]]:
    """({file stem, e.g. BTCUSDT: rows (see read_csv)}, {file stem: why its file cannot be read}) of every
    `*<quote>.csv` in the folders (see csv_folders).

    A broken file is logged and kept out of the data (only its own symbol fails); a symbol in two
    folders, or no CSV at all, is refused.
    """
    data: dict[str, list] = {}
    broken: dict[str, str] = {}
    where: dict[str, Path] = {}
    dirs = [sub for d in map(Path, data_dirs) for sub in csv_folders(d, quote)]
    for d in dirs:
        for path in sorted(d.glob(f"*{quote}.csv")):
            if path.stem in where:
                raise ValueError(f"{path.stem} is in two folders: {where[path.stem]} and {path}")
            where[path.stem] = path
            try:
                data[path.stem] = read_csv(path)
            except MalformedCsv as exc:
                broken[path.stem] = str(exc)
                log.error("%s is left out: %s", path.stem, exc)
    if not where:
        raise ValueError(f"no *{quote}.csv files in {', '.join(map(str, dirs))}")
    if not data:
        raise ValueError("no servable CSV file: " + "; ".join(broken.values()))
    return data, broken
