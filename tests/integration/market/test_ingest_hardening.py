"""Ingestion under hostile conditions (issue 12 §3, §6; issue 11 §1): bans, Retry-After, a database
that dies mid-write, malformed replay files, implausible candles, revisions kept, reruns logged, and
pairs the exchange stopped trading. Real ccxt client, real stand-in over HTTP, real PostgreSQL."""

from __future__ import annotations

import logging
import re
import shutil
from dataclasses import replace
from datetime import date, timedelta

import pytest

from cryptolstm import storage
from cryptolstm.config import MarketConfig
from cryptolstm.runtime.standin import StandIn
from test_ingest import at, booted, csv_candles, db_candles, fetch, run, two  # noqa: F401  (fixtures)

MORE = "binance-1d-more"


# ---- bans and rate limits ----------------------------------------------------------------------

def test_an_ip_ban_is_never_retried_and_the_next_coins_are_not_asked(booted, standin, two, fast_ingest):
    standin.inject("418", symbol="BTCUSDT", times=None, retry_after=120)
    reports = run(booted, two, "2025-02-10", "2025-02-11", fast_ingest)
    btc, eth = reports["BTC"], reports["ETH"]
    assert (btc["status"], btc["requests"]) == ("failed", 1) and standin.requests("klines", "BTCUSDT") == 1
    assert btc["error"].startswith("IpBanned") and "418" in btc["error"] and "120 s" in btc["error"]
    assert (eth["status"], eth["requests"]) == ("failed", 0) and standin.requests("klines", "ETHUSDT") == 0
    assert "banned this IP (HTTP 418) while ingesting BTC" in eth["error"]
    assert fetch(booted, "SELECT coin, status, requests FROM ingest_runs WHERE interval_end = '2025-02-11' "
                         "ORDER BY coin") == [("BTC", "failed", 1), ("ETH", "failed", 0)]


def test_a_ban_fails_its_task_without_retry_and_keeps_the_days_other_tasks_from_asking(booted, standin, monkeypatch):
    """Issue 20 §5: a persistent 418 with Retry-After 600 was retried by Airflow (requests at 0, 129, 248 s)
    and the other coin tasks kept asking. Now the task that met it raises ExchangeBanned (the DAG turns it
    into AirflowFailException), the ban is recorded with its end, and the other tasks do not ask."""
    from datetime import datetime, timedelta, timezone

    from cryptolstm import pipeline

    monkeypatch.setenv("CRYPTOLSTM_EXCHANGE_URL", standin.url)
    standin.inject("418", times=None, retry_after=600)  # every klines request, persistently
    t0 = datetime.now(timezone.utc)
    with pytest.raises(pipeline.ExchangeBanned) as first:
        pipeline.ingest_coin(booted, "BTC", at("2025-02-10"), at("2025-02-11"))  # what the mapped task calls
    assert first.value.first and standin.requests("klines") == 1
    until = first.value.until
    assert t0 + timedelta(seconds=599) <= until <= datetime.now(timezone.utc) + timedelta(seconds=601)
    assert f"until {until:%Y-%m-%d %H:%M:%S} UTC" in str(first.value) and "418" in str(first.value)
    assert fetch(booted, "SELECT coin, banned_until FROM exchange_bans") == [("BTC", until)]
    asked = standin.requests()
    for coin in ("ETH", "BTC"):  # the day's other tasks, and a retry of the first: nothing asks the exchange
        with pytest.raises(pipeline.ExchangeBanned) as other:
            pipeline.ingest_coin(booted, coin, at("2025-02-10"), at("2025-02-11"))
        assert not other.value.first and other.value.until == until
        assert "not asked: the exchange banned this IP (HTTP 418) while ingesting BTC" in str(other.value)
    assert standin.requests() == asked
    assert fetch(booted, "SELECT coin, status, requests FROM ingest_runs WHERE interval_end = '2025-02-11' "
                         "ORDER BY coin, attempt") == [("BTC", "failed", 1), ("BTC", "failed", 0), ("ETH", "failed", 0)]


