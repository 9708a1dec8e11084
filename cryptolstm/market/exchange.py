"""The exchange edge: daily klines through ccxt, with retries and bans told apart. No storage here.

- Pages with its own since-loop (limit 1000, `endTime = end - 1 ms`); ccxt's `paginate=True` plans its
  windows from the real clock, which is wrong for a replayed or back-filled interval.
- Retries transient failures only (ccxt's `OperationFailed` family, and a 200 whose body is not JSON),
  with bounded exponential backoff and jitter, or after the server's Retry-After on a 429 (bounded by
  `RetryConfig.max_retry_after`). An `ExchangeError` (bad symbol, bad request) is permanent, and so is an
  HTTP 418 (an IP ban, which retrying only lengthens).
- ccxt raises `DDoSProtection` for both a 418 and a 429 and drops their Retry-After header, so the client
  is built on a `requests` session that remembers the last response's status and headers; a
  `DDoSProtection` is then turned into `IpBanned` (418) or `RateLimited` (429) by `Exchange.attempt`.
"""

from __future__ import annotations

import logging
import random
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from email.utils import parsedate_to_datetime
from typing import Callable, TypeVar

import ccxt
import requests

from cryptolstm.config import IngestConfig, MarketConfig, RetryConfig
from cryptolstm.market.candles import DAY_MS, ms_to_day

log = logging.getLogger(__name__)

T = TypeVar("T")
BAN_STATUS = 418  # Binance: IP banned after ignored 429s
RATE_LIMIT_STATUS = 429  # Binance: too many requests, wait Retry-After


class MalformedPayload(Exception):
    """The exchange answered 200 with a body that is not a JSON list of rows (ccxt does not notice)."""


class RetriesExhausted(Exception):
    """A transient failure lasted through every attempt."""


class PaginationError(Exception):
    """The since-loop did not reach the interval end within `max_pages`."""


class IpBanned(ccxt.ExchangeError):
    """HTTP 418: the exchange banned this IP (after ignored 429s). Permanent for this run: never retried."""

    def __init__(self, message: str, retry_after: float | None = None):
        super().__init__(message)
        self.retry_after = retry_after  # seconds the server said the ban lasts (None: it did not say)
        self.until = None if retry_after is None else (
            datetime.now(timezone.utc) + timedelta(seconds=retry_after))


class RateLimited(ccxt.DDoSProtection):
    """HTTP 429, with the server's Retry-After in seconds (None when it sent none). Transient."""

    def __init__(self, message: str, retry_after: float | None = None):
        super().__init__(message)
        self.retry_after = retry_after


TRANSIENT = (ccxt.OperationFailed, MalformedPayload)  # ccxt.ExchangeError is a separate branch: permanent


def retry_after_seconds(value: str | None, now: float | None = None) -> float | None:
    """A Retry-After header (delta seconds or an HTTP date) in seconds from now; None if absent or unreadable."""
    if value is None or not str(value).strip():
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(str(value)).timestamp()
    except (TypeError, ValueError):
        return None
    return max(0.0, when - (time.time() if now is None else now))


def backoff_delay(attempt: int, retry: RetryConfig, rng: random.Random) -> float:
    """Pause after failed try number `attempt` (1-based): min(max, base * 2**(attempt-1)) with jitter."""
    delay = min(retry.max_delay, retry.base_delay * 2 ** (attempt - 1))
    return delay * (1 - retry.jitter * rng.random())


def call_with_retry(fn: Callable[[], T], retry: RetryConfig, *, what: str = "request", sleep=time.sleep,
                    rng: random.Random | None = None) -> T:
    """fn() with up to `retry.attempts` tries on TRANSIENT errors; other errors propagate at once."""
    rng = rng or random.Random()
    for attempt in range(1, retry.attempts + 1):
        try:
            return fn()
        except TRANSIENT as exc:
            wait = getattr(exc, "retry_after", None)  # the server said how long (a 429's Retry-After)
            if wait is not None and wait > retry.max_retry_after:
                raise RetriesExhausted(
                    f"{what}: rate limited with Retry-After {wait:g} s, beyond the {retry.max_retry_after:g} s "
                    f"this run waits (try {attempt}): {type(exc).__name__}: {exc}") from exc
            if attempt == retry.attempts:
                raise RetriesExhausted(
                    f"{what}: gave up after {attempt} attempts: {type(exc).__name__}: {exc}") from exc
            pause = backoff_delay(attempt, retry, rng) if wait is None else wait
            log.warning("%s: %s (try %d/%d), retrying in %.2fs%s", what, type(exc).__name__, attempt,
                        retry.attempts, pause, "" if wait is None else " (the server's Retry-After)")
            sleep(pause)


