"""`cryptolstm db up|down|migrate|dsn|psql|schema` — the forecasting database."""

from __future__ import annotations

import argparse

from cryptolstm.commands import CommandError
from cryptolstm.config import Settings
from cryptolstm.environment import load_settings


def forecast_dsn(settings: Settings) -> str:
    """The configured DSN, or the embedded server's (started if needed)."""
    if settings.dsn:
        return settings.dsn
    from cryptolstm.runtime import embedded_pg

    return embedded_pg.start(settings)["forecast"]


def running_dsn(settings: Settings) -> str:
    """The configured DSN, or the running embedded server's. Never starts a server: a verb that only reads a
    DSN must not create a second database where no stack lives (an empty or mistyped CRYPTOLSTM_STATE_DIR)."""
    from cryptolstm.runtime import embedded_pg

    dsn = settings.dsn or embedded_pg.running_dsn(settings)
    if dsn is None:
        raise CommandError(f"no embedded PostgreSQL runs in the state folder {settings.state_dir}: start it with "
                           "`cryptolstm db up`, or set CRYPTOLSTM_STATE_DIR to the state folder of your stack")
    return dsn


def _up(args: argparse.Namespace) -> None:
    from cryptolstm.runtime import embedded_pg
    from cryptolstm import storage

    s = load_settings()
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

    s = load_settings()
    print("embedded PostgreSQL stopped" if embedded_pg.stop(s) else "embedded PostgreSQL was not running")


def _migrate(args: argparse.Namespace) -> None:
    from cryptolstm import storage

    applied = storage.migrate(forecast_dsn(load_settings()))
    print(f"schema up to date ({len(applied)} migration(s) applied now)")


def _dsn(args: argparse.Namespace) -> None:
    print(running_dsn(load_settings()))


def _psql(args: argparse.Namespace) -> int:
    """Run psql on the forecasting DB: the system's psql if any, else the one bundled with the embedded server."""
    import os
    import shutil
    from pathlib import Path

    exe = shutil.which("psql")
    if exe is None:
        from cryptolstm.runtime import embedded_pg

        exe = str(embedded_pg.bin_dir() / "psql")
    argv = [exe, running_dsn(load_settings()), *args.passthrough]
    os.execv(exe, argv) if Path(exe).exists() else None
    return 1


def pg_dump_exe() -> str:
    """pg_dump bundled with the embedded server (PostgreSQL 16, like compose): the system's may be older."""
    from cryptolstm.runtime import embedded_pg

    return str(embedded_pg.bin_dir() / "pg_dump")


def _schema(args: argparse.Namespace) -> None:
    """Print the schema the migrations build: migrate a scratch database on the configured server, dump it
    (normalised), drop it. `cryptolstm db schema > sql/schema.sql` regenerates the checked-in file."""
    import os

    import psycopg2

    from cryptolstm import storage
    from cryptolstm.dsn import with_dbname

    dsn = forecast_dsn(load_settings())
    name = f"cryptolstm_schema_{os.getpid()}"
    scratch = with_dbname(dsn, name)
    admin = psycopg2.connect(dsn)
    admin.autocommit = True  # CREATE/DROP DATABASE cannot run in a transaction
    try:
        with admin.cursor() as cur:
            cur.execute(storage.compose("pg_database_create", name=name))
        try:
            storage.migrate(scratch, log=lambda *_: None)
            print(storage.dump_schema(scratch, pg_dump_exe()), end="")
        finally:
            with admin.cursor() as cur:
                cur.execute(storage.compose("pg_database_drop", name=name))
    finally:
        admin.close()


def register(sub: argparse._SubParsersAction) -> None:
    db = sub.add_parser("db", help="the forecasting database (embedded PostgreSQL by default)")
    verbs = db.add_subparsers(dest="verb", metavar="VERB", required=True)
    for name, func, text in [
        ("up", _up, "start the embedded server (idempotent), create the databases, apply migrations"),
        ("down", _down, "stop the embedded server"),
        ("migrate", _migrate, "apply pending migrations to the configured database"),
        ("dsn", _dsn, "print the forecasting database DSN (for psql); starts nothing"),
        ("schema", _schema, "print the schema the migrations build (> sql/schema.sql regenerates it)"),
    ]:
        verbs.add_parser(name, help=text).set_defaults(func=func)
    psql = verbs.add_parser("psql", help="open psql on the forecasting database (extra args go to psql)")
    psql.set_defaults(func=_psql, passthrough=[])
