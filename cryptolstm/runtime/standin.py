"""A local stand-in of Binance's public REST API that replays daily candles from CSV directories.

It speaks the endpoints the real ccxt client uses (`/api/v3/ping`, `/time`, `/exchangeInfo`,
`/klines` with Binance's startTime/endTime/limit semantics and `{"code": -1121, "msg": ...}` errors),
so tests and the replay mode run the real client over HTTP, pointed here by configuration.

- **Clock.** Only candles closed at the stand-in's `now` are served (plus, like live Binance, the
  still-open current day as the last row, unless `serve_partial=False`). `now=None` means "after the
  last CSV day". With `follow=True` a klines request carrying `endTime` sees `now = endTime + 1 ms`
  (our ingester always sends `endTime = interval end - 1 ms`), so a replayed run sees its own past only.
- **Faults** (`FAULT_KINDS`, defined in `standin_faults`): injected per endpoint/symbol for the next `times` requests.
- **Counters** of requests per endpoint and symbol, for tests and the ingest benchmark.
- **Folders.** Any number of CSV folders are served together (a symbol in two folders is refused);
  a folder without CSVs stands for its subfolders that have some (`../shared/data` = both recordings).
  Every row is checked on load (6 fields, a day, 5 numbers, no repeated day); a malformed or empty
  file is reported with its file and line and fails only its own symbol: it is listed, and its klines
  answer 400 (-1100) with that message, while every other symbol is served.
- **Delistings.** A file that ends before the newest file's last day is a pair the exchange stopped
  trading after its last day. Once the clock has passed that day, it is answered as Binance answers a
  delisted pair: with `delisted="break"` (the default) exchangeInfo keeps it with status "BREAK"
  (ccxt: market `active` False) and klines still serve its history, nothing after; with
  `delisted="removed"` it is gone: absent from exchangeInfo and klines answer -1121 Invalid symbol
  (ccxt BadSymbol). In follow mode exchangeInfo has no request time, so it uses the clock of the
  latest klines request (before any, no pair is delisted).

Everything is controllable in-process (`StandIn` methods) and over HTTP under `/_standin/`
(`StandInControl` in `standin_control` is the client), so other processes — Airflow tasks, a replay
driver — can move the clock or inject faults:

    GET    /_standin/state              clock, faults, request counts
    POST   /_standin/clock   {"now": "2025-02-01" | ISO instant | null, "follow": bool?}
    POST   /_standin/faults  {"kind": "429", "symbol": "BTCUSDT", "times": 2, ...}
    DELETE /_standin/faults
    POST   /_standin/candle  {"symbol": "BTCUSDT", "day": "2025-02-01", "close": "1.0", ...}
    POST   /_standin/reset   zero the request counters

Usage from a test:

    with StandIn(csv_dir, now="2025-02-10") as ex:      # background thread on a free port
        market = MarketConfig(api_url=ex.url)
        ex.inject("429", symbol="BTCUSDT", times=2)
        ...; assert ex.requests("klines", "BTCUSDT") == 3
"""

from __future__ import annotations

import json
import socket
import struct
import threading
import time
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Callable, Iterable
from urllib.parse import parse_qs, urlsplit

from cryptolstm.market.candles import DAY_MS, day_to_ms
from cryptolstm.market.csv_files import CSV_HEADER, csv_folders, read_folders
from cryptolstm.runtime.standin_control import StandInControl  # noqa: F401  (re-exported: the client lives beside)
from cryptolstm.runtime.standin_faults import (  # noqa: F401  (re-exported for callers of cryptolstm.runtime.standin)
    ERRORS, FAULT_KINDS, HTTP_FAULTS, OTHER_FAULTS, Fault, apply_row_fault, parse_instant)

DELISTED_MODES = ("break", "removed")  # how a pair is answered after its file ends early (see the module doc)


