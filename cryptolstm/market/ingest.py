"""Ingest closed daily candles into PostgreSQL, one coin and one data interval at a time.

For an Airflow data interval [start, end) and a coin, `ingest_coin`:
1. finds where to start: the whole history when the coin has no candle yet (bootstrap), else
   `overlap_days` before `start` — earlier when the stored series stops before that (catch-up) or an
   earlier run reported a day missing that is still not stored (gaps are asked again);
2. fetches through the exchange edge (`market.exchange`: paging, retries, bans); a ban (HTTP 418) is
   never retried: it is recorded in `exchange_bans` with its end (Retry-After), and until then no
   ingestion asks the exchange (the coins after it, the day's other ingest tasks);
3. validates every row (`candles.check_candles`) as of `end` — a candle not closed by `end` is never
   stored — and writes candles, rejects and the `ingest_runs` row in ONE transaction.

A failing coin is reported (status 'failed', error) and recorded; it never stops the other coins.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, timedelta, timezone

import ccxt
import psycopg2

from cryptolstm import storage
from cryptolstm.config import IngestConfig, MarketConfig, RetryConfig  # noqa: F401 (importable from here)
from cryptolstm.market import bans, candles
from cryptolstm.market.candles import DAY_MS, day_to_ms, ms_to_day, utc
from cryptolstm.market.exchange import Exchange, IpBanned, Klines, PaginationError, RetriesExhausted

log = logging.getLogger(__name__)

STATUSES = ("ok", "partial", "failed", "inactive")


@dataclass
class IngestReport:
    """What one ingestion of (coin, interval) did; `to_dict()` is its JSON-able form."""

    coin: str
    symbol: str  # ccxt symbol, e.g. BTC/USDT
    interval_start: datetime
    interval_end: datetime
    from_day: date | None = None  # first day requested; None: the whole history (bootstrap)
    bootstrap: bool = False
    status: str = "failed"  # one of STATUSES
    requests: int = 0  # klines tries
    fetched: int = 0  # rows received
    stored: int = 0  # new days
    revised: int = 0  # stored days whose values changed
    rejected: int = 0
    still_open: int = 0  # rows of the day still open at the interval end (dropped, not rejected)
    missing_days: list[date] = field(default_factory=list)
    error: str | None = None
    inactive: str | None = None  # why, when the exchange no longer trades the pair
    level_shift: str | None = None  # the quarantine's advice when quarantined closes held a new level
    banned: bool = False  # the exchange banned this IP (HTTP 418): now, or a ban in force kept it from asking
    banned_until: datetime | None = None  # when the ban ends (its Retry-After; else the end of its UTC day)
    ban_recorded: bool = False  # this ingestion met the ban and recorded it (False: it was already known)

    def to_dict(self) -> dict:
        """JSON-able: ISO days and instants; `inactive` and the ban only when set."""
        out = asdict(self)
        out.update(interval_start=self.interval_start.isoformat(), interval_end=self.interval_end.isoformat(),
                   from_day=self.from_day and self.from_day.isoformat(),
                   missing_days=[d.isoformat() for d in self.missing_days],
                   banned_until=self.banned_until and self.banned_until.isoformat())
        for optional in ("inactive", "level_shift"):
            if out[optional] is None:
                del out[optional]
        if not self.banned:
            del out["banned"], out["banned_until"], out["ban_recorded"]
        return out


@dataclass
class Fetched:
    """The exchange's answer for one coin: its klines (None when the fetch failed) and its listing."""

    klines: Klines
    ok: bool = False  # the since-loop finished
    trading: bool = True  # False when the exchange lists the pair as not trading (Binance status BREAK)
    unlisted: str | None = None  # what the exchange said when it stopped listing the pair
    ban: IpBanned | None = None


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


def _check_interval(start: datetime, end: datetime) -> None:
    if not start < end:
        raise ValueError(f"empty data interval [{start}, {end})")
    if end > datetime.now(timezone.utc):
        raise ValueError(f"interval end {end.isoformat()} is in the future: its last day has not closed")


