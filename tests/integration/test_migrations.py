"""The migrations build the schema on a fresh database, and applying them again changes nothing."""

from cryptolstm import storage

EXPECTED_TABLES = {
    "coins", "candles", "rejected_candles", "ingest_runs", "features", "models", "forecasts",
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
    assert EXPECTED_TABLES <= tables
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
