"""Ingestion end to end: the real ccxt client over HTTP against the stand-in, real PostgreSQL."""

import csv
from dataclasses import replace
from datetime import date, datetime, timedelta, timezone

import pytest

from cryptolstm import cli, storage
from cryptolstm.market.ingest import ingest_coin, ingest_interval
from fault_settings import SLOW_DELAY_S

NINE = ("BTC", "ETH", "BNB", "XRP", "ADA", "SOL", "DOGE", "LTC", "LINK")


def at(day: str) -> datetime:
    return datetime.fromisoformat(day).replace(tzinfo=timezone.utc) if "T" in day else \
        datetime.combine(date.fromisoformat(day), datetime.min.time(), timezone.utc)


def csv_candles(data_dir, coin, through: str | None = None) -> list[tuple]:
    with open(data_dir / f"{coin}USDT.csv", newline="") as f:
        rows = [(date.fromisoformat(r["date"]), float(r["open"]), float(r["high"]), float(r["low"]),
                 float(r["close"]), float(r["volume"])) for r in csv.DictReader(f)]
    return [r for r in rows if through is None or r[0] <= date.fromisoformat(through)]


def db_candles(dsn, coin) -> list[tuple]:
    with storage.transaction(dsn) as cur:
        cur.execute("SELECT day, open, high, low, close, volume FROM candles WHERE coin = %s ORDER BY day", (coin,))
        return cur.fetchall()


def fetch(dsn, sql, *params):
    with storage.transaction(dsn) as cur:
        cur.execute(sql, params)
        return cur.fetchall()


def snapshot(dsn):
    return fetch(dsn, "SELECT * FROM candles ORDER BY coin, day")


def run(dsn, market, start, end, config, coins=None) -> dict[str, dict]:
    return {r.coin: r.to_dict() for r in ingest_interval(dsn, market, at(start), at(end), coins, config=config)}


@pytest.fixture
def two(market):
    """BTC and ETH only: fault tests do not need nine bootstraps."""
    return replace(market, coins=("BTC", "ETH"))


@pytest.fixture
def booted(db, standin, two, fast_ingest):
    """BTC and ETH stored through 2025-02-09 (bootstrap as of 2025-02-10); counters reset."""
    standin.set_clock("2025-02-10")
    reports = run(db, two, "2025-02-09", "2025-02-10", fast_ingest)
    assert all(r["status"] == "ok" and r["bootstrap"] for r in reports.values())
    standin.set_clock("2025-02-11")
    standin.reset_stats()
    return db


def test_bootstrap_of_the_nine_coins_equals_the_csvs(db, standin, standin_data, market, fast_ingest):
    reports = run(db, market, "2025-02-20", "2025-02-21", fast_ingest)
    assert set(reports) == set(NINE)
    for coin in NINE:
        expected = csv_candles(standin_data, coin)
        r = reports[coin]
        assert (r["status"], r["bootstrap"], r["stored"], r["missing_days"]) == ("ok", True, len(expected), [])
        assert db_candles(db, coin) == expected  # count and every value, bit for bit
        assert r["requests"] == standin.requests("klines", f"{coin}USDT") <= 3
    first_seen = fetch(db, "SELECT DISTINCT first_seen_in, revision, revised_in FROM candles")
    assert first_seen == [(at("2025-02-21"), 0, None)]
    assert fetch(db, "SELECT count(*), min(status), max(status) FROM ingest_runs") == [(9, "ok", "ok")]


def test_incremental_day_is_one_request_per_coin_and_reruns_change_nothing(db, standin, standin_data, market,
                                                                            fast_ingest):
    standin.set_clock("2025-02-20")
    run(db, market, "2025-02-19", "2025-02-20", fast_ingest)
    standin.set_clock("2025-02-21")
    standin.reset_stats()
    reports = run(db, market, "2025-02-20", "2025-02-21", fast_ingest)
    for coin in NINE:
        assert standin.requests("klines", f"{coin}USDT") == 1 == reports[coin]["requests"]
        assert (reports[coin]["status"], reports[coin]["stored"], reports[coin]["from_day"]) == ("ok", 1, "2025-02-17")
        assert db_candles(db, coin) == csv_candles(standin_data, coin)
    before = snapshot(db)
    again = run(db, market, "2025-02-20", "2025-02-21", fast_ingest)
    assert all((r["stored"], r["revised"], r["status"]) == (0, 0, "ok") for r in again.values())
    run(db, market, "2025-02-19", "2025-02-20", fast_ingest)  # an older interval, rerun later
    assert snapshot(db) == before


