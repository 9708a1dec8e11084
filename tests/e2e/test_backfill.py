"""End to end with the real Airflow services (api-server, scheduler, dag-processor, triggerer,
LocalExecutor on the embedded PostgreSQL): a short backfill of both DAGs through the REST API, then
the SQL tables, the views and the received emails are checked.

Weekly first (two weeks: the first model, then a challenger against it), then the daily DAG over the
days the first champion serves; the daily runs wait for the weekly decision of their week."""

from __future__ import annotations

import json
import mailbox
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import replace
from pathlib import Path

import pytest

from cryptolstm import embedded_pg, services, storage
from cryptolstm.config import Settings
from cryptolstm.standin import StandIn

pytestmark = pytest.mark.e2e


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Api:
    def __init__(self, port: int, login: services.UiLogin):
        self.base = f"http://127.0.0.1:{port}"
        body = json.dumps({"username": login.username, "password": login.password}).encode()
        req = urllib.request.Request(self.base + "/auth/token", body, {"Content-Type": "application/json"})
        self.token = json.loads(urllib.request.urlopen(req, timeout=30).read())["access_token"]

    def call(self, method: str, path: str, body: dict | None = None):
        req = urllib.request.Request(self.base + path, json.dumps(body).encode() if body is not None else None,
                                     {"Authorization": f"Bearer {self.token}", "Content-Type": "application/json"},
                                     method=method)
        with urllib.request.urlopen(req, timeout=30) as r:
            return json.loads(r.read() or b"{}")

    def wait_for_dag(self, dag_id: str, timeout: float = 180) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                self.call("GET", f"/api/v2/dags/{dag_id}")
                return
            except urllib.error.HTTPError:
                time.sleep(2)
        raise AssertionError(f"{dag_id} not parsed within {timeout} s")

    def runs(self, dag_id: str) -> list[dict]:
        return self.call("GET", f"/api/v2/dags/{dag_id}/dagRuns?limit=100&order_by=logical_date")["dag_runs"]

    def backfill_runs(self, dag_id: str) -> list[dict]:
        return [r for r in self.runs(dag_id) if r["run_type"] == "backfill"]

    def wait_runs(self, dag_id: str, n: int, timeout: float) -> list[dict]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            runs = self.backfill_runs(dag_id)
            if len(runs) >= n and all(r["state"] in ("success", "failed") for r in runs):
                return runs
            time.sleep(5)
        raise AssertionError(f"{dag_id}: runs not finished in {timeout} s: {[(r['dag_run_id'], r['state']) for r in self.runs(dag_id)]}")


def _mails(maildir: Path) -> list[str]:
    return [m["Subject"] for m in mailbox.Maildir(str(maildir), create=False)] if maildir.exists() else []


