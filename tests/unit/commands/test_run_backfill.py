"""`cryptolstm run` when a backfill of the DAG is already running (issue 12 §4: a 409 traceback)."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from cryptolstm.commands import CommandError
from cryptolstm.commands.run import backfill
from cryptolstm.runtime.airflow_api import AirflowApiError

DAY = datetime(2025, 1, 12, tzinfo=timezone.utc)


class FakeApi:
    """Answers like Airflow: 409 while backfill 7 runs; `finishes` says whether waiting ends it."""

    def __init__(self, finishes: bool = True):
        self.running, self.finishes, self.calls = True, finishes, []

    def backfill(self, dag_id, start, end, reprocess):
        self.calls.append(("create", dag_id, reprocess))
        if self.running:
            raise AirflowApiError("POST /api/v2/backfills -> 409: There is already a running backfill", 409)

    def backfills(self, dag_id, active_only=False):
        return [{"id": 7, "from_date": "2025-01-05T00:00:00Z", "to_date": "2025-01-11T00:00:00Z",
                 "completed_at": None}] if self.running else []

    def wait_for_backfill(self, backfill_id, timeout):
        self.calls.append(("wait", backfill_id))
        if not self.finishes:
            raise TimeoutError(f"backfill {backfill_id} of d still running after {timeout:.0f} s")
        self.running = False


def test_waits_for_the_running_backfill_then_adds_its_own():
    api, lines = FakeApi(), []
    backfill(api, "cryptolstm_daily", DAY, DAY, timeout=5, log=lines.append)
    assert api.calls == [("create", "cryptolstm_daily", "none"), ("wait", 7), ("create", "cryptolstm_daily", "none")]
    assert len(lines) == 1 and "already running (id 7, 2025-01-05 .. 2025-01-11)" in lines[0]
    assert "cancel it" in lines[0]


def test_a_backfill_that_never_ends_is_one_clear_error():
    with pytest.raises(CommandError, match="still running.*cancel it in the Airflow UI"):
        backfill(FakeApi(finishes=False), "cryptolstm_daily", DAY, DAY, timeout=5, log=lambda *_: None)


def test_other_api_errors_are_not_swallowed():
    class Broken(FakeApi):
        def backfill(self, *a, **k):
            raise AirflowApiError("POST /api/v2/backfills -> 422: bad dates", 422)

    with pytest.raises(AirflowApiError, match="422"):
        backfill(Broken(), "cryptolstm_daily", DAY, DAY, timeout=5)