def test_revised_candle_is_updated_and_visible(booted, standin, standin_data, two, fast_ingest):
    standin.set_candle("BTCUSDT", "2025-02-08", close="97000.01", high="99999.99")
    reports = run(booted, two, "2025-02-10", "2025-02-11", fast_ingest)
    assert (reports["BTC"]["revised"], reports["BTC"]["stored"], reports["ETH"]["revised"]) == (1, 1, 0)
    row = fetch(booted, "SELECT close, high, revision, first_seen_in, revised_in FROM candles "
                        "WHERE coin = 'BTC' AND day = '2025-02-08'")
    assert row == [(97000.01, 99999.99, 1, at("2025-02-10"), at("2025-02-11"))]
    assert fetch(booted, "SELECT count(*) FROM candles WHERE revision > 0") == [(1,)]
    reports = run(booted, two, "2025-02-10", "2025-02-11", fast_ingest)  # rerun: already revised
    assert reports["BTC"]["revised"] == 0
    assert fetch(booted, "SELECT revision FROM candles WHERE coin = 'BTC' AND day = '2025-02-08'") == [(1,)]


def test_an_interval_never_stores_a_candle_after_it(db, standin, standin_data, two, fast_ingest):
    standin.set_clock("2025-02-20T12:00:00Z")  # the stand-in knows much more, and an open day
    run(db, two, "2024-06-01", "2024-06-02", fast_ingest)  # bootstrap, as of 2024-06-02
    for coin in two.coins:
        assert db_candles(db, coin) == csv_candles(standin_data, coin, through="2024-06-01")
    for end in ("2024-06-03", "2024-06-04"):
        run(db, two, (at(end) - timedelta(days=1)).date().isoformat(), end, fast_ingest)
        assert fetch(db, "SELECT max(day) FROM candles") == [(at(end).date() - timedelta(days=1),)]
    assert db_candles(db, "BTC") == csv_candles(standin_data, "BTC", through="2024-06-03")


def test_replay_with_the_clock_following_the_run(db, standin, standin_data, two, fast_ingest):
    standin.set_clock(None, follow=True)
    run(db, two, "2021-03-01", "2021-03-02", fast_ingest)
    assert db_candles(db, "ETH") == csv_candles(standin_data, "ETH", through="2021-03-01")


def test_the_open_day_is_dropped_at_an_interval_end_inside_it(booted, standin, standin_data, two, fast_ingest):
    standin.set_clock("2025-02-11T15:00:00Z")  # serves the open 2025-02-11 candle, like live Binance
    r = run(booted, two, "2025-02-10", "2025-02-11T15:00:00", fast_ingest)["BTC"]
    assert (r["status"], r["still_open"], r["stored"]) == ("ok", 1, 1)
    assert db_candles(booted, "BTC") == csv_candles(standin_data, "BTC", through="2025-02-10")


TRANSIENT = ["429", "500_json", "503_json", "500_html", "502_html", "504", "slow", "reset", "non_json"]


@pytest.mark.parametrize("kind", TRANSIENT)
def test_transient_fault_succeeds_within_the_retry_bound(booted, standin, standin_data, two, fast_ingest, kind):
    standin.inject(kind, symbol="BTCUSDT", times=fast_ingest.retry.attempts - 1, delay=SLOW_DELAY_S)
    reports = run(booted, two, "2025-02-10", "2025-02-11", fast_ingest)
    assert (reports["BTC"]["status"], reports["BTC"]["requests"]) == ("ok", fast_ingest.retry.attempts)
    assert (reports["ETH"]["status"], reports["ETH"]["requests"]) == ("ok", 1)
    for coin in two.coins:
        assert db_candles(booted, coin) == csv_candles(standin_data, coin, through="2025-02-10")
    rejects = fetch(booted, "SELECT reason, raw->>'body' FROM rejected_candles")
    if kind == "non_json":  # the bad payloads are on record even though a retry got the data
        assert len(rejects) == 1 and rejects[0][0].startswith("malformed payload")
        assert "<html>" in rejects[0][1] and reports["BTC"]["rejected"] == 2
    else:
        assert rejects == []


