"""The DAGs' one translation of the permanent-failure protocol (`cryptolstm.errors`): `library_step` fails a task
at once on a `Permanent` error, skips it where the error says so or when the step found nothing to do, and lets
every other error through to Airflow's retries. Run in a fresh interpreter, as the DAG files are."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

DAGS_DIR = Path(__file__).resolve().parents[2] / "dags"
_RUN = r"""
import sys
sys.path.insert(0, sys.argv[1])
from cryptolstm_common import library_step
from cryptolstm import pipeline
from cryptolstm.serving.members import MembersMissing

def raising(error):
    def step():
        raise error
    return step

steps = [raising(MembersMissing("fold 0, member 1")), raising(ConnectionError("db blip")),
         raising(pipeline.ExchangeBanned("ban\nuntil noon", None, first=False, skip=True)),
         lambda: {"status": "expired", "message": "model too old"}, lambda: {"status": "ok"}]
for step in steps:
    try:
        print("RETURNED", library_step(step))
    except Exception as exc:
        print("RAISED", type(exc).__name__, exc)
"""


def test_permanent_errors_fail_or_skip_at_once_and_others_are_retried():
    out = subprocess.run([sys.executable, "-c", _RUN, str(DAGS_DIR)], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.splitlines() == ["RAISED AirflowFailException MembersMissing: fold 0, member 1",
                                       "RAISED ConnectionError db blip",
                                       "RAISED AirflowSkipException ExchangeBanned: ban until noon",
                                       "RAISED AirflowSkipException model too old",
                                       "RETURNED {'status': 'ok'}"]
