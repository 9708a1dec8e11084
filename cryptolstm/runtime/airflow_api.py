"""A small client of Airflow 3's public REST API (/api/v2): log in, unpause, backfill, wait for runs.

Used by `cryptolstm run` and the end-to-end tests. The CLI prints warnings on stdout, so its JSON
is not safely parseable; the REST API is the reliable way to drive and observe a running Airflow.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from datetime import datetime

FINISHED = ("success", "failed")
HEALTH_PATH = "/api/v2/monitor/health"  # public, no login: metadatabase, scheduler, dag_processor, triggerer


def health(base_url: str, timeout: float = 3.0) -> dict | None:
    """The api-server's health document (each component's status and latest heartbeat), or None if it
    does not answer."""
    try:
        with urllib.request.urlopen(base_url + HEALTH_PATH, timeout=timeout) as r:
            return json.loads(r.read())
    except (urllib.error.URLError, OSError, ValueError):
        return None


def heartbeat_age(doc: dict, component: str, now: float) -> float | None:
    """Seconds from `component`'s latest heartbeat in a health document to `now` (epoch s); None if it has none."""
    beat = (doc.get(component) or {}).get(f"latest_{component}_heartbeat")
    return None if beat is None else now - datetime.fromisoformat(beat).timestamp()


class AirflowApiError(RuntimeError):
    """A REST call that Airflow answered with an error status (`status`: the HTTP code)."""

    def __init__(self, message: str, status: int = 0):
        super().__init__(message)
        self.status = status