def ingest_coin(dsn: str, market: MarketConfig, coin: str, start: datetime, end: datetime, *,
                config: IngestConfig = IngestConfig(), exchange: Exchange | None = None) -> IngestReport:
    """Ingest one coin for the data interval [start, end) in one transaction; return its report.

    A pair the exchange stopped trading (a delisting) is 'inactive', not 'failed', when its history is
    stored or still served: either exchangeInfo no longer lists it (ccxt BadSymbol, -1121) and candles
    of it are stored, or it is listed as not trading (Binance status BREAK) and no candle came for the
    last closed day. The coin is marked inactive in `coins`; its candles stay, its history is still
    fetched while the exchange serves it, and it becomes active again if it trades again.
    """
    start, end = utc(start), utc(end)
    _check_interval(start, end)
    with storage.transaction(dsn) as cur:
        first_day, last_day, first_missing = candles.ingest_state(cur, coin)
        ban = bans.in_force(cur, market.exchange)
    from_day = _start_day(last_day, first_missing, start, market.overlap_days)
    report = IngestReport(coin, f"{coin}/{market.quote}", start, end, from_day, bootstrap=from_day is None)
    if ban is not None:  # every request during a ban lengthens it
        report.banned, report.banned_until = True, ban.until
        report.error = f"not asked: {ban}"
        _record_failure(dsn, report)
        return report
    fetched = _fetch(exchange or Exchange(market, config), report, has_history=last_day is not None)
    try:
        with storage.transaction(dsn) as cur:
            _write(cur, report, fetched, market, first_day, last_day)
    except psycopg2.Error as exc:
        # Nothing of this interval was committed; say so with the real cause and what was fetched.
        report.status, report.stored, report.revised = "failed", 0, 0
        report.error = ("database failed while storing this interval (nothing stored): "
                        f"{type(exc).__name__}: {' '.join(str(exc).split())}")
        log.error("%s [%s, %s): %s", report.symbol, start.date(), end.date(), report.error)
        _record_failure(dsn, report)
    return report


def _fetch(exchange: Exchange, report: IngestReport, *, has_history: bool) -> Fetched:
    """Ask the exchange for the report's coin from `report.from_day`; failures land in `report.error`."""
    out = Fetched(Klines())
    symbol, end_ms = report.symbol, int(report.interval_end.timestamp() * 1000)
    try:
        exchange.load_markets()
        try:
            out.trading = exchange.trading(symbol)  # BadSymbol here: not listed at all
            since_ms = 0 if report.from_day is None else day_to_ms(report.from_day)
            exchange.fetch_daily(symbol, since_ms, end_ms, out.klines)
            out.ok = True
        except ccxt.BadSymbol as exc:
            if not has_history or not exchange.unlisted_now(symbol):
                raise  # never stored (unknown symbol, a typo), or listed and trading: a plain failure
            out.unlisted = f"{type(exc).__name__}: {exc}"
    except (ccxt.BaseError, RetriesExhausted, PaginationError) as exc:
        out.ban = exc if isinstance(exc, IpBanned) else None
        report.error = f"{type(exc).__name__}: {exc}"
        log.error("%s [%s, %s): %s", symbol, report.interval_start.date(), report.interval_end.date(), report.error)
    report.requests = out.klines.requests
    report.fetched = len(out.klines.rows) if out.ok else 0
    return out


def _write(cur, report: IngestReport, fetched: Fetched, market: MarketConfig, first_day: date | None,
           last_day: date | None) -> None:
    """Everything one ingestion writes, in its one transaction: the ban it met, candles and rejects, the
    coin's listing, and the `ingest_runs` row."""
    if fetched.ban is not None:
        _record_ban(cur, report, market.exchange, fetched.ban)
    if fetched.ok:
        unlisted = _store(cur, report, fetched, market, first_day, last_day)
    else:
        unlisted = fetched.unlisted
        candles.record_rejects(cur, report.coin, report.interval_start, report.interval_end,
                               _bad_payloads(fetched.klines))
        report.rejected = len(fetched.klines.malformed)
    if unlisted is not None:
        _mark_inactive(cur, report, market, unlisted)
    _record_run(cur, report)


def _bad_payloads(klines: Klines) -> list[candles.Reject]:
    """A 200 that was not JSON is bad input even when a retry then succeeded: kept for the audit."""
    return [candles.Reject("malformed payload: not a JSON list of rows", {"body": m}) for m in klines.malformed]


