"""Run one DAG file's DAG with dag.test() for one logical date; print the task states as JSON.

Used by test_dag_runs.py in a child process, so each run gets its own Airflow configuration (the
environment) and the test process never imports Airflow settings or TensorFlow.

    python run_dag.py dags/cryptolstm_daily.py 2025-01-13
    python run_dag.py dags/cryptolstm_daily.py none      # a run without a logical date (no data interval)
"""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pendulum


def main(path: str, day: str) -> None:
    sys.path.insert(0, str(Path(path).resolve().parent))  # as Airflow does for its DAGs folder
    spec = importlib.util.spec_from_file_location("dagfile", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    dag = next(v for v in vars(mod).values() if type(v).__name__ == "DAG")
    dr = dag.test(logical_date=None if day == "none" else pendulum.parse(day, tz="UTC"))
    states, names = {}, {}
    for ti in dr.get_task_instances():
        key = ti.task_id if ti.map_index < 0 else f"{ti.task_id}[{ti.map_index}]"
        states[key] = str(ti.state)
        if ti.map_index >= 0:  # the name the UI shows for a mapped task (its map_index_template, rendered)
            names[key] = ti.rendered_map_index
    print("RESULT " + json.dumps({"run_id": dr.run_id, "state": str(dr.state), "tasks": states, "map_names": names}))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