def test_a_ban_stops_the_weekly_sync_once_and_its_retry_asks_nothing(booted, standin, monkeypatch):
    """Issue 20 §5 for the weekly run: `sync_candles` met the ban and raised a plain IngestFailed, so Airflow
    retried it. It now raises ExchangeBanned (the weekly DAG fails the task without retry), naming the ban's
    end, after one request; a rerun during the ban sends none."""
    from cryptolstm import pipeline

    monkeypatch.setenv("CRYPTOLSTM_EXCHANGE_URL", standin.url)
    monkeypatch.setenv("CRYPTOLSTM_AUX_COINS", "")
    standin.inject("418", times=None, retry_after=600)
    with pytest.raises(pipeline.ExchangeBanned) as met:
        pipeline.sync_candles(booted, at("2025-02-03"), at("2025-02-10"))
    assert met.value.first and met.value.until is not None and standin.requests("klines") == 1
    assert f"until {met.value.until:%Y-%m-%d %H:%M:%S} UTC" in str(met.value)
    asked = standin.requests()
    with pytest.raises(pipeline.ExchangeBanned) as again:
        pipeline.sync_candles(booted, at("2025-02-03"), at("2025-02-10"))
    assert not again.value.first and again.value.until == met.value.until and standin.requests() == asked


def test_a_429_waits_the_servers_retry_after(booted, standin, two, fast_ingest, caplog):
    standin.inject("429", symbol="BTCUSDT", times=1, retry_after=1)
    with caplog.at_level(logging.WARNING, logger="cryptolstm.market.ingest"):
        r = run(booted, two, "2025-02-10", "2025-02-11", fast_ingest)["BTC"]
    assert (r["status"], r["requests"]) == ("ok", 2)
    # fast_ingest's own backoff is ~10 ms: the 1 s pause is the server's
    assert any("RateLimited (try 1/3), retrying in 1.00s (the server's Retry-After)" in m for m in caplog.messages)


def test_a_retry_after_beyond_the_bound_fails_the_coin_without_waiting(booted, standin, two, fast_ingest):
    standin.inject("429", symbol="BTCUSDT", times=None, retry_after=3600)
    reports = run(booted, two, "2025-02-10", "2025-02-11", fast_ingest)
    assert (reports["BTC"]["status"], reports["BTC"]["requests"]) == ("failed", 1)
    assert "Retry-After 3600 s, beyond the 60 s this run waits" in reports["BTC"]["error"]
    assert reports["ETH"]["status"] == "ok"  # a rate limit is not a ban: the next coin is asked


# ---- the database dies mid-ingest --------------------------------------------------------------

def test_a_database_failure_mid_write_reports_the_real_cause_and_counts(booted, standin, standin_data, two,
                                                                      fast_ingest):
    with storage.transaction(booted) as cur:  # the server drops the connection while BTC's candles are written
        cur.execute("""CREATE FUNCTION die() RETURNS trigger LANGUAGE plpgsql AS $$
                       BEGIN PERFORM pg_terminate_backend(pg_backend_pid()); RETURN NEW; END $$;
                       CREATE TRIGGER die BEFORE INSERT ON candles FOR EACH ROW
                       WHEN (NEW.coin = 'BTC') EXECUTE FUNCTION die()""")
    reports = run(booted, two, "2025-02-10", "2025-02-11", fast_ingest)
    btc = reports["BTC"]
    assert (btc["status"], btc["requests"], btc["fetched"], btc["stored"]) == ("failed", 1, 4, 0)
    assert btc["error"].startswith("database failed while storing this interval (nothing stored): OperationalError")
    assert "connection already closed" not in btc["error"]
    assert reports["ETH"]["status"] == "ok"
    assert db_candles(booted, "BTC") == csv_candles(standin_data, "BTC", through="2025-02-09")
    assert fetch(booted, "SELECT status, requests FROM ingest_runs WHERE coin = 'BTC' "
                         "AND interval_end = '2025-02-11'") == [("failed", 1)]
    with storage.transaction(booted) as cur:
        cur.execute("DROP TRIGGER die ON candles")
    assert run(booted, two, "2025-02-10", "2025-02-11", fast_ingest)["BTC"]["status"] == "ok"
    assert db_candles(booted, "BTC") == csv_candles(standin_data, "BTC", through="2025-02-10")