class ResponseMemory(requests.Session):
    """A `requests` session that remembers the status, reason and headers of its last response (ccxt keeps
    the headers but not the status, and a 418 must be told from a 429)."""

    def __init__(self) -> None:
        super().__init__()
        self.trust_env = False  # as the session ccxt makes itself: no proxy or .netrc from the environment
        self.last_status: int | None = None
        self.last_reason: str = ""
        self.last_headers: dict = {}
        self.hooks["response"].append(self._remember)

    def _remember(self, response: requests.Response, *args, **kwargs) -> None:
        self.last_status, self.last_reason = response.status_code, response.reason or ""
        self.last_headers = dict(response.headers)


def make_client(market: MarketConfig, config: IngestConfig = IngestConfig()) -> ccxt.Exchange:
    """A ccxt client for `market.exchange`, pointed at `market.api_url` when set (e.g. the stand-in).

    Against a stand-in the rate limiter is off (nothing to protect, and it would slow tests).
    """
    cls = getattr(ccxt, market.exchange, None)
    if cls is None:
        raise ValueError(f"unknown ccxt exchange id {market.exchange!r}")
    opts = {"enableRateLimit": market.api_url is None, "timeout": config.timeout_ms,
            "enableLastJsonResponse": True,  # we check the raw payload ccxt parsed
            "session": ResponseMemory()}
    if market.exchange == "binance":
        # Only GET /api/v3/exchangeInfo in load_markets (no futures, margin or currency endpoints).
        opts["options"] = {"fetchMarkets": {"types": ["spot"]}, "fetchMargins": False,
                           "fetchCurrencies": False}
    client = cls(opts)
    if market.api_url:
        _point_at(client, market.api_url)
    return client


def _point_at(client: ccxt.Exchange, api_url: str) -> None:
    """Send the public REST calls to `api_url` (a root like http://127.0.0.1:8765)."""
    if client.id != "binance":
        raise ValueError("api_url override is implemented for binance-compatible servers only")
    root = api_url.rstrip("/").removesuffix("/api/v3")
    # After construction: passing `urls` to the constructor merges with the real hosts.
    client.urls["api"] = {"public": root + "/api/v3"}
    # ccxt maps Binance's spot error codes only for URLs on the real host; apply them here too, so the
    # stand-in's -1008 is an OperationFailed (transient) as it is live.
    spot = client.exceptions.get("spot", {})
    client.get_exceptions_by_url = lambda url, kind: spot.get(kind, {}) if url and url.startswith(root) else {}


@dataclass
class Klines:
    """What a since-loop fetched: ccxt's unified rows, the exchange's raw rows, and how it went."""

    rows: list = field(default_factory=list)  # [open ms, open, high, low, close, volume]
    raw: list = field(default_factory=list)  # the exchange's own rows, for the audit of rejects
    requests: int = 0  # klines tries, failed ones included
    malformed: list[str] = field(default_factory=list)  # bodies of 200 answers that were not JSON lists


