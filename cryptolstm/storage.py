"""PostgreSQL access: connections, the migration runner and named queries from `sql/`.

The library never decides where the database is: callers pass a DSN (from `Settings`, an Airflow
connection, or the embedded server). Every session runs in UTC.
"""

from __future__ import annotations

import hashlib
import re
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Iterator

import psycopg2
import psycopg2.errors
import psycopg2.extras

from cryptolstm import config

SQL_DIR = config.sql_dir()
_MIGRATION_RE = re.compile(r"^(\d{3})_([a-z0-9_]+)\.sql$")


def connect(dsn: str) -> "psycopg2.extensions.connection":
    """Open a psycopg2 connection whose session time zone is UTC."""
    return psycopg2.connect(dsn, options="-c timezone=UTC", connect_timeout=10)


@contextmanager
def transaction(dsn: str) -> Iterator["psycopg2.extensions.cursor"]:
    """One connection, one transaction: commit on success, roll back on any error.

    The error that broke the transaction is the one raised: when the server went away, psycopg2's
    own rollback would raise "InterfaceError: connection already closed" and hide the real cause.
    """
    conn = connect(dsn)
    try:
        with conn.cursor() as cur:
            yield cur
        conn.commit()
    except BaseException:
        if not conn.closed:
            try:
                conn.rollback()
            except psycopg2.Error:
                pass  # the connection died; the server discards the transaction, the cause is raised below
        raise
    finally:
        conn.close()


@lru_cache(maxsize=None)
def query(name: str) -> str:
    """The text of the named query `sql/queries/<name>.sql`."""
    path = SQL_DIR / "queries" / f"{name}.sql"
    if not path.exists():
        raise KeyError(f"no named query {name!r} (looked for {path})")
    return path.read_text()


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    path: Path

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.path.read_bytes()).hexdigest()


def migrations(sql_dir: Path = SQL_DIR) -> list[Migration]:
    """The numbered migration files in order; refuses gaps, duplicates and stray names."""
    found = []
    for path in sorted((sql_dir / "migrations").glob("*.sql")):
        m = _MIGRATION_RE.match(path.name)
        if not m:
            raise ValueError(f"migration file name must look like 001_name.sql: {path.name}")
        found.append(Migration(int(m.group(1)), m.group(2), path))
    versions = [m.version for m in found]
    if versions != list(range(1, len(found) + 1)):
        raise ValueError(f"migrations must be numbered 1..N without gaps or duplicates, got {versions}")
    return found


_LEDGER = """
CREATE TABLE IF NOT EXISTS schema_migrations (
    version    integer PRIMARY KEY,
    name       text NOT NULL,
    sha256     text NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now()
)"""

# The migration lock is a table lock, not an advisory lock: any role may call pg_advisory_lock (EXECUTE
# is granted to PUBLIC and only a superuser could revoke it, for the whole cluster), so the read-only
# role could block `db migrate` forever. LOCK ... IN EXCLUSIVE MODE needs UPDATE/DELETE/TRUNCATE on the
# table, which only its owner (the migrating role) has; SELECT (the reader's) allows ACCESS SHARE only,
# which EXCLUSIVE does not wait for. The table never holds a row.
_LOCK_TABLE = "schema_migrations_lock"
_CREATE_LOCK_TABLE = f"""
CREATE TABLE IF NOT EXISTS {_LOCK_TABLE} (
    held boolean PRIMARY KEY CHECK (held)
)"""


def _take_migration_lock(dsn: str) -> "psycopg2.extensions.connection":
    """A connection whose open transaction holds the migration lock (close it to release)."""
    conn = connect(dsn)
    try:
        for attempt in range(2):
            try:
                with conn, conn.cursor() as cur:
                    cur.execute(_CREATE_LOCK_TABLE)
                break
            except (psycopg2.errors.UniqueViolation, psycopg2.errors.DuplicateTable):
                if attempt:  # a concurrent runner created it between our check and our insert
                    raise
        with conn.cursor() as cur:  # the transaction stays open: the lock lives until close()
            cur.execute(f"LOCK TABLE {_LOCK_TABLE} IN EXCLUSIVE MODE")
        return conn
    except BaseException:
        conn.close()
        raise


def migrate(dsn: str, sql_dir: Path = SQL_DIR, log=print) -> list[int]:
    """Apply the migrations not applied yet, each in its own transaction; return their versions.

    Safe to run any number of times and from concurrent processes (a lock only the migrating role
    can take serialises runners; see _LOCK_TABLE). An applied migration whose file changed
    afterwards is an error: add a new one instead.
    """
    applied_now: list[int] = []
    lock = _take_migration_lock(dsn)
    conn = connect(dsn)
    try:
        with conn, conn.cursor() as cur:
            cur.execute(_LEDGER)
        with conn, conn.cursor() as cur:
            cur.execute("SELECT version, sha256 FROM schema_migrations")
            done = dict(cur.fetchall())
        for mig in migrations(sql_dir):
            if mig.version in done:
                if done[mig.version] != mig.sha256:
                    raise RuntimeError(
                        f"migration {mig.path.name} changed after it was applied; "
                        "never edit an applied migration, add a new numbered one")
                continue
            with conn, conn.cursor() as cur:
                cur.execute(mig.path.read_text())
                cur.execute("INSERT INTO schema_migrations (version, name, sha256) VALUES (%s, %s, %s)",
                            (mig.version, mig.name, mig.sha256))
            log(f"applied migration {mig.path.name}")
            applied_now.append(mig.version)
    finally:
        conn.close()
        lock.close()  # ends its transaction: releases the lock
    return applied_now
