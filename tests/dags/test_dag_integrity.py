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
        "upstream": {t.task_id: sorted(t.upstream_task_ids) for t in dag.tasks},
        "mapped": sorted(t.task_id for t in dag.tasks if getattr(t, "is_mapped", False)),
        "poke": {t.task_id: t.poke_interval for t in dag.tasks if hasattr(t, "poke_interval")},
    }
new = sorted(m.split(".")[0] for m in set(sys.modules) - before)
print(json.dumps({"errors": {k: str(v) for k, v in bag.import_errors.items()}, "dags": dags,
                  "seconds": seconds, "new_modules": sorted(set(new))}))
"""


SENSOR_POKE_S = 5  # parsed with CRYPTOLSTM_SENSOR_POKE_S=5 (production: 60)


def _parse(path: Path) -> dict:
    out = subprocess.run([sys.executable, "-c", _PARSE, str(path)], capture_output=True, text=True, timeout=120,
                         env={**__import__("os").environ, "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
                              "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS_DIR),
                              "CRYPTOLSTM_SENSOR_POKE_S": str(SENSOR_POKE_S)})
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


def test_weekly_training_is_fanned_out_one_task_per_member(parsed):
    """check_interval -> sync_candles -> prepare -> plan_members -> train_member (mapped: one per fold x member
    and per final-fit member), and prepare -> plan_baselines -> fit_baselines (mapped: one per fold) ->
    gather_members (also given the preparation) -> decide (after wait_for_daily) -> notify."""
    for dag_id, d in parsed["dags"].items():
        if dag_id == WEEKLY_DAG_ID:
            up = d["upstream"]
            assert sorted(d["mapped"]) == ["fit_baselines", "train_member"]
            assert up["prepare"] == ["sync_candles"] and up["sync_candles"] == ["check_interval"]
            assert up["plan_members"] == ["prepare"] and up["train_member"] == ["plan_members"]
            assert up["plan_baselines"] == ["prepare"] and up["fit_baselines"] == ["plan_baselines"]
            assert up["gather_members"] == ["fit_baselines", "prepare", "train_member"]
            assert up["decide"] == ["gather_members", "wait_for_daily"] and up["notify"] == ["decide"]


def test_the_sensors_poke_as_configured(parsed):
    """Each look of a waiting sensor is a task start; tests that wait on seconds of training look more often."""
    sensors = {dag_id: d["poke"] for dag_id, d in parsed["dags"].items()}
    assert sensors in ({"cryptolstm_daily": {"wait_for_weekly": SENSOR_POKE_S}},
                       {WEEKLY_DAG_ID: {"wait_for_daily": SENSOR_POKE_S}}), sensors


def test_scheduled_in_utc_intervals(parsed):
    for dag_id, d in parsed["dags"].items():
        assert d["timetable"] == "CronDataIntervalTimetable", f"{dag_id}: {d['timetable']}"


def test_parse_is_fast(parsed):
    assert parsed["seconds"] < 2.0, f"parse took {parsed['seconds']:.2f} s (benchmark target 0.3 s)"


def test_no_heavy_import_at_parse_time(parsed):
    heavy = [m for m in parsed["new_modules"] if m in HEAVY]
    assert heavy == [], f"parsing imported {heavy}; import them inside the tasks"


# A bad CRYPTOLSTM_* setting fails the tasks that read it, with the variable's name; never the DAG parse.
BAD_SETTING = {"CRYPTOLSTM_ALERT_TO": ", ,"}  # read at parse time until the recipients moved into the tasks
BAD_MESSAGE = "CRYPTOLSTM_ALERT_TO must be a comma-separated list with at least one item, got ', ,'"

_RUN_TASK = r"""
import importlib.util, json, sys
from pathlib import Path
import pendulum
sys.path.insert(0, str(Path(sys.argv[1]).parent))  # as Airflow does for its DAGs folder
spec = importlib.util.spec_from_file_location("dagfile", sys.argv[1])
mod = importlib.util.module_from_spec(spec)
spec.loader.exec_module(mod)
mod.dsn = lambda: "dbname=never_connected"  # the settings are loaded before any connection
dag = next(v for v in vars(mod).values() if type(v).__name__ == "DAG")
day = pendulum.datetime(2025, 1, 12, tz="UTC")
kwargs = {"alerts": {"data_interval_start": day}, "decide": {"trained": {"model_id": "m"}, "data_interval_end": day}}
task = dag.get_task(sys.argv[2])
try:
    task.python_callable(**kwargs[task.task_id])
    print(json.dumps({"raised": None}))
except Exception as exc:
    print(json.dumps({"raised": type(exc).__name__, "message": str(exc)}))
"""


@pytest.mark.parametrize("path", DAG_FILES, ids=[p.name for p in DAG_FILES])
def test_a_bad_setting_does_not_break_the_parse(path):
    # the poke interval IS read at parse time: a bad one keeps the production default there
    env = {**__import__("os").environ, **BAD_SETTING, "CRYPTOLSTM_SENSOR_POKE_S": "soon"}
    out = subprocess.run([sys.executable, "-c", _PARSE, str(path)], capture_output=True, text=True, timeout=120,
                         env={**env, "AIRFLOW__CORE__LOAD_EXAMPLES": "False", "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS_DIR)})
    assert out.returncode == 0, out.stderr[-3000:]
    parsed = json.loads(out.stdout.strip().splitlines()[-1])
    assert parsed["errors"] == {} and parsed["dags"]
    assert [p for d in parsed["dags"].values() for p in d["poke"].values()] == [60]


@pytest.mark.parametrize("dag_file, task_id", [("cryptolstm_daily.py", "alerts"), ("cryptolstm_weekly.py", "decide")])
def test_a_bad_setting_fails_the_task_naming_the_variable(dag_file, task_id):
    out = subprocess.run([sys.executable, "-c", _RUN_TASK, str(DAGS_DIR / dag_file), task_id], capture_output=True,
                         text=True, timeout=120, env={**__import__("os").environ, **BAD_SETTING,
                                                      "AIRFLOW__CORE__LOAD_EXAMPLES": "False"})
    assert out.returncode == 0, out.stderr[-3000:]
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result == {"raised": "SettingError", "message": BAD_MESSAGE}