def _store(cur, report: IngestReport, fetched: Fetched, market: MarketConfig, first_day: date | None,
           last_day: date | None) -> str | None:
    """Check and store what was fetched, fill the report's counts; why the pair is unlisted, or None."""
    coin, rows = report.coin, fetched.klines.rows
    end_ms = int(report.interval_end.timestamp() * 1000)
    last_closed = ms_to_day(end_ms - DAY_MS)  # last day with open + 1 day <= end
    days = [ms_to_day(r[0]) for r in rows if isinstance(r, (list, tuple)) and r
            and isinstance(r[0], int) and not isinstance(r[0], bool)]
    reference = candles.closes_around(cur, coin, min(days), max(days)) if days else {}
    checked = candles.check_candles(rows, end_ms, fetched.klines.raw, reference=reference,
                                    max_jump=market.max_close_jump, shift_days=market.level_shift_days,
                                    breaks=candles.level_shift_breaks(cur, coin), coin=coin)
    if checked.level_shift is not None:
        report.level_shift = checked.level_shift.advice(coin)
        log.warning("%s: %s", report.symbol, report.level_shift)
    rejects = checked.rejects + _bad_payloads(fetched.klines)
    if checked.good:
        candles.register_coin(cur, coin, report.symbol, market.exchange)
    report.stored, report.revised = candles.upsert_candles(cur, coin, checked.good, report.interval_end)
    candles.record_rejects(cur, coin, report.interval_start, report.interval_end, rejects)
    seen = [k.day for k in checked.good] + [r.day for r in checked.rejects if r.day]
    # A pair the exchange no longer trades and that sent nothing for the last closed day has ended:
    # the days after its last candle are not gaps.
    ended = not fetched.trading and last_closed not in seen
    first, last = _expected_span(report.from_day, first_day, last_day, seen, last_closed, ended)
    missing = candles.missing_days(first, last, candles.stored_days(cur, coin, first, last))
    report.rejected, report.still_open, report.missing_days = len(rejects), checked.still_open, missing
    report.status = "partial" if missing or checked.rejects else "ok"
    if ended and (checked.good or last_day is not None):
        return f"listed as not trading (ccxt market active = false) and no candle for {last_closed}"
    if checked.good and candles.mark_active_if_traded(cur, coin):
        log.warning("%s: %s trades it again: marked active", report.symbol, market.exchange)
    return None


def _expected_span(from_day: date | None, first_day: date | None, last_day: date | None, seen: list[date],
                   last_closed: date, ended: bool) -> tuple[date, date]:
    """[first, last] days that should be stored: from the first requested day, but not before the coin's
    history starts (the first stored day, or on a bootstrap the first day the exchange sent), through the
    last closed day — or, for a pair that has ended, its last candle."""
    if from_day is not None:
        first = max(from_day, first_day)
    else:
        first = min(seen) if seen else last_closed + timedelta(days=1)
    if not ended:
        return first, last_closed
    return first, max([*seen, *([last_day] if last_day else [])], default=first - timedelta(days=1))


def _mark_inactive(cur, report: IngestReport, market: MarketConfig, why: str) -> None:
    """Report the coin inactive and mark it so in `coins` (its candles stay), with one clear log line."""
    since = candles.mark_inactive(cur, report.coin, why)
    last, n = candles.extent(cur, report.coin)
    report.status, report.error, report.inactive = "inactive", None, why
    log.warning("%s: %s no longer trades it (%s): %s; its %d stored days through %s are kept", report.symbol,
                market.exchange, why, "marked inactive" if since else "still inactive", n, last)


def ingest_interval(dsn: str, market: MarketConfig, start: datetime, end: datetime,
                    coins: list[str] | tuple[str, ...] | None = None, *,
                    config: IngestConfig = IngestConfig()) -> list[IngestReport]:
    """`ingest_coin` for every coin (default: the training universe, served + auxiliary) with one shared client.

    A failing coin never stops the others, except an IP ban (HTTP 418): the coins after it are
    reported failed without a request while the ban is in force (see `ingest_coin`).
    """
    reports: list[IngestReport] = []
    exchange = None
    for coin in coins or market.universe():
        try:
            exchange = exchange or Exchange(market, config)
            reports.append(ingest_coin(dsn, market, coin, start, end, config=config, exchange=exchange))
        except Exception as exc:  # e.g. the database is unreachable: this coin fails, the next one still runs
            log.exception("%s: ingestion failed", coin)
            reports.append(_failed_report(coin, market, start, end, f"{type(exc).__name__}: {exc}"))
    return reports


def _failed_report(coin: str, market: MarketConfig, start: datetime, end: datetime, error: str) -> IngestReport:
    return IngestReport(coin, f"{coin}/{market.quote}", utc(start), utc(end), error=error)


def _record_ban(cur, report: IngestReport, exchange: str, exc: IpBanned) -> None:
    """Record the ban the report's coin met (`bans.record`) and put it in the report."""
    report.banned = True
    report.ban_recorded, ban = bans.record(cur, exchange, report.coin, report.interval_start, report.interval_end,
                                           exc)
    report.banned_until = ban.until
    log.error("%s: %s", report.symbol, ban)


def _record_run(cur, report: IngestReport) -> None:
    """Log one ingestion attempt of (coin, interval) in ingest_runs (attempt = the next number)."""
    cur.execute(storage.query("ingest_runs_insert"), {
        k: getattr(report, k) for k in ("coin", "interval_start", "interval_end", "status", "requests", "fetched",
                                        "stored", "revised", "rejected", "missing_days", "error")})


def _record_failure(dsn: str, report: IngestReport) -> None:
    """Best effort: log a failed run in ingest_runs; when the database is down too, the log line must do."""
    try:
        with storage.transaction(dsn) as cur:
            _record_run(cur, report)
    except psycopg2.Error as exc:
        log.error("%s: could not record the failed run either: %s: %s", report.coin, type(exc).__name__,
                  " ".join(str(exc).split()))
