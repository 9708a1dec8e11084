"""bench-engine's reading of a weekly run: task instances to rows, workers from their recorded hosts, the wall time
cut at the training tasks, the projection arithmetic, and the services' environment."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta

import pytest

from cryptolstm.bench import engine

T0 = "2025-02-16T00:00:{:02d}+00:00"


def _ti(ti_id: str, task: str, start: int, end: int, map_index: int = -1, queue: str = "default",
        host: str = "vm") -> dict:
    return {"id": ti_id, "task_id": task, "map_index": map_index, "state": "success", "start_date": T0.format(start),
            "end_date": T0.format(end), "queue": queue, "hostname": host, "try_number": 1}


def _mapped_week(hosts: dict[str, str] | None = None) -> list[dict]:
    """A mapped weekly run: 3 training tasks on 2 workers, then a gather and a decision; `hosts`: TI id -> the
    host Airflow recorded (default "vm", as under the LocalExecutor)."""
    h = lambda ti_id: (hosts or {}).get(ti_id, "vm")  # noqa: E731
    return [_ti("a", "check_interval", 0, 2), _ti("b", "sync_candles", 2, 5),
            _ti("m0", "train_member", 6, 26, 0, "train", h("m0")), _ti("m1", "train_member", 6, 30, 1, "train", h("m1")),
            _ti("m2", "train_member", 27, 43, 2, "train", h("m2")), _ti("g", "gather_members", 44, 50, queue="train"),
            _ti("n", "notify", 51, 52)]


def test_the_worker_is_read_from_the_task_instances_host():
    """The local Celery workers record `celery-worker-N@<host>` (services.worker_hostname); any other host (the
    LocalExecutor's, a worker elsewhere) names no worker."""
    tasks = engine.task_runs(_mapped_week({"m0": "celery-worker-1@vm", "m1": "celery-worker-2@vm",
                                           "m2": "celery-worker-2@vm"}), "celery-worker")
    assert {(t.task_id, t.map_index): t.worker for t in tasks} == {
        ("check_interval", -1): None, ("sync_candles", -1): None, ("train_member", 0): "celery-worker-1",
        ("train_member", 1): "celery-worker-2", ("train_member", 2): "celery-worker-2", ("gather_members", -1): None,
        ("notify", -1): None}
    assert [t.hostname for t in tasks if t.task_id == "train_member"] == ["celery-worker-1@vm", "celery-worker-2@vm",
                                                                          "celery-worker-2@vm"]
    assert engine.worker_of("celery-worker-3@vm", "celery-worker") == "celery-worker-3"
    assert engine.worker_of("vm", "celery-worker") is engine.worker_of(None, "celery-worker") is None


def test_the_wall_time_is_cut_at_the_training_tasks_and_projected():
    tasks = engine.task_runs(_mapped_week({"m0": "celery-worker-1@vm", "m1": "celery-worker-2@vm"}), "celery-worker")
    assert [(t.task_id, t.map_index) for t in tasks][:4] == [("check_interval", -1), ("sync_candles", -1),
                                                             ("train_member", 0), ("train_member", 1)]
    s = engine.span(tasks)
    assert (s.wall, s.plan, s.training, s.after) == (52, 6, 37, 9) and s.plan + s.training + s.after == s.wall
    assert (s.training_tasks, s.training_sum, s.training_median) == (3, 60, 20) and s.training_mean == 20
    assert s.projected_wall(1) == 6 + 3 * 20 + 9 and s.projected_wall(2) == 6 + 2 * 20 + 9
    assert s.projected_wall(4) == s.projected_wall(16) == 6 + 20 + 9


def test_the_report_names_every_task_its_map_index_and_worker():
    run = engine.EngineRun(executor="celery", workers=2, concurrency=1, coins=3, profile="tiny", folds="2",
                           members="3", week_end=date(2025, 2, 16), state="success",
                           dag_tasks=("check_interval", "sync_candles", "train_member", "gather_members", "notify"),
                           tasks=tuple(engine.task_runs(_mapped_week({"m0": "celery-worker-1@vm",
                                                                      "m1": "celery-worker-2@vm",
                                                                      "m2": "celery-worker-1@vm"}), "celery-worker")),
                           startup_seconds=30.0)
    out = engine.report(run)
    assert "| train_member | 1 | success | train | celery-worker-2 | celery-worker-2@vm | 1 | 6.0 | 24.0 |" in out
    assert "| check_interval |  | success | default | – | vm | 1 | 0.0 | 2.0 |" in out
    assert "WALL TIME (first task start -> last task end): 52.0 s" in out
    assert "training tasks: 3, sum 60.0 s" in out
    assert "training per worker: celery-worker-1 2 tasks 36.0 s, celery-worker-2 1 tasks 24.0 s" in out
    assert "w=1 75 s, w=2 55 s, w=4 35 s" in out and "no task instance" not in out


def test_a_run_without_a_finished_training_task_has_no_wall_time():
    tasks = engine.task_runs([_ti("a", "check_interval", 0, 2)], "celery-worker")
    assert engine.span(tasks) is None


@pytest.mark.parametrize("name", engine.OUTSIDE_ENV)
def test_the_benchmark_never_sees_a_real_database_or_exchange(monkeypatch, name):
    import os

    monkeypatch.setenv(name, "postgres://real")
    monkeypatch.delenv("CRYPTOLSTM_TRAIN_PROFILE", raising=False)
    env = engine.service_environ({"CRYPTOLSTM_TRAIN_PROFILE": "tiny"})
    assert name not in env and env["CRYPTOLSTM_TRAIN_PROFILE"] == "tiny"
    # the benchmark's own process keeps its environment: the services get theirs as an argument
    assert os.environ[name] == "postgres://real" and "CRYPTOLSTM_TRAIN_PROFILE" not in os.environ


def test_a_backfill_reports_its_wall_time_and_each_weeks_run():
    """--weeks N: the table is the last week's run, then the backfill's wall time from its first task start to its
    last task end, and each week's own wall time."""
    def week(offset_s: int) -> tuple:  # _mapped_week's run, started offset_s later
        shift = timedelta(seconds=offset_s)
        return tuple(replace(t, start=t.start + shift, end=t.end + shift)
                     for t in engine.task_runs(_mapped_week(), "celery-worker"))

    first, second = week(0), week(60)
    run = engine.EngineRun(executor="local", workers=1, concurrency=1, coins=3, profile="tiny", folds="2",
                           members="3", week_end=date(2025, 2, 16), state="success", dag_tasks=("train_member",),
                           tasks=second, startup_seconds=30.0,
                           backfill=(engine.WeekRun(date(2025, 2, 9), "success", first),
                                     engine.WeekRun(date(2025, 2, 16), "success", second)))
    out = engine.report(run)
    assert "WALL TIME (first task start -> last task end): 52.0 s" in out
    assert "BACKFILL of 2 weekly runs, one at a time (first task start -> last task end): 112.0 s" in out
    assert "week ending 2025-02-09 success 52.0 s; week ending 2025-02-16 success 52.0 s" in out
    assert "BACKFILL" not in engine.report(replace(run, backfill=()))
