"""The migrations build the schema on a fresh database, and applying them again changes nothing."""

from cryptolstm import storage

EXPECTED_TABLES = {
    "coins", "candles", "rejected_candles", "ingest_runs", "models", "forecasts",
    "forecast_scores", "promotion_decisions", "alerts", "schema_migrations",
}


def _schema(dsn):
    with storage.transaction(dsn) as cur:
        cur.execute("""SELECT table_name, column_name, data_type, is_nullable
                       FROM information_schema.columns WHERE table_schema = 'public'
                       ORDER BY table_name, ordinal_position""")
        cols = cur.fetchall()
        cur.execute("""SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid)
                       FROM pg_constraint WHERE connamespace = 'public'::regnamespace ORDER BY 1, 2""")
        cons = cur.fetchall()
        cur.execute("SELECT viewname, definition FROM pg_views WHERE schemaname = 'public' ORDER BY 1")
        views = cur.fetchall()
    return cols, cons, views


def test_fresh_database_gets_every_table_and_migration(db):
    with storage.transaction(db) as cur:
        cur.execute("SELECT table_name FROM information_schema.tables WHERE table_schema='public'")
        tables = {r[0] for r in cur.fetchall()}
        cur.execute("SELECT version FROM schema_migrations ORDER BY version")
        versions = [r[0] for r in cur.fetchall()]
        cur.execute("SHOW timezone")
        tz = cur.fetchone()[0]
    assert EXPECTED_TABLES <= tables and "features" not in tables  # 008 dropped it: written, never read
    assert versions == [m.version for m in storage.migrations()]
    assert tz == "UTC"


def test_applying_twice_changes_nothing(db):
    before = _schema(db)
    assert storage.migrate(db, log=lambda *_: None) == []
    assert _schema(db) == before


def test_upsert_keys_exist_for_every_table(db):
    with storage.transaction(db) as cur:
        cur.execute("""SELECT c.relname FROM pg_class c
                       WHERE c.relnamespace = 'public'::regnamespace AND c.relkind = 'r'
                         AND NOT EXISTS (SELECT 1 FROM pg_constraint p WHERE p.conrelid = c.oid AND p.contype = 'p')""")
        assert cur.fetchall() == []


def test_edited_applied_migration_is_refused(db, tmp_path):
    import shutil

    import pytest

    shutil.copytree(storage.SQL_DIR / "migrations", tmp_path / "migrations")
    first = sorted((tmp_path / "migrations").glob("001_*.sql"))[0]
    first.write_text(first.read_text() + "\n-- edited\n")
    with pytest.raises(RuntimeError, match="changed after it was applied"):
        storage.migrate(db, sql_dir=tmp_path, log=lambda *_: None)


def _with_extra_migration(tmp_path, sql: str):
    import shutil

    shutil.copytree(storage.SQL_DIR / "migrations", tmp_path / "migrations")
    n = len(storage.migrations()) + 1
    (tmp_path / "migrations" / f"{n:03d}_probe.sql").write_text(sql)
    return n


def _migrate_in_thread(dsn, sql_dir):
    import threading

    out: dict = {}

    def run():
        try:
            out["applied"] = storage.migrate(dsn, sql_dir=sql_dir, log=lambda *_: None)
        except Exception as exc:  # reported by the test
            out["error"] = exc

    t = threading.Thread(target=run, daemon=True)
    t.start()
    return t, out


def test_the_reader_role_can_neither_take_nor_block_the_migration_lock(db, tmp_path):
    """Issue 12 §5: the read-only role could hold the migration's advisory lock and block `db migrate`."""
    import psycopg2
    import pytest

    n = _with_extra_migration(tmp_path, "CREATE TABLE probe (id integer PRIMARY KEY);")
    reader = psycopg2.connect(db)
    try:
        with reader.cursor() as cur:
            cur.execute("SET ROLE cryptolstm_reader")
            cur.execute("SELECT pg_advisory_lock(727274)")  # the old lock's key: any role can take it
            cur.execute("SELECT count(*) FROM schema_migrations")  # and a read left open
            t, out = _migrate_in_thread(db, tmp_path)
            t.join(timeout=60)
            assert not t.is_alive(), "db migrate waited for the reader"
            assert out == {"applied": [n]}
        reader.rollback()
        with reader.cursor() as cur:
            cur.execute("SET ROLE cryptolstm_reader")
            cur.execute("SELECT count(*) FROM schema_migrations_lock")  # reading the lock table blocks nothing
            t, out = _migrate_in_thread(db, tmp_path)
            t.join(timeout=60)
            assert not t.is_alive() and out == {"applied": []}
            with pytest.raises(psycopg2.errors.InsufficientPrivilege):
                cur.execute("LOCK TABLE schema_migrations_lock IN EXCLUSIVE MODE")
    finally:
        reader.close()


