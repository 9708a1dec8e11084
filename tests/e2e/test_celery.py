"""The CeleryExecutor for real (issue 13 §1): a local redis broker and two `airflow celery worker` processes
run the weekly and daily DAGs for one replayed week, and every row they write equals, bit for bit, the rows
the LocalExecutor writes for the same week.

The only Celery test: the default test path stays on the LocalExecutor. Skipped without redis-server
(`make broker` installs it; `make test` does so as root)."""

from __future__ import annotations

import json
import shutil
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path

import pytest

from cryptolstm import storage
from cryptolstm.config import DAILY_DAG_ID, DEFAULT_QUEUE, TRAIN_QUEUE, WEEKLY_DAG_ID, Settings
from cryptolstm.runtime import embedded_pg, services
from cryptolstm.runtime.airflow_api import AirflowApi

pytestmark = pytest.mark.e2e

COINS = ("BTC", "ETH", "SOL")
WEEK_START, DAILY_FIRST, DAILY_LAST = "2025-01-05", "2025-01-12", "2025-01-18"
# Every table the two DAGs write, ordered by its key. Only wall-clock measurements differ between two runs
# of the same week (training seconds in the model's JSON): they are dropped, nothing else is.
TABLES = {
    "coins": "coin", "candles": "coin, day", "rejected_candles": "coin, interval_start, raw_sha256",
    "ingest_runs": "coin, interval_start, interval_end", "features": "coin, day",
    "models": "model_id", "validation_predictions": "model_id, coin, as_of, horizon",
    "forecasts": "coin, as_of, horizon, model_id", "forecast_scores": "coin, as_of, horizon, model_id",
    "promotion_decisions": "decided_for, challenger_id", "alerts": "kind, as_of",
}
WALL_CLOCK_KEYS = {"train_seconds", "fit_seconds", "seconds"}


def _utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=timezone.utc)


def _strip_wall_clock(value):
    if isinstance(value, dict):
        return {k: _strip_wall_clock(v) for k, v in value.items() if k not in WALL_CLOCK_KEYS}
    if isinstance(value, list):
        return [_strip_wall_clock(v) for v in value]
    return value


def _dump(dsn: str) -> dict[str, list]:
    out = {}
    with storage.transaction(dsn) as cur:
        for table, key in TABLES.items():
            cur.execute("SELECT count(*) FROM information_schema.columns WHERE table_name = %s", (table,))
            if cur.fetchone()[0] == 0:
                continue  # a table a later migration renames or drops
            cur.execute(f"SELECT * FROM {table} ORDER BY {key}")
            cols = [d.name for d in cur.description]
            rows = []
            for row in cur.fetchall():
                rec = dict(zip(cols, row))
                for c, v in rec.items():
                    if isinstance(v, (dict, list)):
                        rec[c] = _strip_wall_clock(v)
                    elif isinstance(v, memoryview):
                        rec[c] = bytes(v)
                rows.append(rec)
            out[table] = rows
    return out


def _run_week(tmp: Path, data: Path, free_port, executor: str) -> tuple[dict, dict[str, int]]:
    """Run the week under `executor`; return the rows and the tasks each Celery worker received."""
    settings = replace(Settings.from_env({}), state_dir=tmp / f"state-{executor}", api_port=free_port(),
                       smtp_port=free_port(), standin_port=free_port())
    try:
        services.up(settings, wait=300, log=lambda *_: None, replay_dir=data, executor=executor, workers=2)
        dsn = embedded_pg.start(settings)["forecast"]
        api = AirflowApi(f"http://127.0.0.1:{settings.api_port}")
        for dag_id in ("cryptolstm_weekly", "cryptolstm_daily"):
            api.wait_for_dag(dag_id)
            api.set_paused(dag_id, False)
        api.backfill("cryptolstm_weekly", _utc(WEEK_START), _utc(WEEK_START), reprocess="none")
        api.backfill("cryptolstm_daily", _utc(DAILY_FIRST), _utc(DAILY_LAST), reprocess="none")
        weekly = api.wait_for_runs("cryptolstm_weekly", 1, timeout=1200)
        daily = api.wait_for_runs("cryptolstm_daily", 7, timeout=1200)
        assert [r["state"] for r in weekly + daily] == ["success"] * 8, (executor, weekly + daily)
        received = {f.stem: f.read_text(errors="replace").count(" received")
                    for f in (settings.airflow_home / "logs").glob(f"{services.WORKER}-*.log")}
        queues = {(r["dag_id"], ti["task_id"]): ti.get("queue") for r in weekly + daily
                  for ti in api.task_instances(r["dag_id"], r["dag_run_id"])}
        return {**_dump(dsn), "_queues": sorted(set(queues.items()))}, received
    finally:
        services.down(settings, log=lambda *_: None)
        embedded_pg.stop(settings)


@pytest.mark.skipif(shutil.which("redis-server") is None, reason="redis-server not installed (make broker)")
def test_celery_workers_write_the_same_rows_as_the_local_executor(tmp_path, shared_data, monkeypatch, free_port):
    data = tmp_path / "candles"
    shutil.copytree(shared_data, data)
    # Three coins, no auxiliary ones: the executor is under test, not the universe (and each run stays short).
    for k, v in {"CRYPTOLSTM_COINS": ",".join(COINS), "CRYPTOLSTM_AUX_COINS": "",
                 "CRYPTOLSTM_TRAIN_PROFILE": "tiny", "CRYPTOLSTM_PROMOTION_FIRST_MARGIN": "-1",
                 "CRYPTOLSTM_CHARTS_DIR": str(tmp_path / "charts"), "AIRFLOW__CORE__PARALLELISM": "2",
                 "AIRFLOW__CELERY__WORKER_CONCURRENCY": "1"}.items():
        monkeypatch.setenv(k, v)
    for k in ("AIRFLOW_CONN_CRYPTOLSTM_DB", "CRYPTOLSTM_DSN", "AIRFLOW_CONN_SMTP_DEFAULT", "CRYPTOLSTM_EXCHANGE_URL"):
        monkeypatch.delenv(k, raising=False)

    celery, received = _run_week(tmp_path, data, free_port, "celery")
    local, none = _run_week(tmp_path, data, free_port, "local")

    # the tasks really ran on the Celery workers (both took some), and were routed by queue
    assert none == {} and sorted(received) == [f"{services.WORKER}-1", f"{services.WORKER}-2"], received
    assert all(n > 0 for n in received.values()) and sum(received.values()) >= 5 + 7 * (len(COINS) + 7), received
    routed = dict(celery["_queues"])
    assert routed == dict(local["_queues"])
    train = {(DAILY_DAG_ID, "forecast"), (WEEKLY_DAG_ID, "train_challenger"), (WEEKLY_DAG_ID, "decide")}
    assert {k for k, q in routed.items() if q == TRAIN_QUEUE} == train
    assert routed[(DAILY_DAG_ID, "ingest")] == routed[(WEEKLY_DAG_ID, "sync_candles")] == DEFAULT_QUEUE
    assert len(celery["forecasts"]) == 7 * 5 * len(COINS) and celery["promotion_decisions"]
    for table in TABLES:
        assert celery.get(table) == local.get(table), f"{table} differs between CeleryExecutor and LocalExecutor"
    assert json.dumps(sorted(celery), default=str) == json.dumps(sorted(local), default=str)
