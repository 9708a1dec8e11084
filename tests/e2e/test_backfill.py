"""End to end with the real Airflow services (api-server, scheduler, dag-processor, triggerer,
LocalExecutor on the embedded PostgreSQL): a short backfill of both DAGs through the REST API, then
the SQL tables, the views and the received emails are checked.

Weekly first (two weeks: the first model, then a challenger against it), then the daily DAG over the
days the first champion serves; the daily runs wait for the weekly decision of their week."""

from __future__ import annotations

import mailbox
import shutil
import time
from collections import Counter
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path

import pytest

from cryptolstm.runtime import embedded_pg, services

from cryptolstm import storage
from cryptolstm.runtime.airflow_api import AirflowApi
from cryptolstm.environment import load_settings

pytestmark = pytest.mark.e2e



def _utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=timezone.utc)


def _backfill_runs(api: AirflowApi, dag_id: str, n: int, timeout: float) -> list[dict]:
    runs = api.wait_for_runs(dag_id, n, timeout=timeout)
    return [r for r in runs if r["run_type"] == "backfill"]


def _mails(maildir: Path) -> list[str]:
    return [m["Subject"] for m in mailbox.Maildir(str(maildir), create=False)] if maildir.exists() else []


def test_backfill_both_dags(tmp_path, shared_data, monkeypatch, free_port):
    data = tmp_path / "candles"
    shutil.copytree(shared_data, data)
    settings = replace(load_settings({}), state_dir=tmp_path / "state", api_port=free_port(),
                       smtp_port=free_port(), standin_port=free_port())
    for k, v in {"CRYPTOLSTM_TRAIN_PROFILE": "tiny",
                 "CRYPTOLSTM_AUX_COINS": "",  # the 9 served coins only: the copied folder holds no others
                 "CRYPTOLSTM_PROMOTION_FIRST_MARGIN": "-1",  # the first tiny model is promoted
                 "CRYPTOLSTM_PROMOTION_FIRST_MIN_LOWER": "0",  # (whatever its DA; the constant-sign guard stays)
                 "CRYPTOLSTM_WF_FOLDS": "2", "CRYPTOLSTM_WF_DAYS": "56",  # production: 5 x 120 as-of days
                 # live accuracy fires once enough cells matured: every interval lies below 100 % once it
                 # rests on a few day-blocks (1-day blocks: the backfill has a week of matured days)
                 "CRYPTOLSTM_ALERT_MIN_DA": "1.0", "CRYPTOLSTM_ALERT_BLOCK_DAYS": "1",
                 "CRYPTOLSTM_ALERT_MIN_CELLS": "45", "CRYPTOLSTM_ALERT_TO": "ops@example.test",
                 "CRYPTOLSTM_CHARTS_DIR": str(tmp_path / "charts"),
                 # the daily runs wait for the weekly decision, the second week for the daily runs: look every
                 # 10 s, not every minute (production), when a tiny week trains in a few minutes
                 "CRYPTOLSTM_SENSOR_POKE_S": "10",
                 "AIRFLOW__CORE__PARALLELISM": "2"}.items():
        monkeypatch.setenv(k, v)
    for k in ("AIRFLOW_CONN_CRYPTOLSTM_DB", "CRYPTOLSTM_DSN", "AIRFLOW_CONN_SMTP_DEFAULT", "CRYPTOLSTM_EXCHANGE_URL"):
        monkeypatch.delenv(k, raising=False)
    try:
        # Replay mode: the stand-in (clock following each run's interval), the SMTP sink, and no run
        # created from the wall clock — only the backfills below.
        services.up(settings, wait=240, log=lambda *_: None, replay_dir=data)
        dsn = embedded_pg.start(settings)["forecast"]
        api = AirflowApi(f"http://127.0.0.1:{settings.api_port}")
        for dag_id in ("cryptolstm_weekly", "cryptolstm_daily"):
            api.wait_for_dag(dag_id)
            api.set_paused(dag_id, False)  # tasks of paused DAGs are never queued, backfills included
        api.backfill("cryptolstm_weekly", _utc("2025-01-05"), _utc("2025-01-12"), reprocess="none")
        api.backfill("cryptolstm_daily", _utc("2025-01-12"), _utc("2025-01-18"), reprocess="none")
        weekly = _backfill_runs(api, "cryptolstm_weekly", 2, timeout=1500)
        daily = _backfill_runs(api, "cryptolstm_daily", 7, timeout=1500)
        assert [r["run_type"] for r in api.dag_runs("cryptolstm_daily")] == ["backfill"] * 7
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
        subjects = _mails(settings.mail_dir)
        assert sum("weekly PROMOTED" in s or "weekly REJECTED" in s for s in subjects) == 2, subjects
        assert sum("live_accuracy FIRING" in s for s in subjects) == 1, subjects

        # Issue 12 §1 on the real scheduler: a corrupted model fails the day's run (not green), while
        # scoring and alerts still run; one failure email, for the forecast.
        q_write = "UPDATE models SET artifact = overlay(artifact placing 'xx' from 100)"
        with storage.transaction(dsn) as cur:
            cur.execute(q_write)
        for b in api.backfills("cryptolstm_daily", active_only=True):  # runs finish before the backfill does
            api.wait_for_backfill(b["id"], timeout=600)
        before = Counter(_mails(settings.mail_dir))
        api.backfill("cryptolstm_daily", _utc("2025-01-19"), _utc("2025-01-19"), reprocess="none")
        (bad,) = [r for r in api.wait_for_runs("cryptolstm_daily", 8, timeout=900)
                  if (r["logical_date"] or "").startswith("2025-01-19")]
        assert bad["state"] == "failed", bad
        states = {t["task_id"]: t["state"] for t in api.task_instances("cryptolstm_daily", bad["dag_run_id"])
                  if t["map_index"] < 0}
        assert states["forecast"] == "failed" and states["day_complete"] == "upstream_failed", states
        assert states["score"] == states["alerts"] == states["charts"] == "success", states
        failed = [s for s in (Counter(_mails(settings.mail_dir)) - before).elements() if "task failed" in s]
        assert failed == ["[cryptolstm] task failed: cryptolstm_daily.forecast (2025-01-19)"], failed

        # a run triggered without a logical date: refused by its first task, one email
        before = Counter(_mails(settings.mail_dir))
        run = api._call("POST", "/api/v2/dags/cryptolstm_daily/dagRuns", {"logical_date": None})
        deadline = time.monotonic() + 600
        while (run := [r for r in api.dag_runs("cryptolstm_daily") if r["dag_run_id"] == run["dag_run_id"]][0]
               )["state"] not in ("success", "failed"):
            assert time.monotonic() < deadline, run
            time.sleep(2)
        assert run["state"] == "failed"
        states = {t["task_id"]: t["state"] for t in api.task_instances("cryptolstm_daily", run["dag_run_id"])}
        assert [t for t, st in states.items() if st == "failed"] == ["check_interval"], states
        time.sleep(5)  # the callback's email is sent after the state is recorded
        assert [s for s in (Counter(_mails(settings.mail_dir)) - before).elements() if "task failed" in s] == [
            f"[cryptolstm] task failed: cryptolstm_daily.check_interval ({run['dag_run_id']})"]
    finally:
        services.down(settings, log=lambda *_: None)
        embedded_pg.stop(settings)
