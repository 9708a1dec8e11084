"""`cryptolstm forecast | score | alerts | train | decide | promote | bench-daily` — the DAG steps by hand.

Each verb runs the same library call an Airflow task runs, for one day / week, on the configured
database (CRYPTOLSTM_DSN / AIRFLOW_CONN_CRYPTOLSTM_DB, else the embedded server):

    cryptolstm forecast --as-of 2025-02-10
    cryptolstm train --week-end 2025-02-09            # cutoff 2025-02-08, candidate registered
    cryptolstm decide --week-end 2025-02-09 --model lstm-20250208-1a2b3c4d
    cryptolstm promote lstm-20250208-1a2b3c4d --from 2025-02-09 --reason "bootstrap"
    cryptolstm bench-daily --as-of 2025-02-10         # daily DAG wall time + DAG parse time
"""

from __future__ import annotations

import argparse
import json
import time
from datetime import date, datetime, timedelta, timezone

from cryptolstm.serving.mail import Mail


def _day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a day (YYYY-MM-DD): {text!r}")


def _midnight(d: date) -> datetime:
    from cryptolstm.calendar import utc_midnight

    return utc_midnight(d)


def _dsn() -> str:
    from cryptolstm.commands.db import forecast_dsn
    from cryptolstm.environment import load_settings

    return forecast_dsn(load_settings())


def _print(result: dict) -> int:
    print(json.dumps(result, indent=2, default=str))
    return 0


def _print_mail(mail: Mail) -> None:
    print(f"--- mail (not sent; use the DAG for SMTP) ---\n{mail.subject}\n\n{mail.text}")


def _forecast(args) -> int:
    from cryptolstm import pipeline
    from cryptolstm.commands import CommandError
    from cryptolstm.errors import Permanent, one_line

    try:
        return _print(pipeline.forecast(_dsn(), args.as_of, args.run_id or f"cli__{args.as_of}"))
    except Permanent as exc:  # the CLI's one-line error (cli.main), naming the day
        raise CommandError(f"no forecast for {args.as_of}: {one_line(exc)}") from None


def _score(args) -> int:
    from cryptolstm import pipeline

    return _print(pipeline.score(_dsn(), args.as_of))


def _alerts(args) -> int:
    from cryptolstm import pipeline

    return _print(pipeline.check_alerts(_dsn(), args.as_of, _print_mail))


def _train(args) -> int:
    from cryptolstm import pipeline

    if args.week_end.weekday() != 6:
        print(f"note: {args.week_end} is not a Sunday (the weekly DAG's interval ends on Sundays)")
    return _print(pipeline.train_challenger(_dsn(), _midnight(args.week_end), log_fn=print))


def _decide(args) -> int:
    from cryptolstm import pipeline

    return _print(pipeline.decide(_dsn(), _midnight(args.week_end), args.model))


def _promote(args) -> int:
    from cryptolstm.commands import CommandError
    from cryptolstm.serving import decisions

    try:
        return _print(decisions.promote_manually(_dsn(), args.model, args.effective, args.reason))
    except (KeyError, ValueError) as exc:
        raise CommandError(str(exc))


PARSE_SNIPPET = r"""
import sys, time
from airflow.dag_processing.dagbag import DagBag
import airflow.sdk
t0 = time.perf_counter()
bag = DagBag(dag_folder=sys.argv[1])
print(f"{time.perf_counter() - t0:.4f} {len(bag.dags)} {len(bag.import_errors)}")
"""


def parse_seconds(path, repeats: int = 5) -> tuple[float, int, int]:
    """Median seconds to parse one DAG file in a fresh interpreter (as the dag-processor does)."""
    import statistics
    import subprocess
    import sys

    times, dags, errors = [], 0, 0
    for _ in range(repeats):
        out = subprocess.run([sys.executable, "-c", PARSE_SNIPPET, str(path)], capture_output=True, text=True,
                             timeout=120, check=True)
        s, dags, errors = out.stdout.strip().splitlines()[-1].split()
        times.append(float(s))
    return statistics.median(times), int(dags), int(errors)


def _bench(args) -> int:
    """Daily pipeline for one day on the configured DB (steps timed as the DAG runs them), then parse times."""
    from cryptolstm import pipeline
    from cryptolstm.config import PROJECT_ROOT
    from cryptolstm.environment import load_settings

    dsn = _dsn()
    start = _midnight(args.as_of)
    end = start + timedelta(days=1)
    coins = load_settings().market.coins
    steps = {}
    t_all = time.perf_counter()
    t = time.perf_counter()
    reports = [pipeline.ingest_coin(dsn, c, start, end) for c in coins]
    steps["ingest (9 coins)" if len(coins) == 9 else f"ingest ({len(coins)} coins)"] = time.perf_counter() - t
    for name, fn in [("forecast+features", lambda: pipeline.forecast(dsn, args.as_of, f"bench__{args.as_of}")),
                     ("score", lambda: pipeline.score(dsn, args.as_of)),
                     ("alerts", lambda: pipeline.check_alerts(dsn, args.as_of, lambda s, b: None))]:
        t = time.perf_counter()
        result = fn()
        steps[name] = time.perf_counter() - t
        if name == "forecast+features":
            fc = result
    total = time.perf_counter() - t_all
    print(f"daily pipeline for {args.as_of}, {len(coins)} coins "
          f"(requests {sum(r.get('requests') or 0 for r in reports)}, forecast: {fc['status']}, rows {fc['rows']})")
    for name, s in steps.items():
        print(f"  {name:18} {s:7.2f} s")
    print(f"  {'TOTAL':18} {total:7.2f} s   (target <= 60 s)")
    for f in sorted((PROJECT_ROOT / "dags").glob("cryptolstm_*.py")):
        s, n, e = parse_seconds(f)
        print(f"parse {f.name:24} {s:.3f} s median of 5, {n} DAG, {e} errors   (target <= 0.3 s)")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("forecast", help="forecast one as-of day with its point-in-time champion")
    p.add_argument("--as-of", type=_day, required=True)
    p.add_argument("--run-id", default=None, help="stored with the rows (default cli__<day>)")
    p.set_defaults(func=_forecast)

    p = sub.add_parser("score", help="score forecasts whose target day closed by --as-of")
    p.add_argument("--as-of", type=_day, required=True)
    p.set_defaults(func=_score)

    p = sub.add_parser("alerts", help="evaluate and record the alerts of one day (mails printed, not sent)")
    p.add_argument("--as-of", type=_day, required=True)
    p.set_defaults(func=_alerts)

    p = sub.add_parser("train", help="walk-forward + train + register the challenger of one weekly interval")
    p.add_argument("--week-end", type=_day, required=True, help="interval end (a Sunday); cutoff = the day before")
    p.set_defaults(func=_train)

    p = sub.add_parser("decide", help="promote or reject a registered challenger (the weekly gate)")
    p.add_argument("--week-end", type=_day, required=True)
    p.add_argument("--model", required=True)
    p.set_defaults(func=_decide)

    p = sub.add_parser("promote", help="operator promotion (recorded as a decision with your reason)")
    p.add_argument("model")
    p.add_argument("--from", dest="effective", type=_day, required=True, help="first as-of day it serves")
    p.add_argument("--reason", required=True)
    p.set_defaults(func=_promote)

    p = sub.add_parser("bench-daily", help="time the daily steps for 9 coins and the DAG parse")
    p.add_argument("--as-of", type=_day, required=True)
    p.set_defaults(func=_bench)