def test_concurrent_runners_apply_each_migration_once(pg_exec, dsn_for):
    """Two `db migrate` on an empty database at once: the lock table's creation races, the lock serialises."""
    import os

    name = f"cl_test_race_{os.getpid()}"
    pg_exec(f"DROP DATABASE IF EXISTS {name}")
    pg_exec(f"CREATE DATABASE {name}")
    try:
        dsn = dsn_for(name)
        runs = [_migrate_in_thread(dsn, storage.SQL_DIR) for _ in range(2)]
        for t, _ in runs:
            t.join(timeout=120)
        results = [out for _, out in runs]
        assert all("error" not in r for r in results), results
        applied = sorted(v for r in results for v in r["applied"])
        assert applied == [m.version for m in storage.migrations()]
        with storage.transaction(dsn) as cur:
            cur.execute("SELECT count(*) FROM schema_migrations")
            assert cur.fetchone()[0] == len(storage.migrations())
    finally:
        pg_exec(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def test_a_readers_long_query_is_cancelled(db):
    """Issue 20: the read-only role had no statement_timeout, so a reader's query could hold the database.
    Migration 008 gives its sessions 15 s; the writing role keeps none (training reads run longer)."""
    import time

    import psycopg2
    import pytest
    from psycopg2.extensions import make_dsn

    reader = make_dsn(db, user="cryptolstm_reader", password=None)  # the same server and database, the reader role
    with storage.transaction(db) as cur:
        cur.execute("SHOW statement_timeout")
        assert cur.fetchone()[0] == "0"
    conn = psycopg2.connect(reader)
    try:
        with conn.cursor() as cur:
            cur.execute("SHOW statement_timeout")
            assert cur.fetchone()[0] == "15s"
            t0 = time.monotonic()
            with pytest.raises(psycopg2.errors.QueryCanceled, match="statement timeout"):
                cur.execute("SELECT pg_sleep(20)")
            assert 14 < time.monotonic() - t0 < 19
    finally:
        conn.close()


def test_012_folds_the_reject_rows_an_earlier_schema_multiplied(tmp_path, pg_exec, dsn_for):
    """Issue 27 §2: before 012 a reject row was stored once per ingested interval. 012 keeps one row per
    (coin, payload, reason): the one of the latest interval, with seen = how many there were."""
    import os
    import shutil

    (tmp_path / "migrations").mkdir()
    for mig in storage.migrations():
        if mig.version < 12:
            shutil.copy(mig.path, tmp_path / "migrations" / mig.path.name)
    name = f"cl_test_fold_{os.getpid()}"
    pg_exec(f"DROP DATABASE IF EXISTS {name}")
    pg_exec(f"CREATE DATABASE {name}")
    try:
        dsn = dsn_for(name)
        storage.migrate(dsn, sql_dir=tmp_path, log=lambda *_: None)
        with storage.transaction(dsn) as cur:
            for end, sha, reason in [("2025-02-11", "a", "r"), ("2025-02-13", "a", "r"), ("2025-02-12", "a", "r"),
                                     ("2025-02-12", "a", "other"), ("2025-02-12", "b", "r")]:
                cur.execute("INSERT INTO rejected_candles (coin, interval_start, interval_end, raw_sha256, reason, "
                            "day, raw) VALUES ('BTC', %s::date - 1, %s, %s, %s, '2025-02-10', '{}')",
                            (end, end, sha, reason))
        assert storage.migrate(dsn, log=lambda *_: None) == [m.version for m in storage.migrations()
                                                               if m.version >= 12]
        with storage.transaction(dsn) as cur:
            cur.execute("SELECT raw_sha256, reason, interval_end::date::text, seen FROM rejected_candles ORDER BY 1, 2")
            assert cur.fetchall() == [("a", "other", "2025-02-12", 1), ("a", "r", "2025-02-13", 3),
                                      ("b", "r", "2025-02-12", 1)]
    finally:
        pg_exec(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
