"""libpq connection strings: built by psycopg2, and read from an Airflow connection variable.

`make_dsn` is psycopg2's own builder (it quotes every value and refuses an option libpq does not
know). `dsn_from_airflow_conn` decodes the two forms of an AIRFLOW_CONN_* variable (URI or JSON)
without Airflow; the DAG side builds the same DSN from Airflow's `Connection` with `connection_dsn`.
An Airflow connection's extras may hold options meant for the hook (`cursor`, `iam`, ...): only
those libpq knows reach the DSN.
"""

from __future__ import annotations

import json
import logging
from typing import Any, Mapping
from urllib.parse import parse_qsl, unquote, urlsplit

import psycopg2
from psycopg2.extensions import make_dsn as _psycopg2_make_dsn, parse_dsn

log = logging.getLogger(__name__)


def make_dsn(*, host: str | None, dbname: str | None, user: str | None = "postgres", password: str | None = None,
             port: int | str | None = None, **options: Any) -> str:
    """A libpq key=value DSN; empty values are left out (libpq's defaults apply). A host starting with
    '/' is a unix-socket directory, which libpq reads from `host` as it is."""
    given = dict(host=host, port=port, dbname=dbname, user=user, password=password, **options)
    return _psycopg2_make_dsn(**{k: v for k, v in given.items() if v not in (None, "")})


def with_dbname(dsn: str, dbname: str) -> str:
    """The same server, user and options as `dsn` (key=value or URI form), another database."""
    return _psycopg2_make_dsn(dsn, dbname=dbname)


def connection_dsn(*, host: str | None, port: int | str | None, login: str | None, password: str | None,
                   schema: str | None, extra: Mapping[str, Any] | None = None) -> str:
    """The DSN of an Airflow-style connection (its fields by Airflow's names); extras libpq does not
    know are left out."""
    options = {k: v for k, v in (extra or {}).items() if _libpq_knows(k)}
    return make_dsn(host=host, port=port, user=login, password=password, dbname=schema, **options)


def dsn_from_airflow_conn(value: str) -> str:
    """The DSN of an AIRFLOW_CONN_* value: a URI (`postgres://user:pw@host:port/db?extra=...`) or JSON
    (`{"host": ..., "login": ..., "extra": {...}}`). Raises ValueError when it is neither."""
    value = value.strip()
    if value.startswith("{"):
        c = json.loads(value)
        if not isinstance(c, dict):
            raise ValueError("the JSON form must be an object")
        extra = c.get("extra") or {}
        extra = json.loads(extra) if isinstance(extra, str) else extra
        return connection_dsn(host=c.get("host"), port=c.get("port"), login=c.get("login"),
                              password=c.get("password"), schema=c.get("schema"), extra=extra)
    u = urlsplit(value)
    if not u.scheme:
        raise ValueError("not a connection URI")
    return connection_dsn(host=unquote(u.hostname or ""), port=u.port, login=unquote(u.username or ""),
                          password=unquote(u.password or ""), schema=unquote(u.path.lstrip("/")),
                          extra=dict(parse_qsl(u.query)))


def _libpq_knows(option: str) -> bool:
    try:
        parse_dsn(_psycopg2_make_dsn(**{option: "x"}))
    except (psycopg2.ProgrammingError, TypeError):
        log.info("connection extra %r is not a libpq option: left out of the DSN", option)
        return False
    return True
