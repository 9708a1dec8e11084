"""The stand-in speaks Binance to the real ccxt client: klines semantics, clock, errors, faults, control."""

import csv
import json
import urllib.error
import urllib.request
from datetime import date

import ccxt
import pytest

from cryptolstm.market.candles import DAY_MS, day_to_ms
from cryptolstm.config import MarketConfig
from cryptolstm.market.exchange import Exchange, IpBanned, RateLimited, make_client
from cryptolstm.market.ingest import IngestConfig
from cryptolstm.runtime.standin import FAULT_KINDS, StandIn, StandInControl
from fault_settings import CLIENT_TIMEOUT_MS, SLOW_DELAY_S

FEB10 = day_to_ms(date(2025, 2, 10))


def get(url):
    """(status, parsed JSON or text) of a GET."""
    try:
        with urllib.request.urlopen(url, timeout=5) as resp:
            body, status = resp.read().decode(), resp.status
    except urllib.error.HTTPError as exc:
        body, status = exc.read().decode(), exc.code
    try:
        return status, json.loads(body)
    except ValueError:
        return status, body


def csv_rows(data_dir, symbol):
    with open(data_dir / f"{symbol}.csv", newline="") as f:
        return [r for r in csv.DictReader(f)]


@pytest.fixture
def client(standin):
    return make_client(MarketConfig(api_url=standin.url), IngestConfig(timeout_ms=CLIENT_TIMEOUT_MS))


def test_ccxt_loads_markets_and_fetches_exact_csv_values(standin, standin_data, client):
    client.load_markets()
    assert {f"{c}/USDT" for c in MarketConfig().coins} <= set(client.markets)
    rows = client.fetch_ohlcv("BTC/USDT", "1d", 0, 1000)
    expected = csv_rows(standin_data, "BTCUSDT")[:1000]
    assert len(rows) == 1000
    assert rows == [[day_to_ms(date.fromisoformat(r["date"])), float(r["open"]), float(r["high"]),
                     float(r["low"]), float(r["close"]), float(r["volume"])] for r in expected]
    assert standin.requests("exchangeInfo") == 1 and standin.requests("klines", "BTCUSDT") == 1


def test_klines_start_end_limit_semantics(standin):
    base = f"{standin.url}/api/v3/klines?symbol=ETHUSDT&interval=1d"
    status, rows = get(f"{base}&startTime={FEB10}&limit=3")
    assert status == 200 and [r[0] for r in rows] == [FEB10, FEB10 + DAY_MS, FEB10 + 2 * DAY_MS]
    assert rows[0][6] == FEB10 + DAY_MS - 1 and len(rows[0]) == 12  # Binance's 12-field row
    _, rows = get(f"{base}&startTime={FEB10}&endTime={FEB10 + DAY_MS}")
    assert [r[0] for r in rows] == [FEB10, FEB10 + DAY_MS]  # endTime bounds the open time, inclusive
    _, rows = get(f"{base}&endTime={FEB10}&limit=2")
    assert [r[0] for r in rows] == [FEB10 - DAY_MS, FEB10]  # only endTime: the latest rows up to it
    _, rows = get(base)
    assert len(rows) == 500 and rows[-1][0] == day_to_ms(date(2025, 2, 20))  # default limit, latest rows


@pytest.mark.parametrize("query, code", [
    ("symbol=NOPEUSDT&interval=1d", -1121), ("interval=1d", -1102), ("symbol=BTCUSDT&interval=1h", -1120),
    ("symbol=BTCUSDT&interval=1d&limit=1001", -1130), ("symbol=BTCUSDT&interval=1d&startTime=x", -1100),
])
def test_binance_style_errors(standin, query, code):
    status, body = get(f"{standin.url}/api/v3/klines?{query}")
    assert status == 400 and body["code"] == code and body["msg"]


