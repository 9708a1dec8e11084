"""The CeleryExecutor for real (issue 13 §1): a local redis broker and two `airflow celery worker` processes
run the weekly and daily DAGs for one replayed week, and every row they write equals, bit for bit, the rows
the LocalExecutor writes for the same week. The weekly run is fanned out (issue 18): one mapped train_member task
per (fold x member) and per final-fit member, and both workers train some (K = 1 here: the executor is under
test; tests/dags/test_dag_runs.py maps and merges K = 2).

The only Celery test: the default test path stays on the LocalExecutor. Skipped without redis-server
(`make broker` installs it; `make test` does so as root)."""

from __future__ import annotations

import json
import re
import shutil
from dataclasses import replace
from datetime import datetime, timezone
from collections import Counter
from pathlib import Path

import pytest

from cryptolstm import storage
from cryptolstm.bench import engine
from cryptolstm.config import DAILY_DAG_ID, DEFAULT_QUEUE, TRAIN_QUEUE, WEEKLY_DAG_ID
from cryptolstm.environment import load_settings
from cryptolstm.runtime import embedded_pg, services
from cryptolstm.runtime.airflow_api import AirflowApi
from orchestration_seed import weights_digest

pytestmark = pytest.mark.e2e

COINS = ("BTC", "ETH", "SOL")
WEEK_START, DAILY_FIRST, DAILY_LAST = "2025-01-05", "2025-01-12", "2025-01-14"
DAILY_RUNS = 3  # DAILY_FIRST .. DAILY_LAST
TRAIN_MEMBER = re.compile(r"Executing workload in Celery: .*task_id='train_member'")  # one per executed piece
WALL_CLOCK = "seconds"  # JSON keys ending with it are measurements of elapsed time (e.g. fit_seconds)


def _utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=timezone.utc)


def _canonical(value):
    """A value with wall-clock measurements removed, in a form that compares exactly."""
    if isinstance(value, dict):
        return {k: _canonical(v) for k, v in value.items() if not k.endswith(WALL_CLOCK)}
    if isinstance(value, list):
        return [_canonical(v) for v in value]
    if isinstance(value, memoryview):
        return bytes(value)
    return value


def _dump(dsn: str) -> dict[str, list]:
    """Every table of the forecasting database, rows in a canonical order. Dropped: columns filled by the wall
    clock or a sequence (DEFAULT now() / nextval: audit times, surrogate ids), elapsed-time keys in JSON, and the
    artifact bytes (replaced by the digest of the weights; a preparation's by its sha256, a fold piece has none)."""
    out = {}
    with storage.transaction(dsn) as cur:
        cur.execute("SELECT table_name FROM information_schema.tables "
                    "WHERE table_schema = 'public' AND table_type = 'BASE TABLE' ORDER BY 1")
        for (table,) in cur.fetchall():
            cur.execute("SELECT column_name, coalesce(column_default, '') FROM information_schema.columns "
                        "WHERE table_schema = 'public' AND table_name = %s ORDER BY ordinal_position", (table,))
            cols = [c for c, default in cur.fetchall() if "now()" not in default and "nextval(" not in default]
            quoted = ", ".join('"%s"' % c for c in cols)
            cur.execute(f'SELECT {quoted} FROM "{table}"')
            rows = [{c: _canonical(v) for c, v in zip(cols, row)} for row in cur.fetchall()]
            for rec in rows:
                if table == "prepared_fits":  # plain arrays, written without times: its sha256 names its content
                    rec.pop("artifact")
                elif rec.get("artifact") is not None:
                    rec["artifact"] = weights_digest(rec.pop("artifact"))
                    rec.pop("artifact_sha256", None)
            out[table] = sorted(rows, key=lambda r: json.dumps(r, sort_keys=True, default=repr))
    return out


