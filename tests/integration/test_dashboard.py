"""The Forecasts page: the plugin loads in Airflow and mounts the app, the page renders from a test
database through a read-only role, and a real headless chromium loads it (screenshot saved)."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import psycopg2
import pytest
from dashboard_seed import AS_OF, seed
from fastapi import FastAPI
from fastapi.testclient import TestClient

from cryptolstm.ui import dashboard

ROOT = Path(__file__).resolve().parents[2]
COINS = ["BTC", "ETH", "BNB", "XRP", "ADA", "SOL", "DOGE", "LTC", "LINK"]
SCREENSHOTS = ROOT / "reports" / "screenshots"


@pytest.fixture
def reader(db) -> str:
    """DSN of a fresh login role that may only SELECT in the test database."""
    from urllib.parse import urlsplit, urlunsplit

    conn = psycopg2.connect(db)
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute("SELECT current_database()")
        dbname = cur.fetchone()[0]
        role = f"{dbname}_reader"
        cur.execute(f"CREATE ROLE {role} LOGIN PASSWORD 'reader'")
        cur.execute(f"GRANT CONNECT ON DATABASE {dbname} TO {role}")
        cur.execute(f"GRANT USAGE ON SCHEMA public TO {role}")
        cur.execute(f"GRANT SELECT ON ALL TABLES IN SCHEMA public TO {role}")
    u = urlsplit(db)
    host = u.netloc.rsplit("@", 1)[-1]
    yield urlunsplit((u.scheme, f"{role}:reader@{host}", u.path, u.query, u.fragment))
    with conn.cursor() as cur:
        cur.execute(f"DROP OWNED BY {role}")
        cur.execute(f"DROP ROLE {role}")
    conn.close()


def _client(dsn: str) -> TestClient:
    """The page mounted under /cryptolstm, as Airflow's api-server mounts plugin apps."""
    outer = FastAPI()
    outer.mount("/cryptolstm", dashboard.create_app(lambda: dsn))
    return TestClient(outer)


def test_reader_role_cannot_write(db, reader):
    seed(db)
    with pytest.raises(psycopg2.errors.InsufficientPrivilege):
        with psycopg2.connect(reader) as conn, conn.cursor() as cur:
            cur.execute("DELETE FROM forecasts")


def test_page_renders_latest_forecasts_charts_and_promotions(db, reader):
    closes = seed(db)
    client = _client(reader)
    r = client.get("/cryptolstm/")
    assert r.status_code == 200, r.text
    page = r.text
    assert f"forecasts as of <b>{AS_OF}</b>" in page and "champion <b>m2</b>" in page
    table = page.split('id="forecasts"')[1].split("</table>")[0]
    assert table.count("<tr>") == 1 + 9  # header + one row per coin
    for coin in COINS:
        assert f"<b>{coin}</b>" in table
        close = closes[coin][AS_OF]
        assert dashboard._price(close) in table  # close[as_of], the base of the price path
    assert "challenger DA beats champion + 1 pp" in page and "first model beats random walk" in page
    acc = page.split('id="accuracy"')[1].split("</table>")[0]
    assert acc.count("<tr>") == 1 + 5
    assert "<td>t+1</td>" in acc and "<td>270</td></tr>" in acc  # 9 coins x 30 matured target days
    # every chart the page links is served as a PNG under the mount point
    srcs = [s.split('"')[0] for s in page.split('src="')[1:]]
    assert len(srcs) == 10 and all(s.startswith("/cryptolstm/charts/") for s in srcs)
    for src in srcs:
        img = client.get(src.replace("&amp;", "&"))
        assert img.status_code == 200 and img.content[:8] == b"\x89PNG\r\n\x1a\n", src
    latest = client.get("/cryptolstm/api/latest").json()
    assert latest["as_of"] == AS_OF.isoformat() and len(latest["forecasts"]) == 45
    assert client.get("/cryptolstm/charts/NOPE.png").status_code == 404
    assert client.get("/cryptolstm/?as_of=yesterday").status_code == 400


def test_page_labels_forecasts_provisional_when_no_model_was_ever_promoted(db, reader):
    seed(db)
    with psycopg2.connect(db) as conn, conn.cursor() as cur:  # undo every promotion: forecasts stay, unpromoted
        cur.execute("UPDATE models SET champion_from = NULL, champion_until = NULL, status = 'rejected'")
    page = _client(reader).get("/cryptolstm/").text
    assert f"forecasts as of <b>{AS_OF}</b>" in page
    assert "no champion model yet: forecasts are <b>provisional</b>" in page and "m2" in page


def test_page_on_an_empty_database_says_so(db, reader):
    r = _client(reader).get("/cryptolstm/")
    assert r.status_code == 200
    assert "no forecast yet" in r.text and "No promotion decision recorded yet." in r.text


def _airflow_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}
    env.update(AIRFLOW_HOME=str(tmp_path / "airflow"), AIRFLOW__CORE__PLUGINS_FOLDER=str(ROOT / "plugins"),
               AIRFLOW__CORE__LOAD_EXAMPLES="False", AIRFLOW__CORE__DAGS_FOLDER=str(tmp_path / "dags"),
               AIRFLOW__DATABASE__SQL_ALCHEMY_CONN=f"sqlite:///{tmp_path / 'airflow.db'}", **extra)
    return env