class Exchange:
    """One exchange's public daily klines and markets through ccxt: retries, paging, bans. No storage."""

    def __init__(self, market: MarketConfig, config: IngestConfig = IngestConfig(),
                 client: ccxt.Exchange | None = None):
        self.market, self.config = market, config
        self.client = client or make_client(market, config)

    def attempt(self, fn: Callable[..., T], *args) -> T:
        """One request `fn(*args)`; ccxt's DDoSProtection becomes IpBanned (418) or RateLimited (429)."""
        try:
            return fn(*args)
        except ccxt.DDoSProtection as exc:
            told = self._ban_or_limit(exc)
            if told is exc:
                raise
            raise told from exc

    def _ban_or_limit(self, exc: ccxt.DDoSProtection) -> ccxt.BaseError:
        """The IpBanned or RateLimited that a DDoSProtection stands for (itself for other statuses)."""
        session = self.client.session
        status = getattr(session, "last_status", None)
        if status not in (BAN_STATUS, RATE_LIMIT_STATUS):
            return exc  # e.g. Binance's JSON code -1003 on another status: ccxt's own class stays
        wait = retry_after_seconds(session.last_headers.get("Retry-After"))
        text = f"{self.client.id} HTTP {status} {session.last_reason}: {(self.client.last_http_response or '')[:200]}"
        if status == BAN_STATUS:
            return IpBanned(f"{text} (IP banned{'' if wait is None else f' for {wait:g} s'}; not retried)", wait)
        return RateLimited(text, wait)

    def call(self, fn: Callable[..., T], *args, what: str) -> T:
        """`attempt(fn, *args)` with the configured retries."""
        return call_with_retry(lambda: self.attempt(fn, *args), self.config.retry, what=what)

    def load_markets(self, reload: bool = False) -> dict:
        return self.call(self.client.load_markets, reload, what=f"{self.market.exchange} markets"
                         + (" (reload)" if reload else ""))

    def trading(self, symbol: str) -> bool:
        """False when the markets list `symbol` as not trading (Binance status BREAK); BadSymbol if unlisted."""
        return self.client.market(symbol).get("active") is not False

    def unlisted_now(self, symbol: str) -> bool:
        """After a BadSymbol: does the exchange (markets reloaded) no longer list `symbol` as trading?
        A -1121 for a pair that exchangeInfo still lists as trading is an error, not a delisting."""
        if symbol not in self.client.markets:
            return True  # the BadSymbol came from the markets we just loaded
        try:
            markets = self.load_markets(reload=True)
        except (ccxt.BaseError, RetriesExhausted):
            return False
        return symbol not in markets or markets[symbol].get("active") is False

    def fetch_time(self) -> int:
        """The exchange's clock in ms (one request, no retry): a reachability probe."""
        return self.attempt(self.client.fetch_time)

    def _page(self, symbol: str, since_ms: int, end_ms: int) -> tuple[list, list]:
        """One klines request: (ccxt unified rows, the exchange's raw rows). Raises MalformedPayload."""
        self.client.last_json_response = None
        rows = self.attempt(self.client.fetch_ohlcv, symbol, "1d", since_ms, self.config.page_limit,
                            {"until": end_ms - 1})
        payload = self.client.last_json_response
        if not isinstance(payload, list):
            body = (self.client.last_http_response or "")[:300]
            raise MalformedPayload(f"klines answer is not a JSON list: {body!r}")
        return rows, payload

    def fetch_daily(self, symbol: str, since_ms: int, end_ms: int, out: Klines | None = None) -> Klines:
        """All daily rows with open time in [since, end) via a since-loop, into `out` (tries counted there
        even when this raises).

        Stops on a short page or once the last day closed by `end` arrived, so a full bootstrap of
        N days costs ceil(N / 1000) requests and an incremental day one.
        """
        out = Klines() if out is None else out
        since = since_ms

        def page() -> tuple[list, list]:
            out.requests += 1
            try:
                return self._page(symbol, since, end_ms)
            except MalformedPayload as exc:
                out.malformed.append(str(exc))
                raise

        for _ in range(self.config.max_pages):
            got, got_raw = call_with_retry(page, self.config.retry, what=f"{symbol} klines since {ms_to_day(since)}")
            out.rows += got
            out.raw += got_raw
            stamps = [r[0] for r in got if isinstance(r[0], int)]
            if not stamps or len(got_raw) < self.config.page_limit:
                return out
            last = max(stamps)
            if last + DAY_MS >= end_ms or last < since:  # reached the last day closed by `end`, or no progress
                return out
            since = last + DAY_MS
        raise PaginationError(f"{symbol}: pagination did not finish within {self.config.max_pages} pages")