def _iso(ms: int | None) -> str | None:
    return None if ms is None else datetime.fromtimestamp(ms / 1000, timezone.utc).isoformat()


class StandIn:
    """The stand-in exchange: data, clock, faults and counters, plus its HTTP server."""

    def __init__(self, data_dir: Path | str | Iterable[Path | str], *, quote: str = "USDT", now=None,
                 follow: bool = False, serve_partial: bool = True, delisted: str = "break",
                 host: str = "127.0.0.1", port: int = 0):
        if delisted not in DELISTED_MODES:
            raise ValueError(f"delisted must be one of {DELISTED_MODES}, got {delisted!r}")
        self.quote = quote
        given = [data_dir] if isinstance(data_dir, (str, Path)) else list(data_dir)
        self.data_dirs = [sub for d in given for sub in csv_folders(Path(d), quote)]  # the folders served
        days, self.broken = read_folders(self.data_dirs, quote)
        self.data = {s: [(day_to_ms(day), values) for day, values in rows] for s, rows in days.items()}
        self._index = {s: {ms: i for i, (ms, _) in enumerate(rows)} for s, rows in self.data.items()}
        last = max(rows[-1][0] for rows in self.data.values())
        # pairs whose file ends before the newest one: the exchange stopped trading them after that day
        self.ends = {s: rows[-1][0] for s, rows in self.data.items() if rows[-1][0] < last}
        self.delisted = delisted
        self._last_request_clock: int | None = None  # follow mode: the clock of the latest klines request
        self.now_ms = parse_instant(now)
        self.follow = follow  # clock follows each klines request's endTime
        self.serve_partial = serve_partial  # serve the still-open current day, as live Binance does
        self.faults: list[Fault] = []
        self.counts: dict[str, dict[str, int]] = {}
        self._lock = threading.Lock()
        self._server = _QuietServer((host, port), _make_handler(self))
        self._server.daemon_threads = True  # a "slow" handler must not block shutdown
        self._server.block_on_close = False
        self._thread: threading.Thread | None = None

    # --- lifecycle -------------------------------------------------------------------------
    @property
    def url(self) -> str:
        """Root URL, e.g. http://127.0.0.1:PORT (what `MarketConfig.api_url` takes)."""
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> "StandIn":
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="standin", daemon=True)  # quick stop()
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> "StandIn":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # --- control ---------------------------------------------------------------------------
    def set_clock(self, now, follow: bool | None = None) -> None:
        """Move the clock ('YYYY-MM-DD', ISO instant, date, datetime or None = after the data)."""
        with self._lock:
            self.now_ms = parse_instant(now)
            if follow is not None:
                self.follow = follow

    def inject(self, kind: str, **kw) -> Fault:
        """Add a fault (see `Fault`); it applies to the next `times` matching requests."""
        fault = Fault(kind, **kw)
        with self._lock:
            self.faults.append(fault)
        return fault

    def clear_faults(self) -> None:
        with self._lock:
            self.faults.clear()

    def set_candle(self, symbol: str, day: str, **fields: str | float) -> None:
        """Change a served candle, e.g. a late revision by the exchange: set_candle('BTCUSDT', '2025-02-01', close='1')."""
        ms = parse_instant(day)
        with self._lock:
            i = self._index[symbol][ms]
            values = list(self.data[symbol][i][1])
            for k, v in fields.items():
                values[CSV_HEADER.index(k) - 1] = str(v)
            self.data[symbol][i] = (ms, values)

    def requests(self, endpoint: str | None = None, symbol: str | None = None) -> int:
        """How many requests arrived (faulted ones included), optionally per endpoint and symbol."""
        with self._lock:
            return sum(n for ep, per in self.counts.items() if endpoint in (None, ep)
                       for s, n in per.items() if symbol in (None, s))

    def reset_stats(self) -> None:
        with self._lock:
            self.counts.clear()

    def state(self) -> dict:
        with self._lock:
            return {"now": _iso(self.now_ms), "follow": self.follow, "serve_partial": self.serve_partial,
                    "symbols": sorted(self.data), "faults": [asdict(f) for f in self.faults],
                    "data_dirs": [str(d) for d in self.data_dirs], "broken": dict(self.broken),
                    "delisted": self.delisted, "ends": {s: _iso(ms) for s, ms in sorted(self.ends.items())},
                    "requests": {ep: dict(per) for ep, per in self.counts.items()}}

    # --- serving ---------------------------------------------------------------------------
    def _take_fault(self, endpoint: str, symbol: str | None) -> Fault | None:
        """Count the request and pop the first matching fault (one use)."""
        with self._lock:
            per = self.counts.setdefault(endpoint, {})
            per[symbol or "*"] = per.get(symbol or "*", 0) + 1
            for f in self.faults:
                if f.endpoint in ("*", endpoint) and f.symbol in (None, symbol):
                    if f.times is not None:
                        f.times -= 1
                        if f.times <= 0:
                            self.faults.remove(f)
                    return f
        return None

    def clock_ms(self, end_time: int | None = None) -> int:
        """The stand-in's now: the set clock, the request's endTime in follow mode, else after the data."""
        if self.follow and end_time is not None:
            return end_time + 1
        if self.now_ms is not None:
            return self.now_ms
        return max(rows[-1][0] for rows in self.data.values() if rows) + DAY_MS

    def listing_clock_ms(self) -> int | None:
        """The clock that decides which pairs exchangeInfo lists (None: none is delisted yet).

        In follow mode the request has no time of its own: the latest klines request's clock is the
        replay's present; before any klines request nothing is known, so nothing is delisted."""
        if self.follow:
            return self._last_request_clock if self.now_ms is None else max(
                self.now_ms, self._last_request_clock or self.now_ms)
        return self.clock_ms()

    def is_delisted(self, symbol: str, now: int | None) -> bool:
        """True once the pair's last day has closed at `now` and its file ends before the others."""
        end = self.ends.get(symbol)
        return end is not None and now is not None and now >= end + DAY_MS

    def klines(self, symbol: str, start: int | None, end: int | None, limit: int) -> list[list]:
        """Binance kline rows: closed candles at the clock (+ the open day), startTime <= open <= endTime."""
        now = self.clock_ms(end)
        if self.follow and end is not None:
            with self._lock:
                self._last_request_clock = now
        rows = []
        with self._lock:
            series = list(self.data[symbol])
        for ms, (o, h, l, c, v) in series:
            if ms + DAY_MS <= now:
                rows.append([ms, o, h, l, c, v, ms + DAY_MS - 1])
            elif ms <= now and self.serve_partial:
                rows.append(_partial(ms, (o, h, l, c, v), (now - ms) / DAY_MS))
        rows = [r for r in rows if (start is None or r[0] >= start) and (end is None or r[0] <= end)]
        # startTime given: the first `limit` rows from it; otherwise the latest `limit` rows.
        rows = rows[:limit] if start is not None else rows[-limit:]
        # The rest of Binance's row: quote volume, trades, taker volumes, ignore (not in our CSVs).
        return [r + ["0", 0, "0", "0", "0"] for r in rows]

    def exchange_info(self) -> dict:
        """GET /api/v3/exchangeInfo: every pair with its status at the listing clock (see the module doc)."""
        now = self.listing_clock_ms()
        listed = [(s, "BREAK" if self.is_delisted(s, now) else "TRADING") for s in sorted({*self.data, *self.broken})
                  if not (self.delisted == "removed" and self.is_delisted(s, now))]
        symbols = [{
            "symbol": s, "status": status, "baseAsset": s[: -len(self.quote)], "baseAssetPrecision": 8,
            "quoteAsset": self.quote, "quotePrecision": 8, "quoteAssetPrecision": 8,
            "orderTypes": ["LIMIT", "MARKET"], "icebergAllowed": True, "ocoAllowed": True,
            "isSpotTradingAllowed": True, "isMarginTradingAllowed": False, "filters": [],
            "permissions": [], "permissionSets": [["SPOT"]],
        } for s, status in listed]
        return {"timezone": "UTC", "serverTime": self.clock_ms(), "rateLimits": [], "exchangeFilters": [],
                "symbols": symbols}