@dataclass
class AirflowApi:
    base_url: str  # e.g. http://127.0.0.1:8080
    username: str = "admin"
    password: str = "admin"
    _token: str | None = None

    def _call(self, method: str, path: str, body: dict | None = None, auth: bool = True):
        headers = {"Content-Type": "application/json"}
        if auth:
            headers["Authorization"] = f"Bearer {self.token()}"
        req = urllib.request.Request(self.base_url + path, method=method, headers=headers,
                                     data=json.dumps(body).encode() if body is not None else None)
        try:
            with urllib.request.urlopen(req, timeout=30) as r:
                raw = r.read()
        except urllib.error.HTTPError as e:
            raise AirflowApiError(f"{method} {path} -> {e.code}: {e.read()[:500].decode(errors='replace')}",
                                  e.code) from None
        return json.loads(raw) if raw else None

    def token(self) -> str:
        if self._token is None:
            doc = self._call("POST", "/auth/token", {"username": self.username, "password": self.password},
                             auth=False)
            self._token = doc["access_token"]
        return self._token

    def wait_for_dag(self, dag_id: str, timeout: float = 120.0) -> dict:
        """Wait until the dag-processor has parsed and stored `dag_id`."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                return self._call("GET", f"/api/v2/dags/{dag_id}")
            except AirflowApiError as exc:
                if exc.status != 404 or time.monotonic() > deadline:
                    raise
                time.sleep(1)

    def set_paused(self, dag_id: str, paused: bool) -> dict:
        return self._call("PATCH", f"/api/v2/dags/{dag_id}", {"is_paused": paused})

    def set_pool(self, name: str, slots: int, description: str) -> dict:
        """Create the pool or set its slots and description (idempotent)."""
        body = {"name": name, "slots": slots, "description": description, "include_deferred": False}
        try:
            return self._call("PATCH", f"/api/v2/pools/{urllib.parse.quote(name, safe='')}", body)
        except AirflowApiError as exc:
            if exc.status != 404:
                raise
        return self._call("POST", "/api/v2/pools", body)

    def backfill(self, dag_id: str, start: datetime, end: datetime, max_active_runs: int = 1,
                 reprocess: str = "completed") -> dict:
        """Create a backfill over logical dates [start, end]; the running scheduler executes it."""
        return self._call("POST", "/api/v2/backfills", {
            "dag_id": dag_id, "from_date": start.isoformat(), "to_date": end.isoformat(),
            "max_active_runs": max_active_runs, "reprocess_behavior": reprocess})

    def backfills(self, dag_id: str, active_only: bool = False) -> list[dict]:
        """Backfills of `dag_id`, oldest first; `active_only`: those not completed yet."""
        q = urllib.parse.urlencode({"dag_id": dag_id, "order_by": "id", "limit": 1000})
        found = self._call("GET", f"/api/v2/backfills?{q}")["backfills"]
        return [b for b in found if b["completed_at"] is None] if active_only else found

    def wait_for_backfill(self, backfill_id: int, timeout: float = 3600.0, poll: float = 3.0) -> dict:
        """Wait until a backfill has completed (every run it created finished, or it was cancelled)."""
        deadline = time.monotonic() + timeout
        while True:
            doc = self._call("GET", f"/api/v2/backfills/{backfill_id}")
            if doc["completed_at"] is not None:
                return doc
            if time.monotonic() > deadline:
                raise TimeoutError(f"backfill {backfill_id} of {doc['dag_id']} still running after {timeout:.0f} s")
            time.sleep(poll)

    def dag_runs(self, dag_id: str) -> list[dict]:
        q = urllib.parse.urlencode({"order_by": "logical_date", "limit": 1000})
        return self._call("GET", f"/api/v2/dags/{dag_id}/dagRuns?{q}")["dag_runs"]

    def task_instances(self, dag_id: str, run_id: str) -> list[dict]:
        """Every task instance of the run, mapped ones one per map index (read page by page: the API caps a page)."""
        rid = urllib.parse.quote(run_id, safe="")
        found: list[dict] = []
        while True:
            q = urllib.parse.urlencode({"limit": 100, "offset": len(found)})
            page = self._call("GET", f"/api/v2/dags/{dag_id}/dagRuns/{rid}/taskInstances?{q}")
            found += page["task_instances"]
            if not page["task_instances"] or len(found) >= page["total_entries"]:
                return found

    def tasks(self, dag_id: str) -> list[str]:
        """The task ids of the DAG as parsed (a mapped task once)."""
        return [t["task_id"] for t in self._call("GET", f"/api/v2/dags/{dag_id}/tasks")["tasks"]]

    def wait_for_runs(self, dag_id: str, count: int, timeout: float = 900.0, poll: float = 2.0,
                      log=None) -> list[dict]:
        """Wait until at least `count` runs of `dag_id` exist and all are finished; return them."""
        deadline = time.monotonic() + timeout
        last = None
        while True:
            runs = self.dag_runs(dag_id)
            states = [r["state"] for r in runs]
            if log and states != last:
                log(f"{dag_id}: " + ", ".join(f"{(r.get('logical_date') or '')[:10]} {r['state']}" for r in runs))
                last = states
            if len(runs) >= count and all(s in FINISHED for s in states):
                return runs
            if time.monotonic() > deadline:
                raise TimeoutError(f"{dag_id}: runs not finished after {timeout:.0f} s: {states}")
            time.sleep(poll)

    def wait_for_run(self, dag_id: str, logical_date: datetime, timeout: float = 900.0, poll: float = 3.0,
                     log=None) -> dict:
        """Wait until the run of `dag_id` at `logical_date` exists and has finished; return it."""
        deadline = time.monotonic() + timeout
        want, last = logical_date.isoformat()[:19], None
        while True:
            runs = [r for r in self.dag_runs(dag_id) if (r.get("logical_date") or "")[:19] == want]
            state = runs[-1]["state"] if runs else "not created yet"
            if log and state != last:
                log(f"  {dag_id} {want[:10]}: {state}")
                last = state
            if runs and state in FINISHED:
                return runs[-1]
            if time.monotonic() > deadline:
                raise TimeoutError(f"{dag_id} {want[:10]}: still {state} after {timeout:.0f} s")
            time.sleep(poll)
