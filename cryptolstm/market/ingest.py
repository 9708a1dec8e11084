"""Ingest closed daily candles through ccxt into PostgreSQL, one coin and one data interval at a time.

For an Airflow data interval [start, end) and a coin, `ingest_coin`:
1. finds where to start: the whole history when the coin has no candle yet (bootstrap), else
   `overlap_days` before `start` — earlier when the stored series stops before that (catch-up) or an
   earlier run reported a day missing that is still not stored (gaps are asked again);
2. pages with its own since-loop (limit 1000, `endTime = end - 1 ms`); ccxt's `paginate=True` plans its
   windows from the real clock, which is wrong for a replayed or back-filled interval;
3. retries transient failures only (ccxt `OperationFailed` family, and a 200 whose body is not JSON),
   with bounded exponential backoff and jitter, or after the server's Retry-After on a 429 (bounded by
   `RetryConfig.max_retry_after`); an `ExchangeError` (bad symbol, bad request) fails the coin at once,
   and so does an HTTP 418 (an IP ban, which retrying only lengthens): the coins after it in the same
   call are not asked at all;
4. validates every row (`candles.check_candles`) as of `end` — a candle not closed by `end` is never
   stored — and writes candles, rejects and the `ingest_runs` row in ONE transaction.

A failing coin is reported (status 'failed', error) and recorded; it never stops the other coins.
"""

from __future__ import annotations

import logging
import random
import time
from datetime import date, datetime, timedelta, timezone

import ccxt
import psycopg2

from cryptolstm.market import candles

from cryptolstm import storage
from cryptolstm.market.candles import DAY_MS, day_to_ms, ms_to_day, utc
from cryptolstm.config import IngestConfig, MarketConfig, RetryConfig  # noqa: F401 (importable from here)

log = logging.getLogger(__name__)


class MalformedPayload(Exception):
    """The exchange answered 200 with a body that is not a JSON list of rows (ccxt does not notice)."""


class RetriesExhausted(Exception):
    """A transient failure lasted through every attempt."""


class PaginationError(Exception):
    """The since-loop did not reach the interval end within `max_pages`."""


class IpBanned(ccxt.ExchangeError):
    """HTTP 418: the exchange banned this IP (after ignored 429s). Permanent for this run: never retried."""


class RateLimited(ccxt.DDoSProtection):
    """HTTP 429, with the server's Retry-After in seconds (None when it sent none). Transient."""

    def __init__(self, message: str, retry_after: float | None = None):
        super().__init__(message)
        self.retry_after = retry_after


class DatabaseFailure(Exception):
    """The database failed while an ingestion was storing what it fetched (nothing of it was committed)."""


TRANSIENT = (ccxt.OperationFailed, MalformedPayload)  # ccxt.ExchangeError is a separate branch: permanent


def retry_after_seconds(value: str | None, now: float | None = None) -> float | None:
    """A Retry-After header (delta seconds or an HTTP date) in seconds from now; None if absent or unreadable."""
    if value is None or not str(value).strip():
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    from email.utils import parsedate_to_datetime

    try:
        when = parsedate_to_datetime(str(value)).timestamp()
    except (TypeError, ValueError):
        return None
    return max(0.0, when - (time.time() if now is None else now))


def backoff_delay(attempt: int, retry: RetryConfig, rng: random.Random) -> float:
    """Pause after failed try number `attempt` (1-based): min(max, base * 2**(attempt-1)) with jitter."""
    delay = min(retry.max_delay, retry.base_delay * 2 ** (attempt - 1))
    return delay * (1 - retry.jitter * rng.random())


def call_with_retry(fn, retry: RetryConfig, *, what: str = "request", sleep=time.sleep,
                    rng: random.Random | None = None):
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


def make_client(market: MarketConfig, config: IngestConfig = IngestConfig()) -> "ccxt.Exchange":
    """A ccxt client for `market.exchange`, pointed at `market.api_url` when set (e.g. the stand-in).

    Against a stand-in the rate limiter is off (nothing to protect, and it would slow tests).
    """
    cls = getattr(ccxt, market.exchange, None)
    if cls is None:
        raise ValueError(f"unknown ccxt exchange id {market.exchange!r}")
    opts = {"enableRateLimit": market.api_url is None, "timeout": config.timeout_ms,
            "enableLastJsonResponse": True}  # we check the raw payload ccxt parsed
    if market.exchange == "binance":
        # Only GET /api/v3/exchangeInfo in load_markets (no futures, margin or currency endpoints).
        opts["options"] = {"fetchMarkets": {"types": ["spot"]}, "fetchMargins": False,
                           "fetchCurrencies": False}
    client = cls(opts)
    if market.api_url:
        _point_at(client, market.api_url)
    _classify_bans(client)
    return client


