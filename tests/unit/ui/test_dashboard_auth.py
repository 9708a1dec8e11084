"""The Forecasts page serves nothing without authentication, and never touches the database first.

The real Airflow check (JWT / session cookie through the auth manager) is exercised against a real
api-server in tests/integration/test_dashboard.py; here a stand-in dependency with the same contract
(return the user or raise 401) shows that every route is behind it.
"""

from __future__ import annotations

import pytest
from fastapi import FastAPI, HTTPException, Request
from fastapi.testclient import TestClient

from cryptolstm.ui import dashboard

ROUTES = ["/cryptolstm/", "/cryptolstm/?as_of=2025-01-13", "/cryptolstm/api/latest",
          "/cryptolstm/charts/BTC.png", "/cryptolstm/charts/live_accuracy.png", "/cryptolstm/icon.svg"]


def _no_database() -> str:
    raise AssertionError("the page opened the database for an anonymous request")


async def _only_with_token(request: Request) -> str:
    if request.headers.get("authorization") != "Bearer good":
        raise HTTPException(401, "Not authenticated")
    return "alice"


def _client(**kw) -> TestClient:
    outer = FastAPI()
    outer.mount("/cryptolstm", dashboard.create_app(_no_database, authenticate=_only_with_token, **kw))
    return TestClient(outer, follow_redirects=False)


@pytest.mark.parametrize("path", ROUTES)
def test_anonymous_request_gets_401_before_any_database_access(path):
    r = _client().get(path)
    assert r.status_code == 401 and r.json() == {"detail": "Not authenticated"}


def test_anonymous_browser_is_sent_to_the_login_page_and_back():
    asked = []

    def login(next_path: str) -> str:
        asked.append(next_path)
        return f"/auth/login?next={next_path}"

    client = _client(login_url=login)
    r = client.get("/cryptolstm/?as_of=2025-01-13", headers={"Accept": "text/html,application/xhtml+xml"})
    assert r.status_code == 303 and r.headers["location"] == "/auth/login?next=/cryptolstm/?as_of=2025-01-13"
    assert asked == ["/cryptolstm/?as_of=2025-01-13"]
    # images and JSON are not redirected: a 401 is the honest answer to a script
    for path in ("/cryptolstm/charts/BTC.png", "/cryptolstm/api/latest"):
        assert client.get(path, headers={"Accept": "text/html"}).status_code == 401


def test_authentication_is_mandatory_to_build_the_app():
    with pytest.raises(TypeError, match="authenticate"):
        dashboard.create_app(_no_database)  # no anonymous page by omission


def test_authenticated_request_reaches_the_route():
    r = _client().get("/cryptolstm/icon.svg", headers={"Authorization": "Bearer good"})
    assert r.status_code == 200 and r.text.startswith("<svg")


def test_reader_dsn_never_falls_back_to_the_writing_role():
    with pytest.raises(RuntimeError, match="CRYPTOLSTM_READER_DSN"):
        dashboard.reader_dsn({"CRYPTOLSTM_DSN": "postgresql://postgres@h/db",
                              "AIRFLOW_CONN_CRYPTOLSTM_DB": "postgres://cryptolstm:x@pg:5432/cryptolstm"})
