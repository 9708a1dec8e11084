"""The Forecasts page: the page renders from a test database through a read-only role; inside a real
Airflow api-server it answers nothing without logging in (like /api/v2), and accepts Airflow's own JWT
as a Bearer token or as the UI's `_token` session cookie; a real headless chromium logs in through
Airflow's login page, then loads the page (screenshot saved)."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Callable

import numpy as np
import psycopg2
import pytest
from psycopg2.extensions import parse_dsn
from dashboard_seed import AS_OF, seed
from fastapi import FastAPI, HTTPException, Request
from fastapi.testclient import TestClient

from cryptolstm.ui import dashboard
from cryptolstm.ui.page import fmt_price

ROOT = Path(__file__).resolve().parents[3]
COINS = ["BTC", "ETH", "BNB", "XRP", "ADA", "SOL", "DOGE", "LTC", "LINK"]
SCREENSHOTS = ROOT / "reports" / "screenshots"


def _create_reader(db: str) -> tuple[str, "Callable[[], None]"]:
    """A fresh login role that may only SELECT in database `db`: (its DSN, a function dropping it)."""
    from psycopg2.extensions import make_dsn

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

    def drop() -> None:
        with conn.cursor() as cur:
            cur.execute(f"DROP OWNED BY {role}")
            cur.execute(f"DROP ROLE {role}")
        conn.close()

    return make_dsn(db, user=role, password="reader"), drop


@pytest.fixture
def reader(db) -> str:
    """DSN of a fresh login role that may only SELECT in the test database."""
    dsn, drop = _create_reader(db)
    yield dsn
    drop()


async def _test_login(request: Request) -> str:
    """Stands in for Airflow's check where the page's content, not its authentication, is tested."""
    if request.headers.get("authorization") != "Bearer test":
        raise HTTPException(401, "Not authenticated")
    return "tester"


def _client(dsn: str) -> TestClient:
    """The page mounted under /cryptolstm, as Airflow's api-server mounts plugin apps (logged in)."""
    outer = FastAPI()
    outer.mount("/cryptolstm", dashboard.create_app(lambda: dsn, authenticate=_test_login))
    return TestClient(outer, headers={"Authorization": "Bearer test"})


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
        assert fmt_price(close) in table  # close[as_of], the base of the price path
    # every cell shows its stored 80 % and 95 % ranges, as stored
    assert table.count("80 %: ") == 45 and table.count("95 %: ") == 45
    with psycopg2.connect(db) as conn, conn.cursor() as cur:
        cur.execute("SELECT lo80_close, hi80_close, lo95_close, hi95_close FROM forecasts "
                    "WHERE coin = 'BTC' AND as_of = %s AND horizon = 3 AND model_id = 'm2'", (AS_OF,))
        lo80, hi80, lo95, hi95 = cur.fetchone()
    assert f"80 %: {fmt_price(lo80)} – {fmt_price(hi80)}" in table
    assert f"95 %: {fmt_price(lo95)} – {fmt_price(hi95)}" in table
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


def test_page_queries_are_bounded_by_the_pages_own_connection_whatever_the_role_says(db, reader, monkeypatch):
    """Issue 27 §4: the reader role's statement_timeout (migration 008) is only a default: a role may have none,
    and any session of the role may SET statement_timeout = 0. The page's connection sets its own limit, so a
    page query is bounded whatever the role says."""
    from cryptolstm.config import PAGE_STATEMENT_TIMEOUT
    from cryptolstm.ui import page

    seed(db)
    conn = psycopg2.connect(db)
    conn.autocommit = True
    with conn.cursor() as cur:  # this role: no limit at all
        cur.execute(f"ALTER ROLE {parse_dsn(reader)['user']} SET statement_timeout = 0")
    conn.close()
    with psycopg2.connect(reader) as plain, plain.cursor() as cur:
        cur.execute("SHOW statement_timeout")
        assert cur.fetchone()[0] == "0"
    plain.close()
    with page._read(reader) as cur:
        cur.execute("SHOW statement_timeout")
        assert cur.fetchone()[0] == PAGE_STATEMENT_TIMEOUT == "10s"

    def slow_latest(cur):  # a page query that would take 5 s
        cur.execute("SELECT pg_sleep(5)")
        return AS_OF

    monkeypatch.setattr(page, "PAGE_STATEMENT_TIMEOUT", "1s")
    monkeypatch.setattr(page, "_latest_as_of", slow_latest)
    t0 = time.monotonic()
    with pytest.raises(psycopg2.errors.QueryCanceled, match="statement timeout"):
        _client(reader).get("/cryptolstm/")
    assert time.monotonic() - t0 < 4.5