def test_clock_serves_only_closed_days_plus_the_open_one(standin, standin_data):
    standin.set_clock("2025-02-10T06:00:00Z")
    _, rows = get(f"{standin.url}/api/v3/klines?symbol=BTCUSDT&interval=1d&startTime={FEB10 - 2 * DAY_MS}")
    assert [r[0] for r in rows] == [FEB10 - 2 * DAY_MS, FEB10 - DAY_MS, FEB10]
    # The day open at 06:00: a quarter of the way from its open to its close, a quarter of its volume.
    day = next(r for r in csv_rows(standin_data, "BTCUSDT") if r["date"] == "2025-02-10")
    o, c, v = float(day["open"]), float(day["close"]), float(day["volume"])
    close = o + (c - o) * 0.25
    assert [float(x) for x in rows[-1][1:6]] == [o, max(o, close), min(o, close), close, v * 0.25]
    assert float(rows[-1][4]) != c
    standin.serve_partial = False
    _, rows = get(f"{standin.url}/api/v3/klines?symbol=BTCUSDT&interval=1d&startTime={FEB10 - 2 * DAY_MS}")
    assert [r[0] for r in rows] == [FEB10 - 2 * DAY_MS, FEB10 - DAY_MS]
    assert get(f"{standin.url}/api/v3/time")[1] == {"serverTime": FEB10 + 6 * 3_600_000}


def test_follow_mode_clock_is_the_request_end_time(standin):
    standin.set_clock(None, follow=True)
    end = FEB10 + DAY_MS - 1  # what the ingester sends for the interval ending Feb 11
    _, rows = get(f"{standin.url}/api/v3/klines?symbol=BTCUSDT&interval=1d&startTime={FEB10 - DAY_MS}&endTime={end}")
    assert [r[0] for r in rows] == [FEB10 - DAY_MS, FEB10]


# What each fault looks like through the real ccxt client.
EXPECTED = {
    "429": RateLimited, "418": IpBanned, "500_json": ccxt.OperationFailed,
    "503_json": ccxt.OperationFailed, "500_html": ccxt.ExchangeNotAvailable,
    "502_html": ccxt.ExchangeNotAvailable, "504": ccxt.RequestTimeout, "slow": ccxt.RequestTimeout,
    "reset": ccxt.NetworkError, "unknown_symbol": ccxt.BadSymbol,
}


@pytest.mark.parametrize("kind", sorted(EXPECTED))
def test_http_faults_raise_the_expected_ccxt_error_once(standin, client, kind):
    client.load_markets()
    standin.inject(kind, symbol="BTCUSDT", delay=SLOW_DELAY_S)
    with pytest.raises(EXPECTED[kind]) as info:  # one try through the exchange edge, which tells 418 from 429
        exchange = Exchange(MarketConfig(api_url=standin.url), client=client)
        exchange.attempt(client.fetch_ohlcv, "BTC/USDT", "1d", FEB10, 3)
    transient = not isinstance(info.value, ccxt.ExchangeError)
    assert transient == (kind not in ("unknown_symbol", "418"))  # a ban is not retried
    assert len(client.fetch_ohlcv("BTC/USDT", "1d", FEB10, 3)) == 3  # times=1: the next request is fine
    assert standin.requests("klines", "BTCUSDT") == 2


def test_non_json_200_passes_silently_through_ccxt(standin, client):
    client.load_markets()
    standin.inject("non_json")
    assert client.fetch_ohlcv("BTC/USDT", "1d", FEB10, 3) == []  # why the ingester checks the payload
    assert "<html>" in client.last_http_response


def test_row_faults(standin, client):
    client.load_markets()
    standin.inject("duplicate_rows", symbol="ETHUSDT")
    _, rows = get(f"{standin.url}/api/v3/klines?symbol=ETHUSDT&interval=1d&startTime={FEB10}&limit=2")
    assert [r[0] for r in rows] == [FEB10, FEB10, FEB10 + DAY_MS, FEB10 + DAY_MS]
    standin.inject("out_of_order")
    _, rows = get(f"{standin.url}/api/v3/klines?symbol=ETHUSDT&interval=1d&startTime={FEB10}&limit=3")
    assert [r[0] for r in rows] == [FEB10 + 2 * DAY_MS, FEB10 + DAY_MS, FEB10]
    standin.inject("high_lt_low", day="2025-02-11")
    _, rows = get(f"{standin.url}/api/v3/klines?symbol=ETHUSDT&interval=1d&startTime={FEB10}&limit=2")
    assert float(rows[0][2]) >= float(rows[0][3]) and float(rows[1][2]) < float(rows[1][3])
    standin.inject("garbage_row")
    assert client.fetch_ohlcv("ETH/USDT", "1d", FEB10, 2)[0][1:] == [None] * 5
    standin.inject("conflicting_duplicate")
    _, rows = get(f"{standin.url}/api/v3/klines?symbol=ETHUSDT&interval=1d&startTime={FEB10}&limit=2")
    assert rows[0][0] == rows[1][0] and rows[0][4] != rows[1][4]