# ---- a malformed replay file fails only its coin -----------------------------------------------

def test_a_malformed_or_empty_replay_file_fails_only_its_coin(db, standin_data, fast_ingest):
    btc = standin_data / "BTCUSDT.csv"
    lines = btc.read_text().splitlines(keepends=True)
    lines[6] = ",".join(lines[6].rstrip("\n").split(",")[:5]) + "\n"  # line 7 loses its volume
    btc.write_text("".join(lines))
    (standin_data / "ETHUSDT.csv").write_text("")
    with StandIn(standin_data, now="2025-02-11") as ex:
        broken = ex.state()["broken"]
        assert broken["BTCUSDT"].endswith("BTCUSDT.csv line 7: expected 6 fields (date,open,high,low,close,volume), got 5")
        assert broken["ETHUSDT"].endswith("ETHUSDT.csv: empty file (no header, no rows)")
        market = MarketConfig(api_url=ex.url, coins=("BTC", "ETH", "SOL"), auxiliary=())
        reports = run(db, market, "2025-02-10", "2025-02-11", fast_ingest)
    for coin, why in (("BTC", "BTCUSDT.csv line 7: expected 6 fields"), ("ETH", "ETHUSDT.csv: empty file")):
        assert (reports[coin]["status"], reports[coin]["requests"]) == ("failed", 1)  # permanent: not retried
        assert why in reports[coin]["error"]
    assert reports["SOL"]["status"] == "ok"
    assert db_candles(db, "SOL") == csv_candles(standin_data, "SOL", through="2025-02-10")


@pytest.mark.parametrize("line, why", [
    ("2020-01-0x,1,1,1,1,1", "date '2020-01-0x' is not YYYY-MM-DD"),
    ("2020-01-02,1,1,n/a,1,1", "low 'n/a' is not a finite number"),
    ("2020-01-01,1,1,1,1,1", "day 2020-01-01 repeats line 2"),
    ("2020-01-02,1,1,1,1,1,7", "expected 6 fields (date,open,high,low,close,volume), got 7"),
])
def test_every_row_is_checked_on_load(tmp_path, line, why):
    from cryptolstm.market.csv_files import MalformedCsv, read_csv

    path = tmp_path / "FOOUSDT.csv"
    path.write_text(f"date,open,high,low,close,volume\n2020-01-01,1,1,1,1,1\n{line}\n")
    with pytest.raises(MalformedCsv) as info:
        read_csv(path)
    assert str(info.value) == f"{path} line 3: {why}"


# ---- implausible candles, revisions, reruns ----------------------------------------------------

def test_an_implausible_candle_is_quarantined_with_its_payload(booted, standin, standin_data, two, fast_ingest):
    # a new day x1000 (a valid OHLC), and a late "correction" of a stored day x1000
    new = csv_candles(standin_data, "BTC", through="2025-02-10")[-1]
    standin.set_candle("BTCUSDT", "2025-02-10", **{k: repr(v * 1000) for k, v in zip(
        ("open", "high", "low", "close"), new[1:5])})
    stored = csv_candles(standin_data, "BTC", through="2025-02-08")[-1]
    standin.set_candle("BTCUSDT", "2025-02-08", close=repr(stored[4] / 1000), low=repr(stored[4] / 1000))
    r = run(booted, two, "2025-02-10", "2025-02-11", fast_ingest)["BTC"]
    assert (r["status"], r["stored"], r["revised"], r["rejected"], r["missing_days"]) == (
        "partial", 0, 0, 2, ["2025-02-10"])
    assert db_candles(booted, "BTC") == csv_candles(standin_data, "BTC", through="2025-02-09")  # nothing overwritten
    rows = fetch(booted, "SELECT day, reason, raw FROM rejected_candles ORDER BY day")
    assert [(d, reason.split(":")[0]) for d, reason, _ in rows] == [
        (date(2025, 2, 8), "implausible close"), (date(2025, 2, 10), "implausible close")]
    assert re.search(r"x0\.000\d+ the close of 2025-02-07 \(", rows[0][1])  # checked against stored neighbours
    assert re.search(r"x\d{3,4}(\.\d+)? the close of 2025-02-09 \(", rows[1][1])
    assert "MarketConfig.max_close_jump" in rows[1][1]
    assert float(rows[1][2]["row"][4]) == pytest.approx(new[4] * 1000)  # the raw payload is kept
    assert float(rows[1][2]["exchange_rows"][0][4]) == pytest.approx(new[4] * 1000)
    assert fetch(booted, "SELECT count(*) FROM candle_history") == [(0,)]
    # the limit is configurable: x10000 lets the new day through (against the stored 2025-02-09)
    r = run(booted, replace(two, max_close_jump=10_000.0), "2025-02-10", "2025-02-11", fast_ingest)["BTC"]
    assert r["stored"] == 1