def test_lasting_transient_fault_fails_only_that_coin_and_the_next_run_catches_up(
        booted, standin, standin_data, two, fast_ingest):
    standin.inject("429", symbol="BTCUSDT", times=None)
    reports = run(booted, two, "2025-02-10", "2025-02-11", fast_ingest)
    assert reports["BTC"]["status"] == "failed" and reports["BTC"]["requests"] == 3
    assert "gave up after 3 attempts: RateLimited: binance HTTP 429" in reports["BTC"]["error"]
    assert reports["ETH"]["status"] == "ok"
    assert db_candles(booted, "BTC") == csv_candles(standin_data, "BTC", through="2025-02-09")
    assert fetch(booted, "SELECT status, error IS NOT NULL FROM ingest_runs WHERE coin = 'BTC' "
                         "AND interval_end = '2025-02-11'") == [("failed", True)]
    standin.clear_faults()
    standin.set_clock("2025-02-12")
    r = run(booted, two, "2025-02-11", "2025-02-12", fast_ingest)["BTC"]
    assert (r["status"], r["stored"], r["requests"]) == ("ok", 2, 1)
    assert db_candles(booted, "BTC") == csv_candles(standin_data, "BTC", through="2025-02-11")


def test_permanent_errors_fail_that_coin_at_once(booted, standin, standin_data, two, fast_ingest):
    standin.inject("unknown_symbol", symbol="BTCUSDT", times=None)
    market = replace(two, coins=("BTC", "FOO", "ETH"))  # FOO is not listed on the exchange at all
    reports = run(booted, market, "2025-02-10", "2025-02-11", fast_ingest)
    assert reports["BTC"]["status"] == "failed" and reports["BTC"]["requests"] == 1  # never retried
    assert reports["BTC"]["error"].startswith("BadSymbol") and "Invalid symbol" in reports["BTC"]["error"]
    assert reports["FOO"]["status"] == "failed" and reports["FOO"]["requests"] == 0
    assert standin.requests("klines", "FOOUSDT") == 0
    assert reports["FOO"]["error"].startswith("BadSymbol") and "FOO/USDT" in reports["FOO"]["error"]
    assert reports["ETH"]["status"] == "ok"
    assert db_candles(booted, "BTC") == csv_candles(standin_data, "BTC", through="2025-02-09")
    assert fetch(booted, "SELECT count(*) FROM coins WHERE coin = 'FOO'") == [(0,)]
    assert fetch(booted, "SELECT coin, status FROM ingest_runs WHERE status = 'failed' ORDER BY coin") == [
        ("BTC", "failed"), ("FOO", "failed")]


def test_bad_candle_is_rejected_reported_missing_and_asked_again(booted, standin, standin_data, two, fast_ingest):
    standin.inject("high_lt_low", symbol="BTCUSDT", day="2025-02-09")
    r = run(booted, two, "2025-02-10", "2025-02-11", fast_ingest)["BTC"]
    assert (r["status"], r["rejected"], r["missing_days"]) == ("partial", 1, [])  # 02-09 was stored before
    # A revision that breaks a stored day is rejected; the stored day stays as it was.
    assert db_candles(booted, "BTC") == csv_candles(standin_data, "BTC", through="2025-02-10")
    (reason, day, raw), = fetch(booted, "SELECT reason, day, raw FROM rejected_candles")
    assert (reason, day) == ("high < low", date(2025, 2, 9))
    assert float(raw["exchange_rows"][0][2]) < float(raw["exchange_rows"][0][3])


def test_a_gap_is_reported_and_requested_again_next_run(booted, standin, standin_data, two, fast_ingest):
    market = replace(two, overlap_days=0)  # so only the recorded gap can bring the day back
    standin.set_clock("2025-02-12")
    standin.inject("high_lt_low", symbol="BTCUSDT", day="2025-02-10")
    r = run(booted, market, "2025-02-10", "2025-02-12", fast_ingest)["BTC"]  # a two-day interval
    assert (r["status"], r["stored"], r["missing_days"]) == ("partial", 1, ["2025-02-10"])
    assert fetch(booted, "SELECT missing_days FROM ingest_runs WHERE coin = 'BTC' AND status = 'partial'") == [
        ([date(2025, 2, 10)],)]
    assert [d for d, *_ in db_candles(booted, "BTC")][-2:] == [date(2025, 2, 9), date(2025, 2, 11)]
    standin.set_clock("2025-02-13")
    r = run(booted, market, "2025-02-12", "2025-02-13", fast_ingest)["BTC"]
    assert (r["status"], r["from_day"], r["requests"], r["stored"], r["missing_days"]) == (
        "ok", "2025-02-10", 1, 2, [])
    assert db_candles(booted, "BTC") == csv_candles(standin_data, "BTC", through="2025-02-12")


