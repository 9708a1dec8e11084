"""DAG integrity, per DAG file (in the spirit of Astronomer's template).

Each file is parsed in a fresh interpreter, as the dag-processor does, so we can check what the
parse imports and how long it takes without this test process's imports interfering.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from cryptolstm.config import WEEKLY_DAG_ID

DAGS_DIR = Path(__file__).resolve().parents[2] / "dags"
_IGNORED = {line.strip() for line in (DAGS_DIR / ".airflowignore").read_text().splitlines() if line.strip()}
DAG_FILES = sorted(p for p in DAGS_DIR.glob("*.py") if p.name not in _IGNORED)
HEAVY = ("tensorflow", "keras", "pandas", "ccxt", "sklearn")

_PARSE = r"""
import json, sys, time
from pathlib import Path
from airflow.dag_processing.dagbag import BundleDagBag
import airflow.sdk  # what every DAG file imports anyway; not charged to the file
before = set(sys.modules)
t0 = time.perf_counter()
bag = BundleDagBag(dag_folder=sys.argv[1], bundle_path=Path(sys.argv[1]).parent)  # as the dag-processor does
seconds = time.perf_counter() - t0
dags = {}
for dag_id, dag in bag.dags.items():
    dags[dag_id] = {
        "tags": sorted(dag.tags or []),
        "doc_md": bool(dag.doc_md and dag.doc_md.strip()),
        "retries": {t.task_id: t.retries for t in dag.tasks},
        "catchup": dag.catchup,
        "timetable": type(dag.timetable).__name__,
    }
new = sorted(m.split(".")[0] for m in set(sys.modules) - before)
print(json.dumps({"errors": {k: str(v) for k, v in bag.import_errors.items()}, "dags": dags,
                  "seconds": seconds, "new_modules": sorted(set(new))}))
"""


def _parse(path: Path) -> dict:
    out = subprocess.run([sys.executable, "-c", _PARSE, str(path)], capture_output=True, text=True, timeout=120,
                         env={**__import__("os").environ, "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
                              "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS_DIR)})
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module", params=DAG_FILES, ids=[p.name for p in DAG_FILES])
def parsed(request) -> dict:
    return _parse(request.param)


def test_there_are_dag_files():
    assert DAG_FILES, f"no DAG files in {DAGS_DIR}"


def test_no_import_errors(parsed):
    assert parsed["errors"] == {}
    assert parsed["dags"], "the file defines no DAG"


def test_tags_retries_and_docs(parsed):
    for dag_id, d in parsed["dags"].items():
        assert d["tags"], f"{dag_id} has no tags"
        assert d["doc_md"], f"{dag_id} has no doc_md (the UI doc)"
        assert all(r >= 1 for r in d["retries"].values()), f"{dag_id}: tasks without retries {d['retries']}"


def test_weekly_tasks_retry_at_least_twice(parsed):
    """A week's training is expensive to lose to one transient failure (a DB blip, a worker restart)."""
    for dag_id, d in parsed["dags"].items():
        if dag_id == WEEKLY_DAG_ID:
            assert all(r >= 2 for r in d["retries"].values()), f"{dag_id}: retries {d['retries']}"


def test_scheduled_in_utc_intervals(parsed):
    for dag_id, d in parsed["dags"].items():
        assert d["timetable"] == "CronDataIntervalTimetable", f"{dag_id}: {d['timetable']}"


def test_parse_is_fast(parsed):
    assert parsed["seconds"] < 2.0, f"parse took {parsed['seconds']:.2f} s (benchmark target 0.3 s)"


def test_no_heavy_import_at_parse_time(parsed):
    heavy = [m for m in parsed["new_modules"] if m in HEAVY]
    assert heavy == [], f"parsing imported {heavy}; import them inside the tasks"