def test_a_quarantined_day_asked_again_on_every_ingest_is_stored_once_with_its_count(
        booted, standin, standin_data, two, fast_ingest):
    """Issue 27 §2: a quarantined day is asked for again on every ingest, and each ingest stored its reject
    again (the key held the interval: 143 rows became 286 after one more ingest; n days of quarantine, ~n^2/2
    rows). Now one row per (coin, payload, reason), with how often it was met and when last."""
    new = csv_candles(standin_data, "BTC", through="2025-02-10")[-1]
    standin.set_candle("BTCUSDT", "2025-02-10", **{k: repr(v * 1000) for k, v in zip(
        ("open", "high", "low", "close"), new[1:5])})
    ends = ("2025-02-11", "2025-02-12", "2025-02-13", "2025-02-14")
    for end in ends:  # four daily runs: each asks the quarantined 2025-02-10 again
        standin.set_clock(end)
        r = run(booted, two, (date.fromisoformat(end) - timedelta(days=1)).isoformat(), end, fast_ingest)["BTC"]
        assert r["missing_days"][0] == "2025-02-10" and r["rejected"] == 1
    assert fetch(booted, "SELECT count(*) FROM rejected_candles WHERE coin = 'BTC'") == [(1,)]  # not 4
    rows = fetch(booted, "SELECT day, reason, seen, interval_end::date, last_seen_at IS NOT NULL "
                         "FROM rejected_candles WHERE coin = 'BTC'")
    (day, reason, seen, last_interval, stamped), = rows
    assert (day, seen, last_interval, stamped) == (date(2025, 2, 10), 4, date(2025, 2, 14), True)
    assert reason.startswith("implausible close")
    run(booted, two, "2025-02-13", "2025-02-14", fast_ingest)  # a rerun of the last interval meets it once more
    assert fetch(booted, "SELECT count(*), sum(seen) FROM rejected_candles WHERE coin = 'BTC'") == [(1, 5)]


