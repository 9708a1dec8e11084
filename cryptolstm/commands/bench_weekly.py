"""`cryptolstm bench-weekly` — wall time of one weekly run (walk-forward + fit + decision) on the recorded
candles, in a throw-away embedded PostgreSQL: the number the <= 10 minutes / 2 cores budget is held to.

    cryptolstm bench-weekly --week-end 2025-02-16     # both recorded folders: the 20-coin training universe

Uses the pipeline configuration of the environment (default: the full model, 5 folds x 120 as-of days;
CRYPTOLSTM_TRAIN_PROFILE=tiny for a quick check). The first weekly run of an empty registry decides
with the first-model gate, so the timing includes the gate's bootstrap.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

from cryptolstm.bench.engine import WEEK_END


def _bench(args: argparse.Namespace) -> int:
    import psycopg2

    from cryptolstm import pipeline, storage
    from cryptolstm.bench import recorded
    from cryptolstm.config import SHARED_DATA_DIR, SHARED_DATA_MORE_DIR
    from cryptolstm.dsn import make_dsn
    from cryptolstm.environment import load_pipeline
    from cryptolstm.runtime import embedded_pg

    week_end = date.fromisoformat(args.week_end)
    end = datetime(week_end.year, week_end.month, week_end.day, tzinfo=timezone.utc)
    cfg = load_pipeline()
    dirs = [Path(d) for d in args.csv_dir or [SHARED_DATA_DIR, SHARED_DATA_MORE_DIR]]
    panel = recorded.panel(dirs, until=week_end - timedelta(days=1))
    with tempfile.TemporaryDirectory() as tmp:
        server = embedded_pg._pgserver().get_server(Path(tmp) / "pg", cleanup_mode="delete")
        admin = make_dsn(host=str(server.get_postmaster_info().socket_dir), dbname="postgres")
        conn = psycopg2.connect(admin)
        conn.autocommit = True
        conn.cursor().execute(storage.compose("pg_database_create", name="bench"))
        conn.close()
        dsn = make_dsn(host=str(server.get_postmaster_info().socket_dir), dbname="bench")
        storage.migrate(dsn, log=lambda *_: None)
        recorded.store(dsn, panel, fetched_at=end)
        print(f"weekly run for the week ending {week_end}: profile {cfg.train_profile}, {cfg.wf_folds} folds over "
              f"{cfg.wf_days} as-of days, {panel['coin'].nunique()} coins", flush=True)
        t0 = time.perf_counter()
        trained = pipeline.train_challenger(dsn, end, cfg, log_fn=lambda m: print("  ", m, flush=True))
        t1 = time.perf_counter()
        decision = pipeline.decide(dsn, end, trained["model_id"], cfg)
        t2 = time.perf_counter()
        server.cleanup()
    print(f"train_challenger (walk-forward {trained['wf_seconds']} s + fit + registry): {t1 - t0:.1f} s")
    print(f"decide (artifact check, final-model sign check, gate): {t2 - t1:.1f} s")
    print(f"decision: {'PROMOTED' if decision['promoted'] else 'not promoted'} — {decision['reason']}")
    print(f"WEEKLY RUN TOTAL: {t2 - t0:.1f} s (budget 600 s on 2 cores)")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("bench-weekly", help="wall time of one weekly run (walk-forward + fit + gate), budget 600 s")
    p.add_argument("--csv-dir", action="append",
                   help="folder of recorded daily candles, one CSV per coin (repeatable; default: binance-1d and "
                        "binance-1d-more, the served and the auxiliary coins)")
    p.add_argument("--week-end", default=WEEK_END.isoformat(),
                   help=f"Sunday ending the weekly interval (default {WEEK_END})")
    p.set_defaults(func=_bench)
