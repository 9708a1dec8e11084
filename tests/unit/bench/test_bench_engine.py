"""bench-engine's reading of a weekly run: task instances to rows, workers from their logs, the wall time cut at
the training tasks, and the projection arithmetic."""

from __future__ import annotations

from datetime import date

import pytest

from cryptolstm.bench import engine

T0 = "2025-02-16T00:00:{:02d}+00:00"
# The line the Celery provider logs for each task a worker executes (copied from a real worker log, shortened).
EXECUTING = ("2026-12-06T10:28:46.459630Z [info     ] [6af939ed-b2fb-4738-9b67-63599c538e42] Executing workload in "
             "Celery: dag_rel_path=PurePosixPath('cryptolstm_weekly.py') bundle_info=BundleInfo(name='dags-folder', "
             "version=None) log_path='dag_id=cryptolstm_weekly/run_id=backfill__2025-02-09T00:00:00+00:00/"
             "task_id={task}/attempt={attempt}.log' ti=TaskInstanceDTO(id=UUID('{id}'), task_id='{task}', "
             "dag_id='cryptolstm_weekly', run_id='backfill__2025-02-09T00:00:00+00:00', try_number={attempt}, "
             "dag_version_id=UUID('01a24ae6-1489-7cbf-a158-5c2a52918408'), map_index={map}, hostname='', "
             "queue='train', pool_slots=1) type='ExecuteTask' [airflow.providers.celery.executors] loc=x.py:254\n")


def _ti(ti_id: str, task: str, start: int, end: int, map_index: int = -1, queue: str = "default") -> dict:
    return {"id": ti_id, "task_id": task, "map_index": map_index, "state": "success", "start_date": T0.format(start),
            "end_date": T0.format(end), "queue": queue, "hostname": "vm", "try_number": 1}


def _mapped_week() -> list[dict]:
    """A mapped weekly run: 3 training tasks on 2 workers, then a gather and a decision."""
    return [_ti("a", "check_interval", 0, 2), _ti("b", "sync_candles", 2, 5),
            _ti("m0", "train_member", 6, 26, 0, "train"), _ti("m1", "train_member", 6, 30, 1, "train"),
            _ti("m2", "train_member", 27, 43, 2, "train"), _ti("g", "gather_members", 44, 50, queue="train"),
            _ti("n", "notify", 51, 52)]


def test_workers_are_read_from_their_logs_last_try_wins(tmp_path):
    (tmp_path / "celery-worker-1.log").write_text(
        EXECUTING.format(id="m0", task="train_member", attempt=1, map=0)
        + EXECUTING.format(id="m2", task="train_member", attempt=1, map=2) + "noise\n")
    (tmp_path / "celery-worker-2.log").write_text(
        EXECUTING.format(id="m1", task="train_member", attempt=1, map=1)
        + EXECUTING.format(id="m2", task="train_member", attempt=2, map=2))
    (tmp_path / "scheduler.log").write_text(EXECUTING.format(id="x", task="t", attempt=1, map=-1))
    assert engine.workers_by_ti(tmp_path, "celery-worker") == {"m0": "celery-worker-1", "m1": "celery-worker-2",
                                                                 "m2": "celery-worker-2"}


def test_the_wall_time_is_cut_at_the_training_tasks_and_projected():
    tasks = engine.task_runs(_mapped_week(), {"m0": "celery-worker-1", "m1": "celery-worker-2"})
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
                           tasks=tuple(engine.task_runs(_mapped_week(), {"m0": "celery-worker-1",
                                                                          "m1": "celery-worker-2",
                                                                          "m2": "celery-worker-1"})),
                           startup_seconds=30.0)
    out = engine.report(run)
    assert "| train_member | 1 | success | train | celery-worker-2 | vm | 1 | 6.0 | 24.0 |" in out
    assert "| check_interval |  | success | default | – | vm | 1 | 0.0 | 2.0 |" in out
    assert "WALL TIME (first task start -> last task end): 52.0 s" in out
    assert "training tasks: 3, sum 60.0 s" in out
    assert "training per worker: celery-worker-1 2 tasks 36.0 s, celery-worker-2 1 tasks 24.0 s" in out
    assert "w=1 75 s, w=2 55 s, w=4 35 s" in out and "no task instance" not in out


def test_a_run_without_a_finished_training_task_has_no_wall_time():
    tasks = engine.task_runs([_ti("a", "check_interval", 0, 2)], {})
    assert engine.span(tasks) is None


@pytest.mark.parametrize("name", engine.OUTSIDE_ENV)
def test_the_benchmark_never_sees_a_real_database_or_exchange(monkeypatch, name):
    import os

    monkeypatch.setenv(name, "postgres://real")
    with engine._environ({"CRYPTOLSTM_TRAIN_PROFILE": "tiny"}):
        assert name not in os.environ and os.environ["CRYPTOLSTM_TRAIN_PROFILE"] == "tiny"
    assert os.environ[name] == "postgres://real"