def test_a_level_shift_is_named_by_the_quarantine_accepted_by_one_command_and_not_read_across(
        booted, standin, standin_data, two, fast_ingest, monkeypatch, capsys):
    """Issue 20 §4: prices x0.05 from day D on (a redenomination) locked the coin out forever. Now the
    quarantine says so once the level held CRYPTOLSTM_LEVEL_SHIFT_DAYS days, one command accepts it
    (recorded in candle_level_shifts), the next ingest stores the new level, and the history the model reads
    starts at the break. A one-day x1000 spike stays quarantined."""
    import pandas as pd

    from cryptolstm import cli
    from cryptolstm.market import panel
    from cryptolstm.modelling import features

    shift = "2025-02-10"
    for day, *ohlc, volume in csv_candles(standin_data, "BTC"):
        if day >= date.fromisoformat(shift):
            standin.set_candle("BTCUSDT", day.isoformat(), **{k: repr(v * 0.05) for k, v in zip(
                ("open", "high", "low", "close"), ohlc)}, volume=repr(volume * 20))
    spike = csv_candles(standin_data, "ETH", through="2025-02-11")[-1]  # ETH: one day x1000, then normal
    standin.set_candle("ETHUSDT", "2025-02-11", **{k: repr(v * 1000) for k, v in zip(("open", "high", "low", "close"),
                                                                                     spike[1:5])})
    for end in ("2025-02-11", "2025-02-12", "2025-02-13", "2025-02-14"):  # four daily runs
        standin.set_clock(end)
        reports = run(booted, two, (date.fromisoformat(end) - timedelta(days=1)).isoformat(), end, fast_ingest)
    btc, eth = reports["BTC"], reports["ETH"]
    assert btc["stored"] == 0 and btc["missing_days"][0] == shift  # locked out: every day since D quarantined
    advice = f"cryptolstm accept-level-shift BTC {shift}"
    closes = {d: c for d, _, _, _, c, _ in csv_candles(standin_data, "BTC")}
    ratio = 0.05 * closes[date(2025, 2, 10)] / closes[date(2025, 2, 9)]  # the redenomination and the day's move
    assert advice in btc["level_shift"]
    assert f"held a new level (x{ratio:.4g}) for 4 consecutive days" in btc["level_shift"]
    said = fetch(booted, "SELECT DISTINCT day FROM rejected_candles WHERE coin = 'BTC' AND reason LIKE %s "
                         "ORDER BY day", f"%{advice}%")
    assert [d for d, in said] == [date(2025, 2, 12), date(2025, 2, 13)]  # from the 3rd day on the new level
    assert "level_shift" not in eth and eth["missing_days"] == ["2025-02-11"]  # the spike: quarantined, no shift
    assert not fetch(booted, "SELECT 1 FROM rejected_candles WHERE coin = 'ETH' AND reason LIKE %s", "%level shift%")
    before = panel.read_candles(booted, until="2025-02-09")

    monkeypatch.setenv("CRYPTOLSTM_DSN", booted)
    assert cli.main(["accept-level-shift", "btc", shift, "--reason", "redenomination 1:20"]) == 0
    assert f"BTC: level shift from 2025-02-10 accepted (x{ratio:.4g})" in capsys.readouterr().out
    [(coin, day, stored_ratio, reason)] = fetch(booted, "SELECT coin, day, ratio, reason FROM candle_level_shifts")
    assert (coin, day, reason) == ("BTC", date(2025, 2, 10), "redenomination 1:20")
    assert stored_ratio == pytest.approx(ratio, rel=1e-12)
    assert cli.main(["accept-level-shift", "ETH", "2025-02-12", "--reason", "x"]) == 1  # nothing quarantined then
    r = run(booted, two, "2025-02-13", "2025-02-14", fast_ingest)["BTC"]
    assert (r["status"], r["stored"], r["missing_days"]) == ("ok", 4, [])
    new_level = [c for c in csv_candles(standin_data, "BTC", through="2025-02-13")]
    assert db_candles(booted, "BTC")[-4:] == [(d, *(v * 0.05 for v in ohlc), v * 20) for d, *ohlc, v in new_level[-4:]]

    # the model's history: unchanged before the break, starting at the break from it on (no return across it)
    pd.testing.assert_frame_equal(panel.read_candles(booted, until="2025-02-09"), before)
    after = panel.read_candles(booted, until="2025-02-13")
    assert after[after["coin"] == "BTC"]["day"].min() == pd.Timestamp(shift)
    # leakage-style: altering every BTC candle before the break changes no feature of a day on or after it
    feats = features.build_features(after)
    with storage.transaction(booted) as cur:
        cur.execute("UPDATE candles SET close = high, open = low WHERE coin = 'BTC' AND day < %s", (shift,))
    pd.testing.assert_frame_equal(features.build_features(panel.read_candles(booted, until="2025-02-13")), feats)
    assert not panel.read_candles(booted, until="2025-02-09").equals(before)  # (the alteration was real)