class _QuietServer(ThreadingHTTPServer):
    """Does not print tracebacks for connections the client (or a "reset" fault) dropped."""

    def handle_error(self, request, client_address) -> None:
        import sys

        if not isinstance(sys.exc_info()[1], OSError):
            super().handle_error(request, client_address)


def _partial(ms: int, ohlcv: tuple[str, ...], frac: float) -> list:
    """The open candle at `frac` of its day: moves linearly from open toward the close, volume pro rata."""
    o, c, v = float(ohlcv[0]), float(ohlcv[3]), float(ohlcv[4])
    close = o + (c - o) * frac
    return [ms, ohlcv[0], repr(max(o, close)), repr(min(o, close)), repr(close), repr(v * frac), ms + DAY_MS - 1]


@dataclass
class Answer:
    """One HTTP answer: status, body (JSON-able, or text), content type and extra headers."""

    status: int
    body: object
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)


NOT_FOUND = Answer(404, "<html><body><h1>404 Not Found</h1></body></html>", "text/html")


def _error(status: int, code: int, msg: str) -> Answer:
    """A Binance error answer: {"code": -1121, "msg": "Invalid symbol."}."""
    return Answer(status, {"code": code, "msg": msg})


def _fault_answer(fault: Fault | None) -> Answer | None:
    """The answer an HTTP fault replaces the response with; None for no fault or a row fault."""
    if fault is None or fault.kind not in HTTP_FAULTS:
        return None
    status, kind = HTTP_FAULTS[fault.kind]
    if kind == "html":
        page = f"<html><head><title>{status}</title></head><body>stand-in fault {fault.kind}</body></html>"
        return Answer(status, page, "text/html")
    code, msg = ERRORS[status]
    return Answer(status, {"code": code, "msg": msg},
                  headers={} if fault.retry_after is None else {"Retry-After": f"{fault.retry_after:g}"})


