"""Fault injection of the exchange stand-in (`cryptolstm.runtime.standin`): the fault kinds, Binance's error
codes, the `Fault` record and how row faults alter the served klines."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timezone

# Fault kinds. HTTP ones replace the response; row ones alter the served rows.
HTTP_FAULTS = {
    "429": (429, "json"),  # rate limited -> ccxt DDoSProtection
    "418": (418, "json"),  # IP banned after ignoring 429s -> ccxt DDoSProtection
    "500_json": (500, "json"),  # Binance -1000 unknown error -> ccxt OperationFailed
    "503_json": (503, "json"),  # -> ccxt ExchangeNotAvailable
    "500_html": (500, "html"),  # a proxy's error page -> ccxt ExchangeNotAvailable
    "502_html": (502, "html"),
    "504": (504, "html"),  # gateway timeout -> ccxt RequestTimeout
    "non_json": (200, "html"),  # 200 with a maintenance page: ccxt raises nothing
    "unknown_symbol": (400, "json"),  # -1121 Invalid symbol -> ccxt BadSymbol (permanent)
}
OTHER_FAULTS = {
    "slow",  # sleep `delay` seconds before answering (past the client timeout)
    "reset",  # drop the TCP connection without an answer
    "duplicate_rows",  # every served row twice
    "conflicting_duplicate",  # one row twice, the copy with a different close
    "out_of_order",  # rows reversed
    "high_lt_low",  # one row (`day`, else the first) with high and low swapped
    "garbage_row",  # one row (`day`, else the first) with non-numeric prices
}
FAULT_KINDS = frozenset(HTTP_FAULTS) | OTHER_FAULTS

ERRORS = {  # Binance's own codes and messages
    429: (-1003, "Too many requests; current limit of IP is 6000 request weight per 1 MINUTE."),
    418: (-1003, "Way too many requests; IP banned until 1740000000000."),
    500: (-1000, "An unknown error occured while processing the request."),
    503: (-1008, "Server is currently overloaded with other requests. Please try again in a few minutes."),
    400: (-1121, "Invalid symbol."),
}


@dataclass
class Fault:
    kind: str  # one of FAULT_KINDS
    symbol: str | None = None  # exchange symbol, e.g. "BTCUSDT"; None: any symbol
    endpoint: str = "klines"  # "klines", "exchangeInfo", "time", "ping" or "*"
    times: int | None = 1  # matching requests affected; None: until cleared
    delay: float = 2.0  # seconds, for "slow"
    day: str | None = None  # "YYYY-MM-DD" row to corrupt for row faults; None: the first served row
    retry_after: float | None = None  # seconds in a Retry-After header of an HTTP fault (Binance sends it on 429/418)

    def __post_init__(self) -> None:
        if self.kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {self.kind!r}; known: {sorted(FAULT_KINDS)}")


def parse_instant(value: str | date | datetime | None) -> int | None:
    """'YYYY-MM-DD' (midnight UTC), an ISO instant, a date or an aware datetime -> epoch ms."""
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value.replace("Z", "+00:00")) if "T" in value else date.fromisoformat(value)
    if not isinstance(value, datetime):
        value = datetime(value.year, value.month, value.day, tzinfo=timezone.utc)
    if value.tzinfo is None:
        raise ValueError(f"naive datetime {value!r}: give a UTC-aware one")
    return int(value.timestamp() * 1000)


def apply_row_fault(rows: list[list], fault: Fault) -> list[list]:
    """The served rows as altered by a row fault (duplicates, order, one corrupted row)."""
    if not rows:
        return rows
    if fault.kind == "duplicate_rows":
        return [r for r in rows for _ in (0, 1)]
    if fault.kind == "out_of_order":
        return rows[::-1]
    if fault.kind == "conflicting_duplicate":
        copy = list(rows[0])
        copy[4] = repr(float(copy[4]) * 1.01)
        copy[2] = repr(max(float(copy[2]), float(copy[4])))
        return [rows[0], copy] + rows[1:]
    target = 0
    if fault.day is not None:
        ms = parse_instant(fault.day)
        target = next((i for i, r in enumerate(rows) if r[0] == ms), None)
        if target is None:
            return rows
    row = list(rows[target])
    if fault.kind == "high_lt_low":
        row[2], row[3] = row[3], row[2]
    elif fault.kind == "garbage_row":
        row[1:6] = ["n/a", "n/a", "n/a", "n/a", "n/a"]
    return rows[:target] + [row] + rows[target + 1:]