def test_backfill_both_dags(tmp_path, shared_data, monkeypatch):
    data = tmp_path / "candles"
    shutil.copytree(shared_data, data)
    smtp_port, maildir = _free_port(), tmp_path / "mail"
    sink = subprocess.Popen([sys.executable, "-m", "aiosmtpd", "-n", "-l", f"127.0.0.1:{smtp_port}", "-c",
                             "aiosmtpd.handlers.Mailbox", str(maildir)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    settings = replace(Settings.from_env({}), state_dir=tmp_path / "state", api_port=_free_port())
    with StandIn(data) as ex:
        for k, v in {"CRYPTOLSTM_EXCHANGE_URL": ex.url, "CRYPTOLSTM_TRAIN_PROFILE": "tiny",
                     "CRYPTOLSTM_PROMOTION_FIRST_MARGIN": "-1",  # the first tiny model is promoted
                     "CRYPTOLSTM_ALERT_MIN_DA": "1.01",  # live accuracy fires once enough cells matured
                     "CRYPTOLSTM_ALERT_MIN_CELLS": "45", "CRYPTOLSTM_ALERT_TO": "ops@example.test",
                     "CRYPTOLSTM_CHARTS_DIR": str(tmp_path / "charts"),
                     "AIRFLOW__CORE__PARALLELISM": "2",
                     "AIRFLOW_CONN_SMTP_DEFAULT": json.dumps({
                         "conn_type": "smtp", "host": "127.0.0.1", "port": smtp_port,
                         "extra": {"disable_tls": True, "disable_ssl": True, "from_email": "airflow@localhost",
                                   "retry_limit": 0, "timeout": 10}})}.items():
            monkeypatch.setenv(k, v)
        monkeypatch.delenv("AIRFLOW_CONN_CRYPTOLSTM_DB", raising=False)
        monkeypatch.delenv("CRYPTOLSTM_DSN", raising=False)
        try:
            services.up(settings, wait=240, log=lambda *_: None)
            dsn = embedded_pg.start(settings)["forecast"]
            api = Api(settings.api_port, services.UiLogin())
            for dag_id in ("cryptolstm_weekly", "cryptolstm_daily"):
                api.wait_for_dag(dag_id)
            api.call("POST", "/api/v2/backfills", {"dag_id": "cryptolstm_weekly", "from_date": "2025-01-05T00:00:00Z",
                                                   "to_date": "2025-01-12T00:00:00Z", "max_active_runs": 1})
            api.call("POST", "/api/v2/backfills", {"dag_id": "cryptolstm_daily", "from_date": "2025-01-12T00:00:00Z",
                                                   "to_date": "2025-01-18T00:00:00Z", "max_active_runs": 1})
            # Runs of a paused DAG are not started, and unpausing creates each DAG's latest scheduled run
            # (today's, far after the replayed history): unpause, then mark those scheduled runs failed.
            for dag_id in ("cryptolstm_weekly", "cryptolstm_daily"):
                api.call("PATCH", f"/api/v2/dags/{dag_id}", {"is_paused": False})
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline:
                for dag_id in ("cryptolstm_weekly", "cryptolstm_daily"):
                    for r in api.runs(dag_id):
                        if r["run_type"] != "backfill" and r["state"] != "failed":
                            api.call("PATCH", f"/api/v2/dags/{dag_id}/dagRuns/{r['dag_run_id']}", {"state": "failed"})
                time.sleep(1)
            weekly = api.wait_runs("cryptolstm_weekly", 2, timeout=1500)
            daily = api.wait_runs("cryptolstm_daily", 7, timeout=1500)
            assert [r["state"] for r in weekly] == ["success"] * 2, weekly
            assert [r["state"] for r in daily] == ["success"] * 7, daily

            def q(sql):
                with storage.transaction(dsn) as cur:
                    cur.execute(sql)
                    return cur.fetchall()

            decisions = q("SELECT decided_for::date::text, promoted, champion_id IS NULL, n_cells, reason "
                          "FROM v_promotion_history ORDER BY decided_for")
            assert [d[0] for d in decisions] == ["2025-01-12", "2025-01-19"]
            assert decisions[0][1] and decisions[0][2]  # the first model, promoted
            assert not decisions[1][2] and decisions[1][4]  # challenger vs champion, with a reason
            # every forecast day 2025-01-12..18: 45 rows from a model trained before it
            days = q("SELECT f.as_of::text, count(*), bool_and(m.training_cutoff < f.as_of) "
                     "FROM forecasts f JOIN models m USING (model_id) GROUP BY f.as_of ORDER BY f.as_of")
            assert [d[0] for d in days] == [f"2025-01-{d}" for d in range(12, 19)]
            assert all(n == 45 and ok for _, n, ok in days)
            assert q("SELECT count(*) FROM forecast_scores")[0][0] > 45
            assert q("SELECT count(DISTINCT as_of) FROM v_latest_forecasts")[0] == (1,)
            assert q("SELECT count(*) FROM v_live_accuracy WHERE coin = 'ALL' AND horizon = 0")[0][0] >= 1
            fired = q("SELECT as_of::text FROM alerts WHERE kind = 'live_accuracy' AND emailed")
            assert len(fired) == 1  # one change of state -> one mail, not one per day
            subjects = _mails(maildir)
            assert sum("weekly PROMOTED" in s or "weekly REJECTED" in s for s in subjects) == 2, subjects
            assert sum("live_accuracy FIRING" in s for s in subjects) == 1, subjects
        finally:
            services.down(settings, log=lambda *_: None)
            embedded_pg.stop(settings)
            sink.terminate()