_PROBE = r"""
import json
from fastapi import FastAPI
from fastapi.testclient import TestClient
from airflow import plugins_manager
from airflow.api_fastapi.app import init_plugins

plugins, errors = plugins_manager._get_plugins()
views, _ = plugins_manager._get_ui_plugins()
app = FastAPI()
init_plugins(app)  # Airflow's own code that mounts plugin FastAPI apps on the api-server
r = TestClient(app).get("/cryptolstm/")
print("PROBE" + json.dumps({
    "plugins": [p.name for p in plugins], "errors": errors,
    "fastapi": [{"prefix": a["url_prefix"], "name": a["name"]} for a in plugins_manager.get_fastapi_plugins()[0]],
    "views": views, "status": r.status_code, "has_btc": "<b>BTC</b>" in r.text,
}))
"""


def test_plugin_loads_in_airflow_and_its_page_is_mounted(db, reader, tmp_path):
    seed(db)
    env = _airflow_env(tmp_path, CRYPTOLSTM_READER_DSN=reader)
    out = subprocess.run([sys.executable, "-c", _PROBE], env=env, capture_output=True, text=True, timeout=240,
                         cwd=tmp_path)
    line = [ln for ln in out.stdout.splitlines() if ln.startswith("PROBE")]
    assert line, out.stdout[-3000:] + out.stderr[-3000:]
    got = json.loads(line[0][5:])
    assert "cryptolstm_forecasts" in got["plugins"] and got["errors"] == {}
    assert got["fastapi"] == [{"prefix": "/cryptolstm", "name": "cryptolstm forecasts"}]
    (view,) = [v for v in got["views"] if v["name"] == "Forecasts"]
    assert view["href"] == "/cryptolstm/" and view["url_route"] == "forecasts" and view["destination"] == "nav"
    assert got["status"] == 200 and got["has_btc"]


def test_plugin_reads_the_reader_connection_from_airflow_env(tmp_path):
    env = {"AIRFLOW_CONN_CRYPTOLSTM_READER": "postgres://cryptolstm_reader:pw@pg:5432/cryptolstm",
           "AIRFLOW_CONN_CRYPTOLSTM_DB": "postgres://cryptolstm:x@pg:5432/cryptolstm"}
    assert dashboard.reader_dsn(env) == "postgresql://cryptolstm_reader:pw@pg:5432/cryptolstm"
    assert dashboard.reader_dsn({**env, "CRYPTOLSTM_READER_DSN": "postgresql://r@h/d"}) == "postgresql://r@h/d"
    assert dashboard.reader_dsn({"AIRFLOW_CONN_CRYPTOLSTM_DB": env["AIRFLOW_CONN_CRYPTOLSTM_DB"]}) \
        == "postgresql://cryptolstm:x@pg:5432/cryptolstm"
    with pytest.raises(RuntimeError, match="CRYPTOLSTM_READER_DSN"):
        dashboard.reader_dsn({})


# ---- a real browser -----------------------------------------------------------------------------

def _chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def served_page(db, reader):
    """The page served by uvicorn on 127.0.0.1 (mounted under /cryptolstm); yields (url, requested paths)."""
    import uvicorn

    seed(db)
    requested: list[tuple[str, int]] = []
    outer = FastAPI()

    @outer.middleware("http")
    async def record(request, call_next):
        response = await call_next(request)
        requested.append((request.url.path, response.status_code))
        return response

    outer.mount("/cryptolstm", dashboard.create_app(lambda: reader))
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(outer, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}/cryptolstm/", requested
    server.should_exit = True
    thread.join(timeout=10)


def _run_chromium(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    profile = tmp_path / f"profile-{time.monotonic_ns()}"
    profile.mkdir()
    cmd = [_chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
           "--disable-background-networking", "--disable-component-update", "--disable-sync",
           f"--user-data-dir={profile}", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=180)


@pytest.mark.skipif(_chromium() is None, reason="chromium not installed (Debian: apt-get install -y chromium)")
def test_real_browser_loads_the_page_and_screenshot_is_saved(served_page, tmp_path):
    from PIL import Image

    url, requested = served_page
    dom = _run_chromium(tmp_path, "--dump-dom", url)
    assert dom.returncode == 0, dom.stderr[-2000:]
    html = dom.stdout
    assert "<h1>Forecasts</h1>" in html
    table = html.split('id="forecasts"')[1].split("</table>")[0]
    assert all(f"<b>{c}</b>" in table for c in COINS)

    shot = tmp_path / "forecasts_page.png"
    requested.clear()
    res = _run_chromium(tmp_path, f"--screenshot={shot}", "--window-size=1400,1600",
                        "--virtual-time-budget=15000", url)
    assert res.returncode == 0 and shot.exists(), res.stderr[-2000:]
    # the browser fetched the page and all 10 charts, each answered 200
    charts = {p for p, status in requested if p.startswith("/cryptolstm/charts/") and status == 200}
    assert charts == {f"/cryptolstm/charts/{n}.png" for n in ["live_accuracy", *COINS]}, requested
    with Image.open(shot) as im:
        assert im.size == (1400, 1600)
        px = np.asarray(im.convert("RGB"), dtype=float)
    assert px.std() > 20  # tables and charts drawn, not a blank page
    orange = (px[..., 0] > 180) & (px[..., 1] < 120) & (px[..., 2] < 60)  # the forecast line colour
    assert orange.sum() > 200, "no forecast line visible in the screenshot"
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    shutil.copy(shot, SCREENSHOTS / "forecasts_page.png")
