"""`cryptolstm bench-engine` — one weekly DAG run on the real Airflow services (LocalExecutor, or Celery with N
workers): wall time, each task's time and worker, the training tasks' sum, and the projection to more workers.

    cryptolstm bench-engine --engine local                          # 20 recorded coins, full model
    cryptolstm bench-engine --engine celery --workers 2 --members 3
    cryptolstm bench-engine --engine local --coins BTC,ETH,SOL --profile tiny --folds 2 --wf-days 28   # ~1 min

Code: cryptolstm/bench/engine.py; how to read the table and project it: docs/scale.md, "Weekly run on the engine".
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
from dataclasses import asdict
from datetime import date
from pathlib import Path

from cryptolstm.bench.engine import MEMBERS_ENV, WEEK_END


def _bench_engine(args: argparse.Namespace) -> int:
    from cryptolstm.bench import engine
    from cryptolstm.commands import CommandError
    from cryptolstm.commands.market import SHARED_DATA

    replay = Path(args.replay).resolve() if args.replay else SHARED_DATA.parent
    if not replay.is_dir():
        raise CommandError(f"no recorded candles at {replay} (give a folder with --replay)")
    if args.workers < 1 or args.concurrency < 1 or args.weeks < 1:
        raise CommandError("--workers, --concurrency and --weeks must be at least 1")
    coins = tuple(c.strip().upper() for c in args.coins.split(",") if c.strip()) if args.coins else None
    state = Path(args.state_dir) if args.state_dir else Path(tempfile.mkdtemp(prefix="bench-engine-"))
    print(f"bench-engine: {args.engine}" + (f", {args.workers} worker(s)" if args.engine == "celery" else "")
          + f", state folder {state}, {os.cpu_count()} CPUs, load average {os.getloadavg()}", flush=True)
    done = False
    try:
        result = engine.run(executor=args.engine, workers=args.workers, concurrency=args.concurrency,
                            replay_dir=replay, state_dir=state, coins=coins, profile=args.profile,
                            folds=args.folds, wf_days=args.wf_days, members=args.members,
                            week_end=date.fromisoformat(args.week_end), weeks=args.weeks, timeout=args.timeout,
                            log=lambda m: print("  ", m, flush=True))
        done = True
    except (RuntimeError, TimeoutError, ValueError) as exc:
        raise CommandError(f"{exc} (services' logs, kept: {state / 'airflow' / 'logs'})") from None
    finally:
        if done and not args.state_dir:  # a failed run keeps its folder: the logs say why
            shutil.rmtree(state, ignore_errors=True)
    print()
    print(engine.report(result))
    if args.json:
        Path(args.json).write_text(json.dumps(asdict(result), indent=1, default=str))
        print(f"raw numbers: {args.json}")
    return 0 if result.state == "success" else 1


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("bench-engine", help="one weekly DAG run on the real services (LocalExecutor or Celery with N "
                                            "workers): wall time, per-task time and worker, projection")
    p.add_argument("--engine", choices=("local", "celery"), default="local",
                   help="Airflow executor: local (LocalExecutor, default) or celery (redis + --workers workers)")
    p.add_argument("--workers", type=int, default=1, help="Celery workers (default 1)")
    p.add_argument("--concurrency", type=int, default=1,
                   help="tasks each Celery worker runs at once (default 1: one training per worker)")
    p.add_argument("--coins", help="comma-separated universe (default: the configured one, the 20 recorded coins)")
    p.add_argument("--profile", choices=("full", "tiny"), default="full", help="the model (default full)")
    p.add_argument("--members", type=int, help=f"seed-ensemble size K ({MEMBERS_ENV}; default: the DAG's)")
    p.add_argument("--folds", type=int, help="walk-forward folds (CRYPTOLSTM_WF_FOLDS; default: the configured 5)")
    p.add_argument("--wf-days", type=int, help="as-of days the folds score (CRYPTOLSTM_WF_DAYS; default 5 x 120)")
    p.add_argument("--week-end", default=WEEK_END.isoformat(), help=f"Sunday ending the week (default {WEEK_END})")
    p.add_argument("--weeks", type=int, default=1,
                   help="backfill this many consecutive weeks ending --week-end, one run at a time (default 1); "
                        "the table is the last week's, the backfill's wall time follows it")
    p.add_argument("--replay", metavar="DIR", help="recorded candles (default ../shared/data: both recorded folders)")
    p.add_argument("--state-dir", help="keep the services' state (logs, databases) here (default: a temp folder, "
                                       "deleted)")
    p.add_argument("--timeout", type=float, default=3600.0, help="seconds to wait for each week's run (default 3600)")
    p.add_argument("--json", metavar="FILE", help="also write every task's numbers as JSON")
    p.set_defaults(func=_bench_engine)