@pytest.mark.parametrize("kind, reasons, missing", [
    ("duplicate_rows", ["duplicate row for the day (identical copy)"] * 4, []),
    ("out_of_order", [], []),
    ("conflicting_duplicate", ["conflicting duplicate rows for the day"] * 2, ["2025-02-07"]),
    ("garbage_row", ["open is not a number"], ["2025-02-07"]),
])
def test_row_faults_never_lose_or_duplicate_rows(booted, standin, standin_data, two, fast_ingest, kind, reasons,
                                                  missing):
    # The first served row is 2025-02-07 (3-day overlap); it is stored already, so a broken copy
    # leaves the stored day untouched, and it is reported missing only when no valid copy came.
    market = replace(two, coins=("BTC",))
    with storage.transaction(booted) as cur:
        cur.execute("DELETE FROM candles WHERE coin = 'BTC' AND day = '2025-02-07'")
    standin.inject(kind, symbol="BTCUSDT")
    r = run(booted, market, "2025-02-10", "2025-02-11", fast_ingest)["BTC"]
    assert r["missing_days"] == missing and r["rejected"] == len(reasons)
    assert r["status"] == ("partial" if reasons else "ok")
    assert sorted(x for x, in fetch(booted, "SELECT reason FROM rejected_candles")) == sorted(reasons)
    expected = [c for c in csv_candles(standin_data, "BTC", through="2025-02-10")
                if c[0].isoformat() not in missing]
    assert db_candles(booted, "BTC") == expected
    run(booted, market, "2025-02-10", "2025-02-11", fast_ingest)  # rerun without the fault
    assert len(fetch(booted, "SELECT 1 FROM rejected_candles")) == len(reasons)  # kept, not duplicated
    assert db_candles(booted, "BTC") == csv_candles(standin_data, "BTC", through="2025-02-10")


def test_single_coin_entry_point_and_naive_or_future_intervals(db, standin, market, fast_ingest):
    r = ingest_coin(db, market, "SOL", at("2020-08-20"), at("2020-08-21"), config=fast_ingest).to_dict()
    assert (r["status"], r["stored"], r["bootstrap"]) == ("ok", 10, True)  # listed 2020-08-11
    r = ingest_coin(db, market, "ADA", at("2018-04-17"), at("2018-04-18"), config=fast_ingest).to_dict()
    assert (r["stored"], r["missing_days"]) == (1, [])  # the listing day
    r = ingest_coin(db, market, "ADA", at("2018-04-18"), at("2018-04-19"), config=fast_ingest).to_dict()
    assert (r["status"], r["from_day"], r["stored"], r["missing_days"]) == ("ok", "2018-04-15", 1, [])
    with pytest.raises(ValueError, match="naive"):
        ingest_coin(db, market, "SOL", datetime(2020, 8, 20), datetime(2020, 8, 21))
    with pytest.raises(ValueError, match="in the future"):
        future = datetime.now(timezone.utc) + timedelta(days=2)
        ingest_coin(db, market, "SOL", future - timedelta(days=1), future)
    with pytest.raises(ValueError, match="empty data interval"):
        ingest_coin(db, market, "SOL", at("2020-08-21"), at("2020-08-21"))


def test_cli_ingest(db, standin, standin_data, monkeypatch, capsys):
    monkeypatch.setenv("CRYPTOLSTM_DSN", db)
    monkeypatch.setenv("CRYPTOLSTM_EXCHANGE_URL", standin.url)
    assert cli.main(["ingest", "--start", "2025-02-19", "--coins", "btc", "eth"]) == 0
    out = capsys.readouterr().out
    assert "interval [2025-02-19, 2025-02-20)" in out and "BTC" in out and "ok" in out
    assert db_candles(db, "ETH") == csv_candles(standin_data, "ETH", through="2025-02-19")
    assert cli.main(["ingest", "--start", "2025-02-20", "--coins", "btc", "nope"]) == 1
    assert "BadSymbol" in capsys.readouterr().out