def test_page_on_an_empty_database_says_so(db, reader):
    r = _client(reader).get("/cryptolstm/")
    assert r.status_code == 200
    assert "no forecast yet" in r.text and "No promotion decision recorded yet." in r.text


def _coin_rows(page: str, table_id: str) -> dict[str, str]:
    """The row of each coin in table `table_id`, as HTML."""
    table = page.split(f'id="{table_id}"')[1].split("</table>")[0]
    return {r.split("<b>")[1].split("</b>")[0]: r for r in table.split("<tr>")[2:]}


def test_page_shows_each_coins_drift_flag_and_the_models_record_beside_its_forecast(db, reader):
    from dashboard_seed import DRIFTED

    from cryptolstm.ui.page import fmt_pct

    seed(db)
    client = _client(reader)
    page = client.get("/cryptolstm/").text
    forecasts, trust = _coin_rows(page, "forecasts"), _coin_rows(page, "trust")
    assert set(forecasts) == set(trust) == set(COINS)
    for coin in COINS:
        if coin in DRIFTED:  # flagged in the forecast table, with its cause in the trust table
            assert 'class="drift"' in forecasts[coin] and '<span class="drift">drifted</span>' in trust[coin]
            assert "distance 3.70 &gt; threshold 2.50" in trust[coin]  # the stored cause, escaped
        else:
            assert 'class="drift"' not in forecasts[coin]
            assert '<span class="usual">usual</span>' in trust[coin] and "distance 1.20 ≤ 2.50" in trust[coin]
    with psycopg2.connect(db) as conn, conn.cursor() as cur:
        cur.execute("SELECT coin, wf_da, wf_da_low, wf_da_high, live_da, live_da_low, live_da_high, live_n_cells, "
                    "comparator_rule, comparator_live_da, comparator_live_da_low, comparator_live_da_high "
                    "FROM v_forecast_evidence")
        evidence = cur.fetchall()
        cur.execute("SELECT coin, rule, live_da, is_comparator FROM v_live_rule_accuracy")
        every_rule = cur.fetchall()
    assert len(evidence) == 9
    for coin, wf, wf_lo, wf_hi, live, live_lo, live_hi, n, rule, naive, naive_lo, naive_hi in evidence:  # as stored
        row = trust[coin]
        assert f'<td class="evidence">{fmt_pct(wf)} <span class="rng">[{fmt_pct(wf_lo)}, {fmt_pct(wf_hi)}]' in row
        assert f'<td class="evidence">{fmt_pct(live)} <span class="rng">[{fmt_pct(live_lo)}, {fmt_pct(live_hi)}]' in row
        assert rule == "reversal_3"  # fixed at registration, whatever the live cells say
        assert f"<td>{n}</td>" in row
        assert f'{fmt_pct(naive)} <span class="rng">[{fmt_pct(naive_lo)}, {fmt_pct(naive_hi)}] {rule}</span>' in row
    # every rule's live DA, rule by rule, behind the link; the comparator marked
    rules = page.split('<table id="rule-accuracy">')[1].split("</table>")[0]
    assert 'href="#rules"' in page and len(every_rule) == 7 * 9
    assert rules.count("<tr>") == 1 + len(every_rule) and rules.count("<b>comparator</b>") == 9
    for coin, r, da, is_comp in every_rule:
        assert f'<td class="l">{coin}</td><td class="l">{r}</td>\n<td>{fmt_pct(da)} ' in rules
    latest = client.get("/cryptolstm/api/latest").json()["forecasts"]
    assert {f["coin"] for f in latest if f["input_drifted"]} == set(DRIFTED)