def test_the_real_history_of_the_auxiliary_coins_is_plausible(db, more_data, fast_ingest):
    # (the nine served coins: test_bootstrap_of_the_nine_coins_equals_the_csvs stores every real day)
    coins = tuple(p.stem.removesuffix("USDT") for p in sorted(more_data.glob("*USDT.csv")))
    with StandIn(more_data) as ex:
        reports = run(db, MarketConfig(api_url=ex.url, coins=coins, auxiliary=()), "2025-02-20", "2025-02-21",
                      fast_ingest)
    assert len(reports) == 11 and fetch(db, "SELECT count(*) FROM rejected_candles") == [(0,)]
    assert {c: r["status"] for c, r in reports.items() if r["status"] != "ok"} == {"MATIC": "inactive",
                                                                                  "XMR": "inactive"}
    for coin in coins:
        assert db_candles(db, coin) == csv_candles(more_data, coin)


def test_a_correction_keeps_the_old_values_and_can_be_undone(booted, standin, standin_data, two, fast_ingest):
    old = csv_candles(standin_data, "BTC", through="2025-02-08")[-1]
    standin.set_candle("BTCUSDT", "2025-02-08", close=repr(old[4] * 1.5), high=repr(old[4] * 1.5))
    r = run(booted, two, "2025-02-10", "2025-02-11", fast_ingest)["BTC"]
    assert (r["status"], r["revised"]) == ("ok", 1)
    hist = fetch(booted, "SELECT coin, day, revision, open, high, low, close, volume, stored_in, replaced_in, "
                         "current_revision, current_close FROM v_candle_revisions")
    assert hist == [("BTC", date(2025, 2, 8), 0, *old[1:], at("2025-02-10"), at("2025-02-11"), 1, old[4] * 1.5)]
    # the undo documented in docs/sql.md
    undo = _documented_sql("undo a revision")
    with storage.transaction(booted) as cur:
        cur.execute(undo, {"coin": "BTC", "day": date(2025, 2, 8), "revision": 0})
    assert db_candles(booted, "BTC")[-3] == old
    assert fetch(booted, "SELECT revision FROM candles WHERE coin = 'BTC' AND day = '2025-02-08'") == [(2,)]
    assert [r for r, in fetch(booted, "SELECT revision FROM candle_history ORDER BY revision")] == [0, 1]
    assert run(booted, two, "2025-02-10", "2025-02-11", fast_ingest)["BTC"]["revised"] == 1  # served again


def _documented_sql(marker: str) -> str:
    """The SQL block of docs/sql.md that follows the comment line containing `marker`."""
    from cryptolstm.config import PROJECT_ROOT

    text = (PROJECT_ROOT / "docs" / "sql.md").read_text()
    start = text.index(marker)
    block = text[text.index("\n", start) + 1:text.index("```", start)]
    return block.replace(":coin", "%(coin)s").replace(":day", "%(day)s").replace(":revision", "%(revision)s")


def test_a_rerun_adds_an_attempt_and_keeps_the_first_runs_counts(booted, standin, two, fast_ingest):
    run(booted, two, "2025-02-10", "2025-02-11", fast_ingest)
    run(booted, two, "2025-02-10", "2025-02-11", fast_ingest)
    assert fetch(booted, "SELECT attempt, status, requests, stored FROM ingest_runs WHERE coin = 'BTC' "
                         "AND interval_end = '2025-02-11' ORDER BY attempt") == [(1, "ok", 1, 1), (2, "ok", 1, 0)]
    assert fetch(booted, "SELECT attempts, stored FROM v_ingest_runs WHERE coin = 'BTC' "
                         "AND interval_end = '2025-02-11'") == [(2, 0)]


# ---- several folders, pairs that end early -----------------------------------------------------

@pytest.fixture
def more_data(shared_data, tmp_path):
    """A writable copy of ../shared/data/binance-1d-more (MATIC ends 2024-09-10, XMR 2024-02-20)."""
    src = shared_data.parent / MORE
    if not src.is_dir():
        pytest.skip(f"{src} not found")
    return shutil.copytree(src, tmp_path / MORE)