def _run_week(tmp: Path, data: Path, free_port, executor: str) -> tuple[dict, dict[str, int], dict[str, int],
                                                                        dict[str, int]]:
    """Run the week under `executor`; return the rows, the tasks each Celery worker received, the train_member
    tasks each executed by its log, and by the host Airflow recorded (bench-engine reads the worker there)."""
    settings = replace(load_settings({}), state_dir=tmp / f"state-{executor}", api_port=free_port(),
                       smtp_port=free_port(), standin_port=free_port())
    try:
        services.up(settings, wait=300, log=lambda *_: None, replay_dir=data, executor=executor, workers=2)
        dsn = embedded_pg.start(settings)["forecast"]
        api = AirflowApi(f"http://127.0.0.1:{settings.api_port}")
        for dag_id in ("cryptolstm_weekly", "cryptolstm_daily"):
            api.wait_for_dag(dag_id)
            api.set_paused(dag_id, False)
        # Weekly first, then the daily runs: which task first stores a candle (the weekly sync or a daily
        # ingest) is recorded (candles.first_seen_in, ingest_runs counts), so the order is fixed here.
        api.backfill("cryptolstm_weekly", _utc(WEEK_START), _utc(WEEK_START), reprocess="none")
        weekly = api.wait_for_runs("cryptolstm_weekly", 1, timeout=1200)
        api.backfill("cryptolstm_daily", _utc(DAILY_FIRST), _utc(DAILY_LAST), reprocess="none")
        daily = api.wait_for_runs("cryptolstm_daily", DAILY_RUNS, timeout=1200)
        assert [r["state"] for r in weekly + daily] == ["success"] * (1 + DAILY_RUNS), (executor, weekly + daily)
        logs = {f.stem: f.read_text(errors="replace")
                for f in (settings.airflow_home / "logs").glob(f"{services.WORKER}-*.log")}
        received = {w: text.count(" received") for w, text in logs.items()}
        # the weekly run's ensemble pieces each worker trained (its log names every workload it executed)
        members = {w: len(TRAIN_MEMBER.findall(text)) for w, text in logs.items()}
        instances = [(r["dag_id"], ti) for r in weekly + daily
                     for ti in api.task_instances(r["dag_id"], r["dag_run_id"])]
        queues = {(dag_id, ti["task_id"]): ti.get("queue") for dag_id, ti in instances}
        hosts = Counter(engine.worker_of(ti["hostname"], services.WORKER) for _, ti in instances
                        if ti["task_id"] == "train_member")
        return {**_dump(dsn), "_queues": sorted(set(queues.items()))}, received, members, dict(hosts)
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
                 "CRYPTOLSTM_WF_FOLDS": "2", "CRYPTOLSTM_WF_DAYS": "28",  # production: 5 x 120 as-of days
                 "CRYPTOLSTM_ENSEMBLE_MEMBERS": "1",  # 3 train_member tasks: (2 folds + final fit) x 1 member
                 "CRYPTOLSTM_CHARTS_DIR": str(tmp_path / "charts"), "AIRFLOW__CORE__PARALLELISM": "2",
                 "AIRFLOW__CELERY__WORKER_CONCURRENCY": "1"}.items():
        monkeypatch.setenv(k, v)
    for k in ("AIRFLOW_CONN_CRYPTOLSTM_DB", "CRYPTOLSTM_DSN", "AIRFLOW_CONN_SMTP_DEFAULT", "CRYPTOLSTM_EXCHANGE_URL"):
        monkeypatch.delenv(k, raising=False)

    celery, received, trained, hosts = _run_week(tmp_path, data, free_port, "celery")
    local, none, _, local_hosts = _run_week(tmp_path, data, free_port, "local")

    # the tasks really ran on the Celery workers (both took some), and were routed by queue
    assert none == {} and sorted(received) == [f"{services.WORKER}-1", f"{services.WORKER}-2"], received
    assert all(n > 0 for n in received.values()) and sum(received.values()) >= 5 + DAILY_RUNS * (len(COINS) + 7), received
    routed = dict(celery["_queues"])
    assert routed == dict(local["_queues"])
    train = {(DAILY_DAG_ID, "forecast"), (WEEKLY_DAG_ID, "prepare"), (WEEKLY_DAG_ID, "train_member"),
             (WEEKLY_DAG_ID, "gather_members"), (WEEKLY_DAG_ID, "decide")}  # prepare builds the cube: a train worker
    assert {k for k, q in routed.items() if q == TRAIN_QUEUE} == train
    assert routed[(DAILY_DAG_ID, "ingest")] == routed[(WEEKLY_DAG_ID, "sync_candles")] == DEFAULT_QUEUE
    # the weekly training fanned out: (2 folds + the final fit) x 1 member, and BOTH workers trained some
    assert sum(trained.values()) >= 3 and all(n > 0 for n in trained.values()), trained
    # ... as the task instances' hosts say too: each worker records its own name, the LocalExecutor none
    assert sorted(hosts) == sorted(trained) and sum(hosts.values()) == 3, (hosts, trained)
    assert local_hosts == {None: 3}, local_hosts
    assert len(celery["member_weights"]) == 3 and len(celery["member_predictions"]) > 0
    assert len(celery["forecasts"]) == DAILY_RUNS * 5 * len(COINS) and celery["promotion_decisions"]
    assert sorted(celery) == sorted(local)
    for table in sorted(celery):
        assert celery[table] == local[table], f"{table} differs between CeleryExecutor and LocalExecutor"
    assert {"candles", "models", "forecasts", "forecast_scores", "promotion_decisions"} <= set(celery)
