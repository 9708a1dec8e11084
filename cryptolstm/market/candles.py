"""Daily candles: validation (pure functions) and their storage (UPSERT, rejects, coins).

A candle row is ccxt's unified OHLCV row `[open time ms, open, high, low, close, volume]`.
Validation never repairs a row: a bad row becomes a `Reject` with its raw payload and the reason,
a good one a `Candle`; the still-open day (live exchanges send it as the last row) is dropped.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone

import psycopg2.extras

from cryptolstm import storage
from cryptolstm.market.plausibility import LevelShift, implausible

DAY_MS = 86_400_000
EPOCH = date(1970, 1, 1)
PRICE_FIELDS = ("open", "high", "low", "close")


@dataclass(frozen=True)
class Candle:
    day: date  # UTC day the candle opened
    open: float
    high: float
    low: float
    close: float
    volume: float  # in the base coin


@dataclass(frozen=True)
class Reject:
    reason: str
    raw: object  # JSON-able payload as received (unified row and, when known, the exchange's own row)
    day: date | None = None  # when the timestamp could be read

    @property
    def raw_sha256(self) -> str:
        return hashlib.sha256(json.dumps(self.raw, sort_keys=True).encode()).hexdigest()


@dataclass
class Checked:
    good: list[Candle] = field(default_factory=list)  # sorted by day, one per day
    rejects: list[Reject] = field(default_factory=list)
    still_open: int = 0  # rows of the day still open at the interval end, dropped (normal, not a reject)
    level_shift: LevelShift | None = None  # quarantined closes that held a new level long enough to say so


def ms_to_day(ms: int) -> date:
    return EPOCH + timedelta(days=ms // DAY_MS)


def day_to_ms(day: date) -> int:
    return (day - EPOCH).days * DAY_MS


def jsonable(value):
    """A payload as JSON can hold it: non-finite floats become strings ('nan'), tuples lists."""
    if isinstance(value, float) and not math.isfinite(value):
        return repr(value)
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return repr(value)


def _is_number(x) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool)


def row_problem(row) -> str | None:
    """Why a unified OHLCV row is not a valid closed-or-open daily candle, or None.

    Checks: shape [ts, o, h, l, c, v]; integer ts on a UTC day boundary; finite numbers;
    prices > 0; volume >= 0; low <= open, close <= high.
    """
    if not isinstance(row, (list, tuple)) or len(row) != 6:
        return "malformed row: expected [timestamp, open, high, low, close, volume]"
    ts, o, h, l, c, v = row
    if not isinstance(ts, int) or isinstance(ts, bool):
        return "timestamp is not an integer"
    if ts % DAY_MS:
        return "timestamp is not on a UTC day boundary"
    for name, x in zip(PRICE_FIELDS + ("volume",), (o, h, l, c, v)):
        if not _is_number(x):
            return f"{name} is not a number"
        if not math.isfinite(x):
            return f"{name} is not finite"
    for name, x in zip(PRICE_FIELDS, (o, h, l, c)):
        if x <= 0:
            return f"{name} is not positive"
    if v < 0:
        return "volume is negative"
    if h < l:
        return "high < low"
    if not l <= o <= h:
        return "open outside [low, high]"
    if not l <= c <= h:
        return "close outside [low, high]"
    return None


def check_candles(rows: list, end_ms: int, exchange_rows: list | None = None, *,
                  reference: dict[date, float] | None = None, max_jump: float | None = None,
                  shift_days: int | None = None, breaks: tuple[date, ...] = (), coin: str = "COIN") -> Checked:
    """Split rows into closed good candles, rejects and still-open rows, as of the interval end.

    A day is closed by `end_ms` when open + 1 day <= end. The day open at `end_ms` is dropped (live
    exchanges send it); a day opening after `end_ms` is a reject ("day after the interval end").
    Duplicated days: identical copies keep one candle and reject the extras; differing copies are all
    rejected (we cannot tell which is right) and the day stays missing, to be asked again.
    `exchange_rows` are the exchange's raw rows, attached to rejects by timestamp for the audit.
    Plausibility (when `max_jump` is given): a candle whose close is more than `max_jump` times, or
    less than 1/`max_jump` of, the close of the latest earlier day is rejected. The earlier day's close
    comes from this batch's accepted candles, else from `reference` (stored closes): so a correction
    of a stored day is checked against its stored neighbour, and a rejected day never becomes the
    reference of the next one. Level shifts: see `implausible` (`shift_days`, accepted `breaks`).
    """
    raw_by_ts: dict[object, list] = defaultdict(list)
    for r in exchange_rows or []:
        if isinstance(r, (list, tuple)) and r:
            raw_by_ts[r[0] if isinstance(r[0], int) else repr(r[0])].append(jsonable(r))

    def reject(row, reason: str, day: date | None) -> Reject:
        ts = row[0] if isinstance(row, (list, tuple)) and row else None
        raw = {"row": jsonable(row)}
        if isinstance(ts, int) and raw_by_ts.get(ts):
            raw["exchange_rows"] = raw_by_ts[ts]
        return Reject(reason, raw, day)

    out = Checked()
    by_day: dict[date, list] = defaultdict(list)
    for row in rows:
        ts = row[0] if isinstance(row, (list, tuple)) and len(row) == 6 else None
        day = ms_to_day(ts) if isinstance(ts, int) and not isinstance(ts, bool) else None
        aligned = day is not None and ts % DAY_MS == 0  # a misaligned row is rejected below
        if aligned and ts > end_ms:
            out.rejects.append(reject(row, "day after the interval end", day))
            continue
        if aligned and ts + DAY_MS > end_ms:
            out.still_open += 1  # not closed at the interval end: never stored, whatever it holds
            continue
        problem = row_problem(row)
        if problem is not None:
            out.rejects.append(reject(row, problem, day))
            continue
        by_day[day].append(row)
    for day in sorted(by_day):
        copies = by_day[day]
        if len(copies) > 1 and any(list(c) != list(copies[0]) for c in copies):
            out.rejects += [reject(c, "conflicting duplicate rows for the day", day) for c in copies]
            continue
        out.rejects += [reject(c, "duplicate row for the day (identical copy)", day) for c in copies[1:]]
        _, o, h, l, c, v = copies[0]
        out.good.append(Candle(day, float(o), float(h), float(l), float(c), float(v)))
    if max_jump is not None:
        rows_by_day = {k.day: by_day[k.day][0] for k in out.good}
        keep = []
        problems, out.level_shift = implausible([(k.day, k.close) for k in out.good], reference or {}, max_jump,
                                                shift_days, breaks, coin)
        for k, problem in zip(out.good, problems):
            if problem is None:
                keep.append(k)
            else:
                out.rejects.append(reject(rows_by_day[k.day], problem, k.day))
        out.good = keep
    return out


def missing_days(first: date, last: date, present: set[date]) -> list[date]:
    """Days in [first, last] not in `present` (empty when first > last)."""
    n = (last - first).days + 1
    return [first + timedelta(days=i) for i in range(max(n, 0)) if first + timedelta(days=i) not in present]


# --- storage ---------------------------------------------------------------------------------

def ingest_state(cur, coin: str) -> tuple[date | None, date | None, date | None]:
    """(first stored day, last stored day, earliest still-missing day reported earlier); None when absent."""
    cur.execute(storage.query("candles_select_ingest_state"), {"coin": coin})
    first_day, last_day, first_missing = cur.fetchone()
    return first_day, last_day, first_missing


def register_coin(cur, coin: str, symbol: str, exchange: str) -> None:
    """Add the coin to `coins` if absent, with its stable embedding id (config.COIN_ORDER position)."""
    from cryptolstm.config import COIN_ORDER

    cur.execute(storage.query("coins_insert"), {
        "coin": coin, "symbol": symbol, "exchange": exchange, "reserved": len(COIN_ORDER),
        "preferred": COIN_ORDER.index(coin) if coin in COIN_ORDER else None})


def upsert_candles(cur, coin: str, candles: list[Candle], interval_end: datetime) -> tuple[int, int]:
    """Insert new days, revise changed ones, leave identical ones; return (inserted, revised)."""
    if not candles:
        return 0, 0
    values = [(coin, k.day, k.open, k.high, k.low, k.close, k.volume, interval_end) for k in candles]
    rows = psycopg2.extras.execute_values(cur, storage.query("candles_upsert"), values,
                                          page_size=1000, fetch=True)
    inserted = sum(1 for _, ins in rows if ins)
    return inserted, len(rows) - inserted


def record_rejects(cur, coin: str, start: datetime, end: datetime, rejects: list[Reject]) -> None:
    """Quarantine `rejects` met by the ingest of [start, end): one row per (coin, payload, reason), its `seen`
    count raised by each meeting, so asking a quarantined day again never adds rows."""
    met: dict[tuple[str, str], tuple[Reject, int]] = {}
    for r in rejects:  # one VALUES row per key: ON CONFLICT DO UPDATE may not touch a row twice in one statement
        first, n = met.get((r.raw_sha256, r.reason), (r, 0))
        met[r.raw_sha256, r.reason] = (first, n + 1)
    values = [(coin, start, end, sha, reason, r.day, json.dumps(r.raw, sort_keys=True), n)
              for (sha, reason), (r, n) in met.items()]
    if values:
        psycopg2.extras.execute_values(cur, storage.query("rejected_candles_insert"), values)


def stored_days(cur, coin: str, first: date, last: date) -> set[date]:
    cur.execute(storage.query("candles_select_days"), {"coin": coin, "first": first, "last": last})
    return {d for (d,) in cur.fetchall()}


def closes_around(cur, coin: str, first: date, last: date) -> dict[date, float]:
    """Stored closes from the last stored day before `first` through `last` (plausibility references)."""
    cur.execute(storage.query("candles_select_closes_around"), {"coin": coin, "first": first, "last": last})
    return dict(cur.fetchall())


def level_shift_breaks(cur, coin: str) -> tuple[date, ...]:
    """The days an operator accepted a level shift on for the coin (`candle_level_shifts`), oldest first."""
    cur.execute(storage.query("candle_level_shifts_select_coin"), {"coin": coin})
    return tuple(d for (d,) in cur.fetchall())


def accept_level_shift(cur, coin: str, day: date, reason: str) -> float | None:
    """Record an operator's acceptance of the coin's level shift from `day` on (`candle_level_shifts`); its
    ratio, or None when `day` has no quarantined implausible close, no stored close before it, or was
    accepted already."""
    cur.execute(storage.query("candle_level_shifts_insert"), {"coin": coin, "day": day, "reason": reason})
    row = cur.fetchone()
    return None if row is None else row[0]


def mark_inactive(cur, coin: str, reason: str) -> date | None:
    """Mark the coin inactive (the exchange stopped trading it); its first inactive day, or None if it
    already was inactive."""
    cur.execute(storage.query("coins_update_inactive"), {"coin": coin, "reason": reason})
    row = cur.fetchone()
    return row[0] if row else None


def mark_active_if_traded(cur, coin: str) -> bool:
    """An inactive coin with a candle on or after its inactive day is active again; True if it changed."""
    cur.execute(storage.query("coins_update_active"), {"coin": coin})
    return cur.fetchone() is not None


def extent(cur, coin: str) -> tuple[date | None, int]:
    """(last stored day, number of stored days) of the coin."""
    cur.execute(storage.query("candles_select_extent"), {"coin": coin})
    last, n = cur.fetchone()
    return last, n



def utc(dt: datetime) -> datetime:
    """An aware datetime in UTC; naive ones are refused (they hide a time-zone bug)."""
    if dt.tzinfo is None:
        raise ValueError(f"naive datetime {dt!r}: data interval bounds must be time-zone aware")
    return dt.astimezone(timezone.utc)
