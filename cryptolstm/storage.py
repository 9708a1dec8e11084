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

from cryptolstm.environment import load_sql_dir

SQL_DIR = load_sql_dir()  # CRYPTOLSTM_SQL_DIR, read alone: every query and migration is found here
_MIGRATION_RE = re.compile(r"^(\d{3})_([a-z0-9_]+)\.sql$")


def connect(dsn: str, statement_timeout: str | None = None) -> "psycopg2.extensions.connection":
    """Open a psycopg2 connection whose session time zone is UTC. `statement_timeout` (e.g. '10s'): the
    session's own limit on each statement, set when it starts, whatever the role's default says."""
    options = "-c timezone=UTC" + (f" -c statement_timeout={statement_timeout}" if statement_timeout else "")
    return psycopg2.connect(dsn, options=options, connect_timeout=10)


@contextmanager
def transaction(dsn: str, statement_timeout: str | None = None) -> Iterator["psycopg2.extensions.cursor"]:
    """One connection (`connect`), one transaction: commit on success, roll back on any error.

    The error that broke the transaction is the one raised: when the server went away, psycopg2's
    own rollback would raise "InterfaceError: connection already closed" and hide the real cause.
    """
    conn = connect(dsn, statement_timeout)
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


def execute_batch(cur, name: str, rows: "list[dict]", page_size: int = 1000) -> None:
    """Run the named query once per row of parameters, sent to the server in pages of `page_size`
    statements (one round trip per page instead of one per row)."""
    psycopg2.extras.execute_batch(cur, query(name), rows, page_size=page_size)


def compose(query_name: str, /, **identifiers: str) -> "psycopg2.sql.Composed":
    """The named query with `{placeholders}` filled by quoted identifiers (DDL such as CREATE DATABASE
    cannot take a bound parameter for a name)."""
    from psycopg2 import sql

    return sql.SQL(query(query_name)).format(**{k: sql.Identifier(v) for k, v in identifiers.items()})


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


# The migration lock is a table lock, not an advisory lock: any role may call pg_advisory_lock (EXECUTE
# is granted to PUBLIC and only a superuser could revoke it, for the whole cluster), so the read-only
# role could block `db migrate` forever. LOCK ... IN EXCLUSIVE MODE needs UPDATE/DELETE/TRUNCATE on the
# table, which only its owner (the migrating role) has; SELECT (the reader's) allows ACCESS SHARE only,
# which EXCLUSIVE does not wait for. The table (schema_migrations_lock) never holds a row.


def _take_migration_lock(dsn: str) -> "psycopg2.extensions.connection":
    """A connection whose open transaction holds the migration lock (close it to release)."""
    conn = connect(dsn)
    try:
        for attempt in range(2):
            try:
                with conn, conn.cursor() as cur:
                    cur.execute(query("schema_migrations_lock_create"))
                break
            except (psycopg2.errors.UniqueViolation, psycopg2.errors.DuplicateTable):
                if attempt:  # a concurrent runner created it between our check and our insert
                    raise
        with conn.cursor() as cur:  # the transaction stays open: the lock lives until close()
            cur.execute(query("schema_migrations_lock_lock"))
        return conn
    except BaseException:
        conn.close()
        raise


def migrate(dsn: str, sql_dir: Path = SQL_DIR, log=print) -> list[int]:
    """Apply the migrations not applied yet, each in its own transaction; return their versions.

    Safe to run any number of times and from concurrent processes (a lock only the migrating role
    can take serialises runners; see _take_migration_lock). An applied migration whose file changed
    afterwards is an error: add a new one instead.
    """
    applied_now: list[int] = []
    lock = _take_migration_lock(dsn)
    conn = connect(dsn)
    try:
        with conn, conn.cursor() as cur:
            cur.execute(query("schema_migrations_create"))
        with conn, conn.cursor() as cur:
            cur.execute(query("schema_migrations_select"))
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
                cur.execute(query("schema_migrations_insert"),
                            {"version": mig.version, "name": mig.name, "sha256": mig.sha256})
            log(f"applied migration {mig.path.name}")
            applied_now.append(mig.version)
    finally:
        conn.close()
        lock.close()  # ends its transaction: releases the lock
    return applied_now


# ---- the schema the migrations build (sql/schema.sql) ---------------------------------------------------

_FOR_ROLE = re.compile(r"FOR ROLE \S+ ")  # ALTER DEFAULT PRIVILEGES names whoever ran the migrations
_DUMP_NOISE = re.compile(r"^(--|SET |SELECT pg_catalog\.set_config|\\restrict |\\unrestrict )")


def dump_schema(dsn: str, pg_dump: str = "pg_dump") -> str:
    """`pg_dump --schema-only` of the database, normalised so that two dumps of equal schemas compare
    equal: no owners, no comments, no session settings, single blank lines."""
    import subprocess

    out = subprocess.run([pg_dump, "--schema-only", "--no-owner", "--no-comments", "--dbname", dsn],
                         capture_output=True, text=True, check=False)
    if out.returncode != 0:
        raise RuntimeError(f"pg_dump failed: {out.stderr.strip()}")
    return normalise_schema(out.stdout)


def normalise_schema(text: str) -> str:
    """Drop what varies between servers and runs; the migrating role's name becomes <migrator>."""
    lines, blank = [], True
    for line in text.splitlines():
        line = _FOR_ROLE.sub("FOR ROLE <migrator> ", line.rstrip())
        if _DUMP_NOISE.match(line):
            continue
        if not line:
            if not blank:
                lines.append("")
            blank = True
            continue
        lines.append(line)
        blank = False
    header = ["-- The schema `cryptolstm db migrate` builds (normalised pg_dump --schema-only of a fresh database).",
              "-- Generated, do not edit: regenerate with `.venv/bin/cryptolstm db schema > sql/schema.sql`.", ""]
    return "\n".join(header + lines).rstrip("\n") + "\n"