def test_faults_target_symbol_and_endpoint_and_count(standin, client):
    standin.inject("500_json", endpoint="exchangeInfo", times=2)
    with pytest.raises(ccxt.OperationFailed):
        client.load_markets(reload=True)
    with pytest.raises(ccxt.OperationFailed):
        client.load_markets(reload=True)
    client.load_markets(reload=True)
    standin.inject("429", symbol="ETHUSDT", times=None)  # until cleared
    assert client.fetch_ohlcv("BTC/USDT", "1d", FEB10, 1)
    for _ in range(3):
        with pytest.raises(ccxt.DDoSProtection):
            client.fetch_ohlcv("ETH/USDT", "1d", FEB10, 1)
    standin.clear_faults()
    assert client.fetch_ohlcv("ETH/USDT", "1d", FEB10, 1)
    assert standin.requests("exchangeInfo") == 3 and standin.requests("klines", "ETHUSDT") == 4
    with pytest.raises(ValueError, match="unknown fault kind"):
        standin.inject("meteor")


def test_http_control_endpoint(standin):
    ctl = StandInControl(standin.url)
    assert ctl.set_clock("2025-02-11")["now"] == "2025-02-11T00:00:00+00:00"
    _, rows = get(f"{standin.url}/api/v3/klines?symbol=BTCUSDT&interval=1d&startTime={FEB10}")
    assert [r[0] for r in rows] == [FEB10, FEB10 + DAY_MS]  # Feb 10 closed, Feb 11 open
    state = ctl.inject("429", symbol="BTCUSDT", times=1)
    assert state["faults"][0]["kind"] == "429"
    assert get(f"{standin.url}/api/v3/klines?symbol=BTCUSDT&interval=1d")[0] == 429
    ctl.set_candle("BTCUSDT", "2025-02-10", close="12345.6")
    _, rows = get(f"{standin.url}/api/v3/klines?symbol=BTCUSDT&interval=1d&startTime={FEB10}&limit=1")
    assert rows[0][4] == "12345.6"
    assert ctl.requests("klines", "BTCUSDT") == 3
    ctl.reset_stats()
    assert ctl.requests() == 0  # control calls are not counted, only exchange API calls
    with pytest.raises(urllib.error.HTTPError):
        ctl.inject("meteor")
    assert set(FAULT_KINDS) >= set(EXPECTED)


def test_refuses_a_directory_without_candles(tmp_path):
    with pytest.raises(ValueError, match="no \\*USDT.csv files"):
        StandIn(tmp_path)
    (tmp_path / "BTCUSDT.csv").write_text("day,o,h,l,c,v\n")
    with pytest.raises(ValueError, match="header must be"):
        StandIn(tmp_path)


def test_standin_command_runs_as_a_process_and_obeys_http_control(standin_data):
    import os
    import signal
    import subprocess
    import sys

    proc = subprocess.Popen([sys.executable, "-m", "cryptolstm.cli", "standin", "--data", str(standin_data),
                             "--port", "0", "--clock", "2025-02-11"],
                            stdout=subprocess.PIPE, text=True, start_new_session=True)
    try:
        first = proc.stdout.readline()
        assert "serving 9 symbols" in first
        url = first.rsplit(" at ", 1)[1].strip()
        ctl = StandInControl(url)
        assert ctl.state()["now"] == "2025-02-11T00:00:00+00:00"
        client = make_client(MarketConfig(api_url=url), IngestConfig(timeout_ms=2000))
        assert [r[0] for r in client.fetch_ohlcv("SOL/USDT", "1d", FEB10, 5)] == [FEB10, FEB10 + DAY_MS]
        ctl.inject("unknown_symbol", symbol="SOLUSDT")
        with pytest.raises(ccxt.BadSymbol):
            client.fetch_ohlcv("SOL/USDT", "1d", FEB10, 5)
        assert ctl.requests("klines", "SOLUSDT") == 2
    finally:
        os.killpg(proc.pid, signal.SIGINT)
        assert proc.wait(timeout=10) == 0