def _classify_bans(client) -> None:
    """Tell a 418 (IP ban: never retry) from a 429 (rate limit: wait Retry-After), which ccxt lumps
    together as DDoSProtection and whose Retry-After header it drops."""
    handle = client.handle_errors

    def handle_errors(code, reason, url, method, headers, body, *rest):
        if code in (418, 429):
            wait = retry_after_seconds((headers or {}).get("Retry-After"))
            text = f"{client.id} HTTP {code} {reason}: {(body or '')[:200]}"
            if code == 418:
                raise IpBanned(f"{text} (IP banned{'' if wait is None else f' for {wait:g} s'}; not retried)")
            raise RateLimited(text, wait)
        return handle(code, reason, url, method, headers, body, *rest)

    client.handle_errors = handle_errors


def _point_at(client, api_url: str) -> None:
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


def _fetch_page(client, symbol: str, since_ms: int, end_ms: int, limit: int) -> tuple[list, list]:
    """One klines request: (ccxt unified rows, the exchange's raw rows). Raises MalformedPayload."""
    client.last_json_response = None
    rows = client.fetch_ohlcv(symbol, "1d", since_ms, limit, {"until": end_ms - 1})
    payload = client.last_json_response
    if not isinstance(payload, list):
        body = (client.last_http_response or "")[:300]
        raise MalformedPayload(f"klines answer is not a JSON list: {body!r}")
    return rows, payload


def fetch_daily(client, symbol: str, since_ms: int, end_ms: int, config: IngestConfig,
                stats: dict) -> tuple[list, list]:
    """All daily rows with open time in [since, end) via a since-loop; counts tries in stats['requests'].

    Stops on a short page or once the last day closed by `end` arrived, so a full bootstrap of
    N days costs ceil(N / 1000) requests and an incremental day one.
    """
    rows: list = []
    raw: list = []
    since = since_ms

    def page():
        stats["requests"] += 1
        try:
            return _fetch_page(client, symbol, since, end_ms, config.page_limit)
        except MalformedPayload as exc:
            stats["malformed"].append(str(exc))
            raise

    for _ in range(config.max_pages):
        got, got_raw = call_with_retry(page, config.retry, what=f"{symbol} klines since {ms_to_day(since)}")
        rows += got
        raw += got_raw
        stamps = [r[0] for r in got if isinstance(r[0], int)]
        if not stamps or len(got_raw) < config.page_limit:
            return rows, raw
        last = max(stamps)
        if last + DAY_MS >= end_ms or last < since:  # reached the last day closed by `end`, or no progress
            return rows, raw
        since = last + DAY_MS
    raise PaginationError(f"{symbol}: pagination did not finish within {config.max_pages} pages")


def _start_day(last_day: date | None, first_missing: date | None, start: datetime,
               overlap_days: int) -> date | None:
    """First day to request: None (whole history) when nothing is stored, else the earliest of
    start - overlap, the day after the last stored one, and the earliest still-missing day."""
    if last_day is None:
        return None
    days = [start.date() - timedelta(days=overlap_days), last_day + timedelta(days=1)]
    if first_missing is not None:
        days.append(first_missing)
    return min(days)


