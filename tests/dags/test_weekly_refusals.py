"""Issue 27 §1: the weekly DAG refuses a week ending before the latest recorded decision in its first task,
check_interval, with AirflowFailException (no retry: nothing else runs, nothing is trained), naming both
weeks; decide fails the same way if a later week was decided meanwhile, and lets transient errors be retried.
The tasks run in a fresh interpreter, as in test_forecast_task."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from cryptolstm import storage

DAGS_DIR = Path(__file__).resolve().parents[2] / "dags"
_RUN = r"""
import sys
import pendulum
sys.path.insert(0, sys.argv[1])  # the DAGs folder, as Airflow puts it on the path
import cryptolstm_weekly as weekly
from cryptolstm import pipeline

weekly.dsn = lambda: sys.argv[2]
task = weekly.weekly_dag.get_task
for day in (12, 19, 26):  # before, at and after the week ending 2025-01-19, which is decided
    end = pendulum.datetime(2025, 1, day, tz="UTC")
    try:
        print("RETURNED", task("check_interval").python_callable(data_interval_start=end.subtract(days=7),
                                                                data_interval_end=end))
    except Exception as exc:
        print("RAISED", type(exc).__name__, exc)
for error in (pipeline.OutOfOrderWeek("decided out of order"), ConnectionError("db blip")):
    def fail(*args, error=error, **kwargs):
        raise error
    pipeline.decide = fail
    try:
        task("decide").python_callable(trained={"model_id": "m"}, data_interval_end=end)
    except Exception as exc:
        print("RAISED", type(exc).__name__, exc)
"""


def test_a_week_before_the_latest_decision_fails_check_interval_without_retry(db):
    with storage.transaction(db) as cur:
        cur.execute("INSERT INTO models (model_id, created_for, training_cutoff, feature_version, hyperparams, "
                    "code_version, artifact, artifact_sha256, status) VALUES ('later', '2025-01-19', '2025-01-18', "
                    "'f', '{}', 'c', 'x', 's', 'rejected')")
        cur.execute("INSERT INTO promotion_decisions (decided_for, challenger_id, promoted, reason) "
                    "VALUES ('2025-01-19', 'later', false, 'test')")
    out = subprocess.run([sys.executable, "-c", _RUN, str(DAGS_DIR), db], capture_output=True, text=True, timeout=120,
                         env={**__import__("os").environ, "CRYPTOLSTM_TRAIN_PROFILE": "tiny",
                              "AIRFLOW__CORE__LOAD_EXAMPLES": "False"})
    assert out.returncode == 0, out.stderr[-3000:]
    lines = [line for line in out.stdout.splitlines() if line.startswith(("RAISED", "RETURNED"))]
    assert len(lines) == 5, out.stdout[-3000:]
    # the one permanent-failure adapter (library_step) names the error's type before its message
    assert lines[0].startswith("RAISED AirflowFailException OutOfOrderWeek: the weekly run for the week ending "
                               "2025-01-12 comes after a decision recorded for 2025-01-19")
    assert "README, 'Backfill'" in lines[0]
    assert lines[1:3] == ["RETURNED 2025-01-12T00:00:00+00:00/2025-01-19T00:00:00+00:00",
                          "RETURNED 2025-01-19T00:00:00+00:00/2025-01-26T00:00:00+00:00"]
    assert lines[3:] == ["RAISED AirflowFailException OutOfOrderWeek: decided out of order",
                         "RAISED ConnectionError db blip"]  # a transient error is raised as is: Airflow retries it