def _klines_refusal(ex: StandIn, q: dict[str, str]) -> Answer | None:
    """Binance's error for a klines request about a symbol or interval it does not serve, else None."""
    for name in ("symbol", "interval"):
        if name not in q:
            return _error(400, -1102, f"Mandatory parameter '{name}' was not sent, was empty/null, or malformed.")
    if q["symbol"] in ex.broken:  # fails this pair only, permanently, saying why
        return _error(400, -1100, f"stand-in cannot serve {q['symbol']}: {ex.broken[q['symbol']]}")
    if q["symbol"] not in ex.data:
        return _error(400, -1121, "Invalid symbol.")
    end_q = q.get("endTime")
    if ex.delisted == "removed" and ex.is_delisted(
            q["symbol"], ex.clock_ms(int(end_q) if end_q and end_q.isdigit() else None)):
        return _error(400, -1121, "Invalid symbol.")
    if q["interval"] != "1d":
        return _error(400, -1120, "Invalid interval.")  # the stand-in has daily candles only
    return None


def _klines_answer(ex: StandIn, q: dict[str, str], fault: Fault | None) -> Answer:
    """GET /api/v3/klines: the rows (altered by a row fault), or Binance's error for a bad request."""
    refusal = _klines_refusal(ex, q)
    if refusal is not None:
        return refusal
    try:
        limit = int(q.get("limit", 500))
        start = int(q["startTime"]) if "startTime" in q else None
        end = int(q["endTime"]) if "endTime" in q else None
    except ValueError:
        return _error(400, -1100, "Illegal characters found in a parameter.")
    if not 1 <= limit <= 1000:
        return _error(400, -1130, "Invalid data sent for a parameter.")
    if start is not None and end is not None and start > end:
        return _error(400, -1127, "More than 200 hours between startTime and endTime.")
    rows = ex.klines(q["symbol"], start, end, limit)
    if fault is not None and fault.kind in OTHER_FAULTS:
        rows = apply_row_fault(rows, fault)
    return Answer(200, rows)