def ingest_coin(dsn: str, market: MarketConfig, coin: str, start: datetime, end: datetime, *,
                config: IngestConfig = IngestConfig(), client=None) -> dict:
    """Ingest one coin for the data interval [start, end) in one transaction; return a JSON-able report.

    Report keys: coin, symbol, interval_start, interval_end, from_day, bootstrap, status
    ('ok' | 'partial' | 'failed' | 'inactive'), requests (klines tries), fetched, stored (new days),
    revised, rejected, still_open, missing_days (ISO days), error; `inactive` says why when the
    exchange no longer trades the pair.

    A pair the exchange stopped trading (a delisting) is 'inactive', not 'failed', when its history is
    stored or still served: either exchangeInfo no longer lists it (ccxt BadSymbol, -1121) and candles
    of it are stored, or it is listed as not trading (Binance status BREAK) and no candle came for the
    last closed day. The coin is marked inactive in `coins`; its candles stay, its history is still
    fetched while the exchange serves it, and it becomes active again if it trades again.
    """
    start, end = utc(start), utc(end)
    if not start < end:
        raise ValueError(f"empty data interval [{start}, {end})")
    if end > datetime.now(timezone.utc):
        raise ValueError(f"interval end {end.isoformat()} is in the future: its last day has not closed")
    end_ms = int(end.timestamp() * 1000)
    last_closed = ms_to_day(end_ms - DAY_MS)  # last day with open + 1 day <= end
    symbol = f"{coin}/{market.quote}"

    with storage.transaction(dsn) as cur:
        first_day, last_day, first_missing = candles.ingest_state(cur, coin)
    from_day = _start_day(last_day, first_missing, start, market.overlap_days)
    report = {"coin": coin, "symbol": symbol, "interval_start": start.isoformat(),
              "interval_end": end.isoformat(), "from_day": from_day and from_day.isoformat(),
              "bootstrap": from_day is None, "status": "failed", "requests": 0, "fetched": 0, "stored": 0,
              "revised": 0, "rejected": 0, "still_open": 0, "missing_days": [], "error": None}
    stats = {"requests": 0, "malformed": []}
    rows: list | None = None
    unlisted: str | None = None  # what the exchange said when it stopped listing the pair
    trading = True  # False when the exchange lists the pair as not trading (Binance status BREAK)
    try:
        client = client or make_client(market, config)
        call_with_retry(client.load_markets, config.retry, what=f"{market.exchange} markets")
        try:
            trading = client.market(symbol).get("active") is not False  # BadSymbol here: not listed at all
            since_ms = 0 if from_day is None else day_to_ms(from_day)
            rows, raw = fetch_daily(client, symbol, since_ms, end_ms, config, stats)
        except ccxt.BadSymbol as exc:
            if last_day is None or not _unlisted_now(client, symbol, config):
                raise  # never stored (unknown symbol, a typo), or listed and trading: a plain failure
            unlisted = f"{type(exc).__name__}: {exc}"
    except (ccxt.BaseError, RetriesExhausted, PaginationError) as exc:
        report["error"] = f"{type(exc).__name__}: {exc}"
        log.error("%s [%s, %s): %s", symbol, start.date(), end.date(), report["error"])
    report["requests"] = stats["requests"]
    report["fetched"] = 0 if rows is None else len(rows)

    # A 200 that was not JSON is bad input even when a retry then succeeded: keep it for the audit.
    bad_payloads = [candles.Reject("malformed payload: not a JSON list of rows", {"body": m})
                    for m in stats["malformed"]]
    try:
        with storage.transaction(dsn) as cur:
            if rows is not None:
                days = [ms_to_day(r[0]) for r in rows if isinstance(r, (list, tuple)) and r
                        and isinstance(r[0], int) and not isinstance(r[0], bool)]
                reference = candles.closes_around(cur, coin, min(days), max(days)) if days else {}
                checked = candles.check_candles(rows, end_ms, raw, reference=reference,
                                                max_jump=market.max_close_jump)
                rejects = checked.rejects + bad_payloads
                if checked.good:
                    candles.register_coin(cur, coin, symbol, market.exchange)
                report["stored"], report["revised"] = candles.upsert_candles(cur, coin, checked.good, end)
                candles.record_rejects(cur, coin, start, end, rejects)
                # Days that should be there: from the first requested day, but not before the coin's history
                # starts (the first stored day, or on a bootstrap the first day the exchange sent).
                seen = [k.day for k in checked.good] + [r.day for r in checked.rejects if r.day]
                if from_day is not None:
                    first = max(from_day, first_day)
                else:
                    first = min(seen) if seen else last_closed + timedelta(days=1)
                # A pair the exchange no longer trades and that sent nothing for the last closed day has
                # ended: the days after its last candle are not gaps.
                ended = not trading and last_closed not in seen
                last = max([*seen, *([last_day] if last_day else [])], default=first - timedelta(days=1)) \
                    if ended else last_closed
                present = candles.stored_days(cur, coin, first, last)
                missing = candles.missing_days(first, last, present)
                report.update(fetched=len(rows), rejected=len(rejects), still_open=checked.still_open,
                              missing_days=[d.isoformat() for d in missing],
                              status="partial" if missing or checked.rejects else "ok")
                if ended and (checked.good or last_day is not None):
                    unlisted = f"listed as not trading (ccxt market active = false) and no candle for {last_closed}"
                elif checked.good and candles.mark_active_if_traded(cur, coin):
                    log.warning("%s: %s trades it again: marked active", symbol, market.exchange)
            else:
                candles.record_rejects(cur, coin, start, end, bad_payloads)
                report["rejected"] = len(bad_payloads)
            if unlisted is not None:
                _mark_inactive(cur, report, market, unlisted)
            candles.record_run(cur, report)
    except psycopg2.Error as exc:
        # Nothing of this interval was committed; say so with the real cause and what was fetched.
        report.update(status="failed", stored=0, revised=0, error=(
            f"database failed while storing this interval (nothing stored): {type(exc).__name__}: "
            f"{' '.join(str(exc).split())}"))
        log.error("%s [%s, %s): %s", symbol, start.date(), end.date(), report["error"])
        _record_failure(dsn, report)
    return report


