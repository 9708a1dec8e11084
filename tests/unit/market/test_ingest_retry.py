"""Retry policy (cryptolstm.market.exchange) and where an ingestion starts (cryptolstm.market.ingest): pure parts."""

import random
from datetime import date, datetime, timezone

import ccxt
import pytest

from cryptolstm.config import RetryConfig
from cryptolstm.market.exchange import (IpBanned, MalformedPayload, RateLimited, RetriesExhausted, backoff_delay,
                                        call_with_retry, retry_after_seconds)
from cryptolstm.market.ingest import _start_day

RETRY = RetryConfig(attempts=4, base_delay=1.0, max_delay=3.0, jitter=0.5)


def test_backoff_doubles_is_capped_and_jittered_downwards_only():
    rng = random.Random(0)
    for attempt, full in [(1, 1.0), (2, 2.0), (3, 3.0), (9, 3.0)]:
        delays = [backoff_delay(attempt, RETRY, rng) for _ in range(200)]
        assert all(full * 0.5 <= d <= full for d in delays)
        assert max(delays) - min(delays) > 0.1 * full  # jitter actually spreads the pauses
    no_jitter = RetryConfig(base_delay=0.2, max_delay=10, jitter=0.0)
    assert [backoff_delay(a, no_jitter, rng) for a in (1, 2, 3)] == [0.2, 0.4, 0.8]


class Flaky:
    """Raises the given errors in order, then returns 'ok'; counts calls."""

    def __init__(self, *errors):
        self.errors, self.calls = list(errors), 0

    def __call__(self):
        self.calls += 1
        if self.errors:
            raise self.errors.pop(0)
        return "ok"


@pytest.mark.parametrize("exc", [ccxt.DDoSProtection("429"), ccxt.OperationFailed("500"),
                                 ccxt.ExchangeNotAvailable("502"), ccxt.RequestTimeout("t"),
                                 ccxt.NetworkError("reset"), MalformedPayload("<html>")])
def test_transient_errors_are_retried_with_pauses(exc):
    pauses = []
    fn = Flaky(exc, exc)
    assert call_with_retry(fn, RETRY, sleep=pauses.append, rng=random.Random(1)) == "ok"
    assert fn.calls == 3 and len(pauses) == 2 and pauses[1] > pauses[0] * 0.9


def test_retries_are_bounded_and_the_error_says_so():
    pauses = []
    fn = Flaky(*[ccxt.DDoSProtection("binance 429")] * 10)
    with pytest.raises(RetriesExhausted, match=r"BTC/USDT klines: gave up after 4 attempts: DDoSProtection"):
        call_with_retry(fn, RETRY, what="BTC/USDT klines", sleep=pauses.append)
    assert fn.calls == 4 and len(pauses) == 3


@pytest.mark.parametrize("exc", [ccxt.BadSymbol("-1121"), ccxt.BadRequest("-1100"), ccxt.ExchangeError("x"),
                                 ValueError("a bug")])
def test_permanent_errors_are_not_retried(exc):
    fn = Flaky(exc)
    with pytest.raises(type(exc)):
        call_with_retry(fn, RETRY, sleep=lambda s: pytest.fail("must not pause"))
    assert fn.calls == 1


def test_start_day():
    start = datetime(2025, 2, 11, tzinfo=timezone.utc)
    assert _start_day(None, None, start, 3) is None  # nothing stored: bootstrap the whole history
    assert _start_day(date(2025, 2, 10), None, start, 3) == date(2025, 2, 8)  # overlap
    assert _start_day(date(2025, 1, 30), None, start, 3) == date(2025, 1, 31)  # catch up after a lag
    assert _start_day(date(2025, 2, 10), date(2024, 12, 1), start, 3) == date(2024, 12, 1)  # old gap
    assert _start_day(date(2025, 2, 20), None, start, 0) == date(2025, 2, 11)  # back-fill of an old interval


def test_a_ban_is_not_retried_and_a_rate_limit_waits_retry_after_within_its_bound():
    pauses = []
    fn = Flaky(IpBanned("418"))
    with pytest.raises(IpBanned):
        call_with_retry(fn, RETRY, sleep=pauses.append)
    assert fn.calls == 1 and pauses == []
    fn = Flaky(RateLimited("429", retry_after=7.0), RateLimited("429"))  # the 2nd sent no Retry-After
    assert call_with_retry(fn, RETRY, sleep=pauses.append, rng=random.Random(1)) == "ok"
    assert pauses[0] == 7.0 and 0.5 <= pauses[1] <= 2.0  # then the own backoff of try 2
    fn = Flaky(RateLimited("429", retry_after=RETRY.max_retry_after + 1))
    with pytest.raises(RetriesExhausted, match="Retry-After 61 s, beyond the 60 s this run waits"):
        call_with_retry(fn, RETRY, sleep=pauses.append)
    assert fn.calls == 1 and len(pauses) == 2


def test_retry_after_header_forms():
    assert retry_after_seconds("12") == 12.0 and retry_after_seconds("0.5") == 0.5
    assert retry_after_seconds(None) is None and retry_after_seconds("soon") is None
    now = datetime(2025, 2, 1, 12, 0, tzinfo=timezone.utc).timestamp()
    assert retry_after_seconds("Sat, 01 Feb 2025 12:00:30 GMT", now=now) == 30.0
    assert retry_after_seconds("Sat, 01 Feb 2025 11:00:00 GMT", now=now) == 0.0  # in the past: no wait
