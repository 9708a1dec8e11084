"""Named queries: every file is named <table>_<verb>[_<what>] after a relation of sql/schema.sql, every
file is used by the code, and every name the code asks for exists. No SQL strings in Python."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
QUERIES = sorted((ROOT / "sql" / "queries").glob("*.sql"))
VERBS = ("select", "insert", "upsert", "update", "delete", "count", "exists", "create", "drop", "lock")
CATALOGS = ("pg_database",)  # server catalogs some admin queries read or change
CODE = [p for d in ("cryptolstm", "plugins", "dags") for p in (ROOT / d).rglob("*.py")]
CALL = re.compile(r"""(?:query|compose|execute_batch|_frame|_rows)\((?:\w+,\s*)?"([a-z0-9_]+)\"""")


def relations() -> set[str]:
    schema = (ROOT / "sql" / "schema.sql").read_text()
    return set(re.findall(r"^CREATE (?:TABLE|VIEW|MATERIALIZED VIEW) public\.(\w+)", schema, re.M))


def test_queries_are_named_table_verb():
    names = relations() | set(CATALOGS)
    pattern = re.compile(rf"^({'|'.join(sorted(names, key=len, reverse=True))})_({'|'.join(VERBS)})(_[a-z0-9_]+)?$")
    bad = [q.stem for q in QUERIES if not pattern.match(q.stem)]
    assert bad == [], (f"named queries must be <table>_<verb>[_<what>], table in sql/schema.sql, verb in {VERBS}: "
                       f"{bad}")


def test_every_query_is_used_and_every_used_query_exists():
    code = "\n".join(p.read_text() for p in CODE)
    used = set(CALL.findall(code))
    files = {q.stem for q in QUERIES}
    assert sorted(used - files) == [], "the code asks for named queries that do not exist"
    assert sorted(files - used) == [], "named queries no code uses (delete them)"


def test_no_sql_statements_in_python():
    statement = re.compile(r"""["'](\s*)(SELECT\s+\S+.*\bFROM|INSERT\s+INTO|UPDATE\s+\w+\s+SET|DELETE\s+FROM|"""
                           r"""CREATE\s+(TABLE|DATABASE|VIEW|INDEX)|DROP\s+(TABLE|DATABASE))\b""", re.I)
    found = [f"{p.relative_to(ROOT)}:{i}" for p in CODE for i, line in enumerate(p.read_text().splitlines(), 1)
             if statement.search(line) and "psql -c" not in line]  # a command shown to the user is not SQL we run
    assert found == [], "SQL belongs in sql/queries/<table>_<verb>.sql (storage.query / storage.compose)"


def test_queries_for_execute_values_have_exactly_one_values_placeholder():
    """psycopg2.extras.execute_values splits its query at the one positional placeholder; a second one,
    even inside a comment, fails at run time (it broke `cryptolstm bench-weekly`)."""
    code = "\n".join(p.read_text() for p in CODE)
    names = set(re.findall(r"""execute_values\(\s*\w+,\s*storage\.query\("([a-z0-9_]+)"\)""", code))
    assert len(names) >= 3, names  # candles upsert, rejected candles, the benchmark seed
    bad = {n: (ROOT / "sql" / "queries" / f"{n}.sql").read_text().count("%s") for n in sorted(names)}
    assert {n: c for n, c in bad.items() if c != 1} == {}, bad