def _unlisted_now(client, symbol: str, config: IngestConfig) -> bool:
    """After a BadSymbol: does the exchange (markets reloaded) no longer list `symbol` as trading?
    A -1121 for a pair that exchangeInfo still lists as trading is an error, not a delisting."""
    if symbol not in client.markets:
        return True  # the BadSymbol came from the markets we just loaded
    try:
        markets = call_with_retry(lambda: client.load_markets(reload=True), config.retry, what="markets (reload)")
    except (ccxt.BaseError, RetriesExhausted):
        return False
    return symbol not in markets or markets[symbol].get("active") is False


def _mark_inactive(cur, report: dict, market: MarketConfig, why: str) -> None:
    """Report the coin inactive and mark it so in `coins` (its candles stay), with one clear log line."""
    coin, symbol = report["coin"], report["symbol"]
    since = candles.mark_inactive(cur, coin, why)
    cur.execute(storage.query("candles_select_extent"), {"coin": coin})
    last, n = cur.fetchone()
    report.update(status="inactive", error=None, inactive=why)
    log.warning("%s: %s no longer trades it (%s): %s; its %d stored days through %s are kept", symbol,
                market.exchange, why, "marked inactive" if since else "still inactive", n, last)


def ingest_interval(dsn: str, market: MarketConfig, start: datetime, end: datetime,
                    coins: list[str] | tuple[str, ...] | None = None, *,
                    config: IngestConfig = IngestConfig()) -> list[dict]:
    """`ingest_coin` for every coin (default: the training universe, served + auxiliary) with one shared client.

    A failing coin never stops the others, except an IP ban (HTTP 418): the coins after it are
    reported failed without a request, since every request during a ban lengthens it.
    """
    reports = []
    client = None
    banned = None
    for coin in coins or market.universe():
        if banned is not None:
            report = _failed_report(coin, market, start, end, f"not asked: the exchange banned this IP "
                                                              f"(HTTP 418) while ingesting {banned}")
            _record_failure(dsn, report)
            reports.append(report)
            continue
        try:
            client = client or make_client(market, config)
            reports.append(ingest_coin(dsn, market, coin, start, end, config=config, client=client))
            if (reports[-1].get("error") or "").startswith(IpBanned.__name__):
                banned = coin
        except Exception as exc:  # e.g. the database is unreachable: this coin fails, the next one still runs
            log.exception("%s: ingestion failed", coin)
            reports.append(_failed_report(coin, market, start, end, f"{type(exc).__name__}: {exc}"))
    return reports


def _failed_report(coin: str, market: MarketConfig, start: datetime, end: datetime, error: str) -> dict:
    return {"coin": coin, "symbol": f"{coin}/{market.quote}", "status": "failed",
            "interval_start": utc(start).isoformat(), "interval_end": utc(end).isoformat(), "from_day": None,
            "bootstrap": False, "requests": 0, "fetched": 0, "stored": 0, "revised": 0, "rejected": 0,
            "still_open": 0, "missing_days": [], "error": error}


def _record_failure(dsn: str, report: dict) -> None:
    """Best effort: log a failed run in ingest_runs; when the database is down too, the log line must do."""
    try:
        with storage.transaction(dsn) as cur:
            candles.record_run(cur, report)
    except psycopg2.Error as exc:
        log.error("%s: could not record the failed run either: %s: %s", report["coin"], type(exc).__name__,
                  " ".join(str(exc).split()))
