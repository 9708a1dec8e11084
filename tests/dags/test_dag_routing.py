"""Queues and pools of the DAG tasks (issue 13 §1): training and forecasting on the `train` queue in the
`tensorflow` pool, exchange calls in the `exchange` pool, everything else on the default queue."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from cryptolstm.config import (DAILY_DAG_ID, DEFAULT_QUEUE, EXCHANGE_POOL, POOL_SLOTS, TENSORFLOW_POOL, TRAIN_QUEUE,
                               WEEKLY_DAG_ID)

DAGS_DIR = Path(__file__).resolve().parents[2] / "dags"
_PARSE = r"""
import json, sys
from pathlib import Path
from airflow.dag_processing.dagbag import BundleDagBag
bag = BundleDagBag(dag_folder=sys.argv[1], bundle_path=Path(sys.argv[1]))
print(json.dumps({d: {t.task_id: [t.queue, t.pool] for t in dag.tasks} for d, dag in bag.dags.items()}))
"""


def test_tasks_are_routed_to_their_queue_and_pool():
    out = subprocess.run([sys.executable, "-c", _PARSE, str(DAGS_DIR)], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    routes = json.loads(out.stdout.strip().splitlines()[-1])
    train = {(DAILY_DAG_ID, "forecast"), (WEEKLY_DAG_ID, "train_member"), (WEEKLY_DAG_ID, "gather_members"),
             (WEEKLY_DAG_ID, "decide")}
    train_queue_only = {(WEEKLY_DAG_ID, "prepare")}  # builds the features: a train worker's memory, no model load
    exchange = {(DAILY_DAG_ID, "ingest"), (WEEKLY_DAG_ID, "sync_candles")}
    for dag_id, tasks in routes.items():
        for task_id, (queue, pool) in tasks.items():
            key = (dag_id, task_id)
            assert queue == (TRAIN_QUEUE if key in train | train_queue_only else DEFAULT_QUEUE), key
            want = TENSORFLOW_POOL if key in train else EXCHANGE_POOL if key in exchange else "default_pool"
            assert pool == want, key
    assert {k for k in train | train_queue_only | exchange} <= {(d, t) for d, tasks in routes.items() for t in tasks}
    assert set(POOL_SLOTS) == {EXCHANGE_POOL, TENSORFLOW_POOL} and all(v >= 1 for v in POOL_SLOTS.values())
