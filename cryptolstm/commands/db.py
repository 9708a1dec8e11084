"""`cryptolstm db up|down|migrate|dsn` — the forecasting database."""

from __future__ import annotations

import argparse

from cryptolstm.config import Settings


def forecast_dsn(settings: Settings) -> str:
    """The configured DSN, or the embedded server's (started if needed)."""
    if settings.dsn:
        return settings.dsn
    from cryptolstm.runtime import embedded_pg

    return embedded_pg.start(settings)["forecast"]


def _up(args: argparse.Namespace) -> None:
    from cryptolstm.runtime import embedded_pg
    from cryptolstm import storage

    s = Settings.from_env()
    if s.dsn:
        print("using the configured database (CRYPTOLSTM_DSN / AIRFLOW_CONN_CRYPTOLSTM_DB)")
        dsn = s.dsn
    else:
        dsns = embedded_pg.start(s)
        dsn = dsns["forecast"]
        print(f"embedded PostgreSQL running, data in {s.pg_dir}")
        print(f"  forecasting DB: {dsns['forecast']}\n  airflow DB:     {dsns['airflow']}")
    applied = storage.migrate(dsn)
    print(f"schema up to date ({len(applied)} migration(s) applied now)")


def _down(args: argparse.Namespace) -> None:
    from cryptolstm.runtime import embedded_pg

    s = Settings.from_env()
    print("embedded PostgreSQL stopped" if embedded_pg.stop(s) else "embedded PostgreSQL was not running")


def _migrate(args: argparse.Namespace) -> None:
    from cryptolstm import storage

    applied = storage.migrate(forecast_dsn(Settings.from_env()))
    print(f"schema up to date ({len(applied)} migration(s) applied now)")


def _dsn(args: argparse.Namespace) -> None:
    print(forecast_dsn(Settings.from_env()))


def _psql(args: argparse.Namespace) -> int:
    """Run psql on the forecasting DB: the system's psql if any, else the one bundled with the embedded server."""
    import os
    import shutil
    from pathlib import Path

    exe = shutil.which("psql")
    if exe is None:
        from cryptolstm.runtime import embedded_pg

        exe = str(embedded_pg.bin_dir() / "psql")
    argv = [exe, forecast_dsn(Settings.from_env()), *args.passthrough]
    os.execv(exe, argv) if Path(exe).exists() else None
    return 1


def register(sub: argparse._SubParsersAction) -> None:
    db = sub.add_parser("db", help="the forecasting database (embedded PostgreSQL by default)")
    verbs = db.add_subparsers(dest="verb", metavar="VERB", required=True)
    for name, func, text in [
        ("up", _up, "start the embedded server (idempotent), create the databases, apply migrations"),
        ("down", _down, "stop the embedded server"),
        ("migrate", _migrate, "apply pending migrations to the configured database"),
        ("dsn", _dsn, "print the forecasting database DSN (for psql)"),
    ]:
        verbs.add_parser(name, help=text).set_defaults(func=func)
    psql = verbs.add_parser("psql", help="open psql on the forecasting database (extra args go to psql)")
    psql.set_defaults(func=_psql, passthrough=[])