def test_page_and_api_show_each_forecast_s_confidence_tier(db, reader):
    from dashboard_seed import seeded_tier

    seed(db)
    client = _client(reader)
    forecasts = _coin_rows(client.get("/cryptolstm/").text, "forecasts")
    for i, coin in enumerate(COINS):  # COINS is the coins' index order
        cells = forecasts[coin].split("</td>")[3:3 + 5]  # coin, as of, close, then t+1 .. t+5
        for h, cell in enumerate(cells, start=1):
            t = seeded_tier(i, h)
            assert f'<span class="tier tier-{t}" title="confidence {0.1 + 0.15 * h:.1%}'.replace("%", " %") in cell
            assert f">{t}</span>" in cell and "members agree 80.0 %" in cell
    latest = client.get("/cryptolstm/api/latest").json()["forecasts"]
    got = {(f["coin"], f["horizon"]): (f["tier"], f["confidence"], f["members_agree"]) for f in latest}
    assert got == {(c, h): (seeded_tier(i, h), pytest.approx(0.1 + 0.15 * h), 0.8)
                   for i, c in enumerate(COINS) for h in range(1, 6)}
    with psycopg2.connect(db) as conn, conn.cursor() as cur:  # a model without a reference: no badge
        cur.execute("UPDATE forecasts SET confidence = NULL, members_agree = NULL, tier = NULL")
    page = client.get("/cryptolstm/").text
    assert 'class="tier' not in page and "None" not in page.split('id="forecasts"')[1].split("</table>")[0]
    assert {f["tier"] for f in client.get("/cryptolstm/api/latest").json()["forecasts"]} == {None}


def test_page_says_when_drift_was_not_assessed(db, reader):
    seed(db)
    with psycopg2.connect(db) as conn, conn.cursor() as cur:  # a model registered without a training description
        cur.execute("UPDATE forecasts SET input_distance = NULL, input_drift_threshold = NULL, input_drifted = NULL, "
                    "input_drift_cause = NULL")
    page = _client(reader).get("/cryptolstm/").text
    assert all('<span class="muted">not assessed</span>' in r for r in _coin_rows(page, "trust").values())
    assert 'class="drift"' not in page


def test_plugin_reads_the_reader_connection_from_airflow_env(tmp_path):
    env = {"AIRFLOW_CONN_CRYPTOLSTM_READER": "postgres://cryptolstm_reader:pw@pg:5432/cryptolstm",
           "AIRFLOW_CONN_CRYPTOLSTM_DB": "postgres://cryptolstm:x@pg:5432/cryptolstm"}
    assert parse_dsn(dashboard.reader_dsn(env)) == parse_dsn("postgresql://cryptolstm_reader:pw@pg:5432/cryptolstm")
    assert dashboard.reader_dsn({**env, "CRYPTOLSTM_READER_DSN": "postgresql://r@h/d"}) == "postgresql://r@h/d"
    with pytest.raises(RuntimeError, match="CRYPTOLSTM_READER_DSN"):  # never the writing role instead
        dashboard.reader_dsn({"AIRFLOW_CONN_CRYPTOLSTM_DB": env["AIRFLOW_CONN_CRYPTOLSTM_DB"]})
    with pytest.raises(RuntimeError, match="CRYPTOLSTM_READER_DSN"):
        dashboard.reader_dsn({})


# ---- inside a real Airflow api-server -----------------------------------------------------------

def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Site:
    """A real `airflow api-server` (simple auth manager, user `viewer` with the viewer role) whose
    plugins folder is this project's, serving the page from a seeded database through a reader role."""

    user, password = "viewer", "viewer-pw"

    def __init__(self, url: str):
        self.url = url

    def get(self, path: str, headers: dict[str, str] | None = None):
        import urllib.error
        import urllib.request

        class NoRedirect(urllib.request.HTTPRedirectHandler):
            def redirect_request(self, *args, **kwargs):
                return None

        opener = urllib.request.build_opener(NoRedirect)
        try:
            with opener.open(urllib.request.Request(self.url + path, headers=headers or {}), timeout=60) as r:
                return r.status, dict(r.headers), r.read()
        except urllib.error.HTTPError as e:
            return e.code, dict(e.headers), e.read()

    def token(self) -> str:
        import urllib.request

        req = urllib.request.Request(self.url + "/auth/token", headers={"Content-Type": "application/json"},
                                     data=json.dumps({"username": self.user, "password": self.password}).encode())
        with urllib.request.urlopen(req, timeout=30) as r:
            return json.loads(r.read())["access_token"]