# Binance's public endpoints: path -> (endpoint name, as counted and faulted; its answer).
API: dict[str, tuple[str, Callable[[StandIn, dict, Fault | None], Answer]]] = {
    "/api/v3/ping": ("ping", lambda ex, q, fault: Answer(200, {})),
    "/api/v3/time": ("time", lambda ex, q, fault: Answer(200, {"serverTime": ex.clock_ms()})),
    "/api/v3/exchangeInfo": ("exchangeInfo", lambda ex, q, fault: Answer(200, ex.exchange_info())),
    "/api/v3/klines": ("klines", _klines_answer),
}

# The control endpoint: (method, path) -> what it does with the JSON body; every call answers the state.
CONTROL: dict[tuple[str, str], Callable[[StandIn, dict], object]] = {
    ("GET", "/_standin/state"): lambda ex, body: None,
    ("POST", "/_standin/clock"): lambda ex, body: ex.set_clock(body.get("now"), body.get("follow")),
    ("POST", "/_standin/faults"): lambda ex, body: ex.inject(**body),
    ("DELETE", "/_standin/faults"): lambda ex, body: ex.clear_faults(),
    ("POST", "/_standin/candle"): lambda ex, body: ex.set_candle(body.pop("symbol"), body.pop("day"), **body),
    ("POST", "/_standin/reset"): lambda ex, body: ex.reset_stats(),
}


def _make_handler(ex: StandIn):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, like the real exchange

        def log_message(self, *args) -> None:  # quiet: tests and benchmarks read counters instead
            pass

        def _send(self, answer: Answer) -> None:
            body = answer.body
            data = body if isinstance(body, bytes) else (
                body.encode() if isinstance(body, str) else json.dumps(body).encode())
            self.send_response(answer.status)
            self.send_header("Content-Type", answer.content_type + ";charset=UTF-8")
            for k, v in answer.headers.items():
                self.send_header(k, v)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _reset(self) -> None:
            """Drop the connection: SO_LINGER 0 makes close() send RST ("connection reset by peer")."""
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.connection.close()
            self.close_connection = True

        def do_GET(self) -> None:
            u = urlsplit(self.path)
            if u.path.startswith("/_standin/"):
                return self._control("GET", u.path)
            if u.path not in API:
                return self._send(NOT_FOUND)
            endpoint, answer = API[u.path]
            q = {k: v[-1] for k, v in parse_qs(u.query).items()}
            fault = ex._take_fault(endpoint, q.get("symbol"))
            if fault is not None and fault.kind == "reset":
                return self._reset()
            if fault is not None and fault.kind == "slow":
                time.sleep(fault.delay)
            self._send(_fault_answer(fault) or answer(ex, q, fault))

        def do_POST(self) -> None:
            self._control("POST", urlsplit(self.path).path)

        def do_DELETE(self) -> None:
            self._control("DELETE", urlsplit(self.path).path)

        def _control(self, method: str, path: str) -> None:
            n = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(n) if n else b""  # read even when refused: the connection is kept alive
            if (method, path) not in CONTROL:
                return self._send(Answer(404, {"error": f"no control {method} {path}"}))
            try:
                CONTROL[method, path](ex, json.loads(raw or b"{}"))
            except (ValueError, TypeError, KeyError) as exc:
                return self._send(Answer(400, {"error": f"{type(exc).__name__}: {exc}"}))
            self._send(Answer(200, ex.state()))

    return Handler