def test_the_standin_serves_several_folders(standin_data, more_data):
    with StandIn([standin_data, more_data]) as ex:
        state = ex.state()
    assert len(state["symbols"]) == 20 and {"BTCUSDT", "MATICUSDT", "XMRUSDT"} <= set(state["symbols"])
    assert state["ends"] == {"MATICUSDT": "2024-09-10T00:00:00+00:00", "XMRUSDT": "2024-02-20T00:00:00+00:00"}
    # a folder of CSV folders stands for them (what `cryptolstm run --replay ../shared/data` passes on)
    assert standin_data.parent == more_data.parent
    with StandIn(standin_data.parent) as ex:
        assert ex.state()["data_dirs"] == [str(standin_data), str(more_data)] and len(ex.state()["symbols"]) == 20
    from cryptolstm.commands.run import last_common_day

    assert last_common_day(standin_data.parent, MarketConfig().coins, "USDT") == date(2025, 2, 20)
    assert last_common_day(standin_data.parent, ("BTC", "MATIC"), "USDT") == date(2024, 9, 10)
    assert last_common_day(standin_data, ("BTC",), "USDT") == date(2025, 2, 20)  # one folder, as before
    shutil.copy(standin_data / "BTCUSDT.csv", more_data / "BTCUSDT.csv")
    with pytest.raises(ValueError, match="BTCUSDT is in two folders"):
        StandIn([standin_data, more_data])


@pytest.mark.parametrize("mode", ["break", "removed"])
def test_a_pair_is_answered_as_delisted_after_its_last_day(more_data, mode):
    import ccxt

    from cryptolstm.market.exchange import make_client
    from cryptolstm.market.ingest import IngestConfig

    with StandIn(more_data, now="2024-09-10T12:00:00Z", delisted=mode) as ex:
        client = make_client(MarketConfig(api_url=ex.url), IngestConfig(timeout_ms=2000))
        client.load_markets()
        assert client.market("MATIC/USDT")["active"] is True  # its last day is still trading
        assert client.fetch_ohlcv("MATIC/USDT", "1d", None, 2)[-1][0] == 1725926400000  # the open 2024-09-10
        ex.set_clock("2024-09-11")
        client = make_client(MarketConfig(api_url=ex.url), IngestConfig(timeout_ms=2000))
        client.load_markets()
        if mode == "break":  # listed with status BREAK, history still served, nothing after it
            assert client.market("MATIC/USDT")["active"] is False
            assert client.fetch_ohlcv("MATIC/USDT", "1d", None, 2)[-1][0] == 1725926400000
        else:  # gone: not in exchangeInfo, klines answer -1121
            assert "MATIC/USDT" not in client.markets
            with pytest.raises(ccxt.BadSymbol):
                client.publicGetKlines({"symbol": "MATICUSDT", "interval": "1d"})
        assert client.market("ATOM/USDT")["active"] is True


@pytest.mark.parametrize("mode", ["break", "removed"])
def test_ingest_after_a_delisting_marks_the_coin_inactive_and_keeps_its_history(db, more_data, fast_ingest,
                                                                                 caplog, mode):
    market = MarketConfig(coins=("ATOM", "MATIC"), auxiliary=())
    with StandIn(more_data, now="2024-09-06", delisted=mode) as ex:
        market = replace(market, api_url=ex.url)
        assert {r["status"] for r in run(db, market, "2024-09-05", "2024-09-06", fast_ingest).values()} == {"ok"}
        ex.set_clock("2024-09-21")
        with caplog.at_level(logging.WARNING, logger="cryptolstm.market.ingest"):
            reports = run(db, market, "2024-09-20", "2024-09-21", fast_ingest)
        matic = reports["MATIC"]
        assert matic["status"] == "inactive" and matic["error"] is None and reports["ATOM"]["status"] == "ok"
        assert any("MATIC/USDT: binance no longer trades it" in m and "marked inactive" in m for m in caplog.messages)
        # history kept: in "break" mode the exchange still serves it, so the last days are caught up
        through = "2024-09-10" if mode == "break" else "2024-09-05"
        assert db_candles(db, "MATIC") == csv_candles(more_data, "MATIC", through=through)
        assert fetch(db, "SELECT active, inactive_since FROM coins WHERE coin = 'MATIC'") == [
            (False, date.fromisoformat(through) + (date(2024, 1, 2) - date(2024, 1, 1)))]
        assert fetch(db, "SELECT active FROM coins WHERE coin = 'ATOM'") == [(True,)]
        ex.set_clock("2024-09-22")  # the next day: still inactive, still no failure
        again = run(db, market, "2024-09-21", "2024-09-22", fast_ingest)["MATIC"]
        assert again["status"] == "inactive"
        assert fetch(db, "SELECT status FROM ingest_runs WHERE coin = 'MATIC' ORDER BY interval_end") == [
            ("ok",), ("inactive",), ("inactive",)]


