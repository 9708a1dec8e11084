"""sql/schema.sql is the schema the migrations build (as procrastinate does): migrate a fresh database,
dump it, compare. The file is what a reader opens to see the tables; this keeps it true."""

from __future__ import annotations

import difflib
from pathlib import Path

from cryptolstm import storage
from cryptolstm.commands.db import pg_dump_exe

SCHEMA = Path(__file__).resolve().parents[2] / "sql" / "schema.sql"
REGENERATE = ".venv/bin/cryptolstm db schema > sql/schema.sql"


def test_schema_sql_matches_a_freshly_migrated_database(template_dsn):
    built = storage.dump_schema(template_dsn, pg_dump_exe())  # template_dsn: a fresh database, migrated
    stored = SCHEMA.read_text()
    if built != stored:
        diff = "".join(list(difflib.unified_diff(stored.splitlines(True), built.splitlines(True),
                                                 "sql/schema.sql", "migrated database"))[:60])
        raise AssertionError(f"sql/schema.sql differs from what the migrations build; regenerate it with\n"
                             f"    {REGENERATE}\n{diff}")


def test_normalised_dump_drops_what_varies_between_servers():
    raw = ("--\n-- PostgreSQL database dump\n--\n\\restrict abc\nSET statement_timeout = 0;\n"
           "SELECT pg_catalog.set_config('search_path', '', false);\n\n\nCREATE TABLE public.t (\n    a int\n);\n\n\n"
           "ALTER DEFAULT PRIVILEGES FOR ROLE cryptolstm IN SCHEMA public GRANT SELECT ON TABLES TO r;\n"
           "\\unrestrict abc\n")
    body = storage.normalise_schema(raw).split("\n", 3)[3]
    assert body == ("CREATE TABLE public.t (\n    a int\n);\n\n"
                    "ALTER DEFAULT PRIVILEGES FOR ROLE <migrator> IN SCHEMA public GRANT SELECT ON TABLES TO r;\n")