@pytest.fixture(scope="module")
def site(pg_exec, dsn_for, template_dsn, tmp_path_factory):
    """A seeded database and a real api-server in front of it, for this module's tests."""
    name = f"cl_site_{os.getpid()}"
    pg_exec(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    pg_exec(f"CREATE DATABASE {name} TEMPLATE {parse_dsn(template_dsn)['dbname']}")
    db = dsn_for(name)
    seed(db)
    reader_dsn, drop_reader = _create_reader(db)
    home = tmp_path_factory.mktemp("airflow_site")
    (home / "passwords.json").write_text(json.dumps({Site.user: Site.password}))
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}
    env.update(AIRFLOW_HOME=str(home), AIRFLOW__CORE__PLUGINS_FOLDER=str(ROOT / "plugins"),
               AIRFLOW__CORE__LOAD_EXAMPLES="False", AIRFLOW__CORE__DAGS_FOLDER=str(home / "dags"),
               AIRFLOW__DATABASE__SQL_ALCHEMY_CONN=f"sqlite:///{home / 'airflow.db'}",
               AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS=f"{Site.user}:viewer",
               AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE=str(home / "passwords.json"),
               AIRFLOW__API_AUTH__JWT_SECRET="test-jwt-secret-" + "x" * 48, AIRFLOW__API__SECRET_KEY="k" * 32,
               AIRFLOW__API__BASE_URL=f"http://127.0.0.1:{port}", CRYPTOLSTM_READER_DSN=reader_dsn)
    airflow = str(Path(sys.executable).with_name("airflow"))
    out = subprocess.run([airflow, "db", "migrate"], env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    log = open(home / "api-server.log", "wb")
    proc = subprocess.Popen([airflow, "api-server", "--host", "127.0.0.1", "--port", str(port), "--apps", "core"],
                            env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    s = Site(f"http://127.0.0.1:{port}")
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                if s.get("/api/v2/monitor/health")[0] == 200:
                    break
            except OSError:
                pass
            assert proc.poll() is None and time.monotonic() < deadline, \
                (home / "api-server.log").read_text()[-3000:]
            time.sleep(0.3)
        yield s
    finally:
        os.killpg(proc.pid, 15)
        proc.wait(30)
        log.close()
        drop_reader()
        pg_exec(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


PAGE_URLS = ["/cryptolstm/", f"/cryptolstm/?as_of={AS_OF}", "/cryptolstm/api/latest", "/cryptolstm/charts/BTC.png",
             "/cryptolstm/charts/live_accuracy.png", "/cryptolstm/icon.svg"]


def test_anonymous_reads_nothing_like_the_rest_api(site):
    assert site.get("/api/v2/dags")[0] == 401
    for path in PAGE_URLS:
        status, _, body = site.get(path)
        assert status == 401 and b"BTC" not in body, (path, status, body[:200])
    # a browser asking for the page is sent to Airflow's login page, which brings it back afterwards
    status, headers, _ = site.get("/cryptolstm/", {"Accept": "text/html"})
    assert status == 303 and headers["location"] == "/auth/login?next=%2Fcryptolstm%2F", headers
    # a token Airflow did not sign (or one altered) is refused as the REST API refuses it
    forged = site.token()[:-4] + "AAAA"
    assert site.get("/cryptolstm/api/latest", {"Authorization": f"Bearer {forged}"})[0] == 403
    assert site.get("/cryptolstm/api/latest", {"Cookie": f"_token={forged}"})[0] == 403
    assert site.get("/api/v2/dags", {"Authorization": f"Bearer {forged}"})[0] == 403


def test_airflow_jwt_as_bearer_or_ui_cookie_reads_the_page(site):
    token = site.token()
    for headers in ({"Authorization": f"Bearer {token}"}, {"Cookie": f"_token={token}"}):
        for path in PAGE_URLS:
            status, _, body = site.get(path, headers)
            assert status == 200, (path, headers, status, body[:300])
        latest = json.loads(site.get("/cryptolstm/api/latest", headers)[2])
        assert latest["as_of"] == AS_OF.isoformat() and len(latest["forecasts"]) == 45
    # the plugin is registered with the api-server without import errors (Airflow's own listing)
    auth = {"Authorization": f"Bearer {token}"}
    plugins = json.loads(site.get("/api/v2/plugins", auth)[2])["plugins"]
    (plugin,) = [p for p in plugins if p["name"] == "cryptolstm_forecasts"]
    assert plugin["fastapi_apps"] == [{"app": plugin["fastapi_apps"][0]["app"], "url_prefix": "/cryptolstm",
                                       "name": "cryptolstm forecasts"}]
    (view,) = [v for v in plugin["external_views"] if v["name"] == "Forecasts"]
    assert view["href"] == "/cryptolstm/" and view["url_route"] == "forecasts" and view["destination"] == "nav"
    assert json.loads(site.get("/api/v2/plugins/importErrors", auth)[2])["total_entries"] == 0


# ---- a real browser -----------------------------------------------------------------------------

def _chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")


class Browser:
    """Headless chromium driven over the DevTools protocol (one page, synchronous calls)."""

    def __init__(self, profile: Path):
        import urllib.request

        from websockets.sync.client import connect

        self.proc = subprocess.Popen(
            [_chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             "--remote-debugging-port=0", f"--user-data-dir={profile}", "about:blank"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        port_file = profile / "DevToolsActivePort"
        deadline = time.monotonic() + 60
        while not (port_file.exists() and port_file.read_text().count("\n") >= 1):
            assert time.monotonic() < deadline and self.proc.poll() is None, "chromium did not start"
            time.sleep(0.1)
        port = port_file.read_text().split()[0]
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=10) as r:
            page = next(t for t in json.loads(r.read()) if t["type"] == "page")
        self._open = contextlib.ExitStack()  # websockets wants its connection entered as a context manager
        self.ws = self._open.enter_context(connect(page["webSocketDebuggerUrl"], max_size=None, open_timeout=30))
        self._id = 0

    def call(self, method: str, **params):
        self._id += 1
        self.ws.send(json.dumps({"id": self._id, "method": method, "params": params}))
        while True:
            msg = json.loads(self.ws.recv(timeout=60))
            if msg.get("id") == self._id:
                assert "error" not in msg, msg
                return msg.get("result", {})

    def js(self, expr: str):
        res = self.call("Runtime.evaluate", expression=expr, returnByValue=True, awaitPromise=True)
        assert "exceptionDetails" not in res, res
        return res["result"].get("value")

    def wait_for(self, expr: str, timeout: float = 60.0):
        deadline = time.monotonic() + timeout
        while not (value := self.js(expr)):
            assert time.monotonic() < deadline, f"timed out waiting for {expr}; at {self.js('location.href')}"
            time.sleep(0.2)
        return value

    def close(self) -> None:
        self._open.close()
        os.killpg(self.proc.pid, 15)
        self.proc.wait(30)


_FILL = """(() => {
  const set = Object.getOwnPropertyDescriptor(HTMLInputElement.prototype, 'value').set;
  for (const [name, value] of [['username', %s], ['password', %s]]) {
    const input = document.querySelector(`input[name="${name}"]`);
    set.call(input, value);
    input.dispatchEvent(new Event('input', {bubbles: true}));
  }
  return true;
})()"""


@pytest.mark.skipif(_chromium() is None, reason="chromium not installed (Debian: apt-get install -y chromium)")
def test_real_browser_logs_in_then_loads_the_page_and_screenshot_is_saved(site, tmp_path):
    import base64
    import io

    from PIL import Image

    browser = Browser(tmp_path / "profile")
    try:
        browser.call("Emulation.setDeviceMetricsOverride", width=1400, height=1600, deviceScaleFactor=1,
                     mobile=False)
        browser.call("Page.navigate", url=site.url + "/cryptolstm/")
        # anonymous: Airflow's login page, then back to the page once signed in
        browser.wait_for("location.pathname === '/auth/login' && !!document.querySelector('input[name=password]')")
        assert browser.js("document.cookie.includes('_token=')") is False
        browser.js(_FILL % (json.dumps(site.user), json.dumps(site.password)))
        browser.wait_for("!document.querySelector('button[type=submit]').disabled")
        browser.js("document.querySelector('button[type=submit]').click(), true")
        browser.wait_for("location.pathname === '/cryptolstm/' && !!document.getElementById('forecasts')")
        html = browser.js("document.documentElement.outerHTML")
        assert "<h1>Forecasts</h1>" in html
        table = html.split('id="forecasts"')[1].split("</table>")[0]
        assert all(f"<b>{c}</b>" in table for c in COINS)
        # beside every forecast: its input-drift flag (the seeded flagged coins drawn as such) and the model's record
        from dashboard_seed import DRIFTED

        flagged = browser.js("[...document.querySelectorAll('#forecasts .drift')].map(e => e.closest('tr')"
                             ".querySelector('b').textContent)")
        assert sorted(flagged) == sorted(DRIFTED)
        trust = html.split('id="trust"')[1].split("</table>")[0]
        assert browser.js("document.querySelectorAll('#trust td.evidence').length") == 3 * len(COINS)
        assert trust.count('<span class="drift">drifted</span>') == len(DRIFTED) and trust.count(">usual</span>") == 9 - len(DRIFTED)
        # every chart was served (200 + decoded) to the logged-in browser
        charts = browser.wait_for("""(() => { const imgs = [...document.images];
            return imgs.length === 10 && imgs.every(i => i.complete)
                   && imgs.map(i => [new URL(i.src).pathname, i.naturalWidth]); })()""")
        assert {p for p, w in charts if w > 0} == {f"/cryptolstm/charts/{n}.png" for n in ["live_accuracy", *COINS]}
        shot = base64.b64decode(browser.call("Page.captureScreenshot", format="png")["data"])
    finally:
        browser.close()
    with Image.open(io.BytesIO(shot)) as im:
        assert im.size == (1400, 1600)
        px = np.asarray(im.convert("RGB"), dtype=float)
    assert px.std() > 20  # tables and charts drawn, not a blank page
    orange = (px[..., 0] > 180) & (px[..., 1] < 120) & (px[..., 2] < 60)  # the forecast line colour
    assert orange.sum() > 200, "no forecast line visible in the screenshot"
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    (SCREENSHOTS / "forecasts_page.png").write_bytes(shot)


@pytest.mark.skipif(_chromium() is None, reason="chromium not installed (Debian: apt-get install -y chromium)")
def test_real_browser_shows_a_tier_badge_beside_each_forecast(site, tmp_path):
    """Issue 26: every forecast cell carries its seeded tier as a badge, drawn (a high one filled green) with its
    confidence and the members' agreement on hover."""
    from dashboard_seed import seeded_tier

    browser = Browser(tmp_path / "profile")
    try:
        browser.call("Page.navigate", url=site.url + "/cryptolstm/")
        browser.wait_for("location.pathname === '/auth/login' && !!document.querySelector('input[name=password]')")
        browser.js(_FILL % (json.dumps(site.user), json.dumps(site.password)))
        browser.wait_for("!document.querySelector('button[type=submit]').disabled")
        browser.js("document.querySelector('button[type=submit]').click(), true")
        browser.wait_for("location.pathname === '/cryptolstm/' && !!document.getElementById('forecasts')")
        badges = browser.js("""[...document.querySelectorAll('#forecasts tr')].slice(1).map(tr => [
            tr.querySelector('b').textContent,
            [...tr.querySelectorAll('td')].slice(3, 8).map(td => {
                const b = td.querySelector('.tier');
                return b && [b.textContent, b.title, getComputedStyle(b).backgroundColor,
                             b.getBoundingClientRect().width > 0];
            })])""")
    finally:
        browser.close()
    assert [coin for coin, _ in badges] == COINS
    for i, (coin, cells) in enumerate(badges):
        for h, (text, title, background, shown) in enumerate(cells, start=1):
            assert text == seeded_tier(i, h) and shown, (coin, h)
            assert title == f"confidence {100 * (0.1 + 0.15 * h):.1f} %, members agree 80.0 %"
            assert (background == "rgb(43, 138, 62)") == (text == "high")  # the high tier stands out


def test_local_runtime_page_reads_as_the_reader_role(db, tmp_path):
    """Issue 12 §5: locally the page queried as the postgres superuser."""
    from dataclasses import replace

    from cryptolstm.environment import load_settings
    from cryptolstm.runtime import services

    params = parse_dsn(db)
    settings = replace(load_settings({}), state_dir=tmp_path / "state", forecast_db=params["dbname"])
    base = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "CRYPTOLSTM"))}
    socket_dir = params.get("host", "")
    if not socket_dir.startswith("/"):
        pytest.skip("the local runtime's reader logs in over the embedded server's unix socket")
    env = services.airflow_env(settings, socket_dir, base=base)
    with psycopg2.connect(dashboard.reader_dsn(env)) as conn, conn.cursor() as cur:
        cur.execute("SELECT current_user, current_database(), current_setting('transaction_read_only')")
        assert cur.fetchone() == ("cryptolstm_reader", settings.forecast_db, "on")
        cur.execute("SELECT count(*) FROM v_latest_forecasts")  # reads every view
        with pytest.raises(psycopg2.errors.ReadOnlySqlTransaction):
            cur.execute("DELETE FROM forecasts")
    # an external database without a reader DSN: the page refuses rather than read as the writer
    external = services.airflow_env(settings, "/nowhere", base={**base, "AIRFLOW_CONN_CRYPTOLSTM_DB": "postgres://w@h/d"})
    assert "AIRFLOW_CONN_CRYPTOLSTM_READER" not in external
    with pytest.raises(RuntimeError, match="CRYPTOLSTM_READER_DSN"):
        dashboard.reader_dsn(external)