def test_a_bootstrap_after_the_end_stores_the_whole_history_and_marks_it_inactive(db, more_data, fast_ingest):
    with StandIn(more_data) as ex:  # clock after the data: XMR ended a year before
        market = MarketConfig(api_url=ex.url, coins=("XMR",), auxiliary=())
        r = run(db, market, "2025-02-20", "2025-02-21", fast_ingest)["XMR"]
    assert (r["status"], r["missing_days"]) == ("inactive", [])
    assert db_candles(db, "XMR") == csv_candles(more_data, "XMR")
    assert fetch(db, "SELECT active, inactive_since FROM coins WHERE coin = 'XMR'") == [(False, date(2024, 2, 21))]


def test_the_standin_command_takes_several_data_folders(standin_data, more_data):
    import json
    import os
    import signal
    import subprocess
    import sys
    import urllib.request

    proc = subprocess.Popen([sys.executable, "-m", "cryptolstm.cli", "standin", "--data", str(standin_data),
                             "--data", str(more_data), "--port", "0", "--delisted", "removed"],
                            stdout=subprocess.PIPE, text=True, start_new_session=True)
    try:
        first = proc.stdout.readline()
        assert "serving 20 symbols" in first, first
        url = first.rsplit(" at ", 1)[1].strip()
        with urllib.request.urlopen(url + "/_standin/state", timeout=5) as resp:
            state = json.loads(resp.read())
        assert state["data_dirs"] == [str(standin_data), str(more_data)] and state["delisted"] == "removed"
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=10)


def test_coin_ids_follow_the_configured_order_whatever_the_ingestion_order(db, standin_data, more_data, fast_ingest):
    from cryptolstm.market.panel import coin_index

    with StandIn([standin_data, more_data], now="2024-01-03") as ex:
        # auxiliary coins first and in reverse (parallel mapped tasks finish in any order), then an unknown one
        market = MarketConfig(api_url=ex.url, coins=("XMR", "ATOM"), auxiliary=())
        run(db, market, "2024-01-02", "2024-01-03", fast_ingest)
    with storage.transaction(db) as cur:
        from cryptolstm.market import candles

        candles.register_coin(cur, "NEWCOIN", "NEWCOIN/USDT", "binance")
    ids = dict(fetch(db, "SELECT coin, coin_index FROM coins"))
    assert ids["XMR"] == coin_index()["XMR"] == 19 and ids["ATOM"] == coin_index()["ATOM"] == 9
    assert ids["NEWCOIN"] == len(coin_index())  # after every configured id


def test_the_daily_ingest_task_does_not_fail_for_a_delisted_coin(db, more_data, monkeypatch):
    from cryptolstm import pipeline

    with StandIn(more_data, now="2024-03-02") as ex:
        monkeypatch.setenv("CRYPTOLSTM_EXCHANGE_URL", ex.url)
        out = pipeline.ingest_coin(db, "XMR", at("2024-03-01"), at("2024-03-02"))  # what the mapped task calls
    assert out["status"] == "inactive" and out["stored"] == len(csv_candles(more_data, "XMR"))


def test_migration_005_can_run_again(db):
    from cryptolstm.config import PROJECT_ROOT

    sql = (PROJECT_ROOT / "sql" / "migrations" / "005_candle_history.sql").read_text()
    with storage.transaction(db) as cur:
        cur.execute(sql)  # already applied by the template: a second run changes nothing and fails nothing
        cur.execute("SELECT count(*) FROM pg_trigger WHERE tgname = 'candles_keep_history'")
        assert cur.fetchone() == (1,)
