"""The local runtime's supervisor: starts every managed process, restarts one that exits, stops them all.

`services up` writes a spec (run/supervisor.json: one name and argv per process, and the variables a process
gets on top of the supervisor's environment) and starts
`python -m cryptolstm.runtime.supervisor SPEC` in its own session; the supervisor starts each
process in its own session too, records it in run/<name>.pid (with its start time, see pidfile) and
watches it. A process that exits while it should run is restarted after a delay that doubles on
each quick exit (1 s, 2 s, 4 s ... up to `max_backoff`) and falls back to the first delay once a
process has stayed up `stable_after` seconds. This is what keeps the stack alive through a database
blip: Airflow's scheduler, dag-processor and triggerer exit when the metadata DB goes away and come
back once it answers again. Every start, exit and restart is a line in logs/supervisor.log.

A service can also hang without exiting: after a database outage the scheduler was seen waiting forever
in "Shutting down LocalExecutor; waiting for running tasks to finish". With a `health` entry in the
spec, the supervisor therefore reads Airflow's health endpoint every `every` seconds and kills the
process group of a scheduler, dag-processor or triggerer whose heartbeat there is older than
`stale_after` seconds (it is then restarted like any exited process).

SIGTERM (or SIGINT) stops everything: TERM to each process group, KILL after `grace` seconds.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from cryptolstm.runtime import airflow_api, pidfile

# The components of Airflow's health document that heartbeat, and the supervised process behind each.
HEARTBEATS = {"scheduler": "scheduler", "dag_processor": "dag-processor", "triggerer": "triggerer"}


@dataclass
class Child:
    name: str
    argv: list[str]
    env: dict[str, str] = field(default_factory=dict)  # on top of the supervisor's environment
    proc: subprocess.Popen | None = None
    started: float = 0.0  # monotonic time of the last start
    restarts: int = 0
    backoff: float = 0.0  # delay before the next start after a quick exit
    next_start: float = 0.0  # monotonic time at which a dead child may be started again


def _log(msg: str) -> None:
    print(f"{time.strftime('%Y-%m-%dT%H:%M:%S%z')} supervisor: {msg}", flush=True)


def stale_heartbeats(doc: dict | None, now: float, stale_after: float) -> dict[str, float]:
    """{supervised process: heartbeat age in s} for each heartbeat in the health document `doc` older than
    `stale_after` at `now` (epoch s). Nothing is judged while the metadata database is unhealthy (no
    heartbeat can be written then) or the api-server does not answer (`doc` None)."""
    if not doc or doc.get("metadatabase", {}).get("status") != "healthy":
        return {}
    ages = {name: airflow_api.heartbeat_age(doc, component, now) for component, name in HEARTBEATS.items()}
    return {name: age for name, age in ages.items() if age is not None and age > stale_after}


class Supervisor:
    def __init__(self, spec: dict):
        self.run_dir = Path(spec["run_dir"])
        self.log_dir = Path(spec["log_dir"])
        self.cwd = spec.get("cwd") or str(self.run_dir)
        self.first_backoff = float(spec.get("first_backoff", 1.0))
        self.max_backoff = float(spec.get("max_backoff", 30.0))
        self.stable_after = float(spec.get("stable_after", 60.0))
        self.grace = float(spec.get("grace", 20.0))
        self.poll = float(spec.get("poll", 0.5))
        self.children = [Child(c["name"], list(c["argv"]), dict(c.get("env", {}))) for c in spec["children"]]
        self.health = spec.get("health")  # {"url", "stale_after", "every"}; None: exits are the only signal
        self.next_health_check = 0.0
        self.stopping = False

    def _start(self, child: Child) -> None:
        out = open(self.log_dir / f"{child.name}.log", "ab")
        try:
            child.proc = subprocess.Popen(child.argv, stdout=out, stderr=subprocess.STDOUT,
                                          stdin=subprocess.DEVNULL, start_new_session=True, cwd=self.cwd,
                                          env={**os.environ, **child.env} if child.env else None)
        finally:
            out.close()  # the child has its own copy of the descriptor
        child.started = time.monotonic()
        pidfile.write(self.run_dir / f"{child.name}.pid", child.proc.pid)
        _log(f"started {child.name} (pid {child.proc.pid})"
             + (f", restart #{child.restarts}" if child.restarts else ""))

    def _reap(self, child: Child, now: float) -> None:
        """A child exited: schedule its restart with backoff."""
        code, up_for = child.proc.returncode, now - child.started
        (self.run_dir / f"{child.name}.pid").unlink(missing_ok=True)
        pidfile.kill_group(child.proc.pid, signal.SIGKILL)  # helpers it forked (e.g. log or health servers) go too
        child.proc = None
        if up_for >= self.stable_after:
            child.backoff = self.first_backoff
        else:
            child.backoff = min(self.max_backoff, child.backoff * 2 if child.backoff else self.first_backoff)
        child.restarts += 1
        child.next_start = now + child.backoff
        _log(f"{child.name} exited with code {code} after {up_for:.1f} s; "
             f"restarting in {child.backoff:g} s (restart #{child.restarts})")

    def _restart_stuck(self, now: float) -> None:
        """Kill the process group of each service whose heartbeat is stale; the loop then restarts it."""
        self.next_health_check = now + float(self.health["every"])
        limit = float(self.health["stale_after"])
        stale = stale_heartbeats(airflow_api.health(self.health["url"]), time.time(), limit)
        for child in self.children:
            # a process started less than `limit` ago may not have written a heartbeat of its own yet
            if child.name in stale and child.proc is not None and now - child.started >= limit:
                _log(f"{child.name} (pid {child.proc.pid}) is stuck: its heartbeat in {airflow_api.HEALTH_PATH} "
                     f"is {stale[child.name]:.0f} s old (limit {limit:g} s); killing its process group")
                pidfile.kill_group(child.proc.pid, signal.SIGKILL)  # a stuck process may never act on SIGTERM

    def run(self) -> int:
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: setattr(self, "stopping", True))
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.run_dir.mkdir(parents=True, exist_ok=True)
        _log(f"supervising {', '.join(c.name for c in self.children)} (pid {os.getpid()})")
        while not self.stopping:
            now = time.monotonic()
            for child in self.children:
                if child.proc is not None and child.proc.poll() is not None:
                    self._reap(child, now)
                if child.proc is None and now >= child.next_start and not self.stopping:
                    try:
                        self._start(child)
                    except OSError as exc:  # e.g. the executable vanished: retry with backoff, say why
                        child.restarts += 1
                        child.backoff = min(self.max_backoff, (child.backoff or self.first_backoff) * 2)
                        child.next_start = now + child.backoff
                        _log(f"cannot start {child.name}: {exc}; retrying in {child.backoff:g} s")
            if self.health and now >= self.next_health_check and not self.stopping:
                self._restart_stuck(now)
            time.sleep(self.poll)
        self.stop()
        return 0

    def stop(self) -> None:
        live = [c for c in self.children if c.proc is not None and c.proc.poll() is None]
        for child in live:
            pidfile.kill_group(child.proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + self.grace
        for child in live:
            while time.monotonic() < deadline and pidfile.group_alive(child.proc.pid):
                child.proc.poll()
                time.sleep(0.2)
            if pidfile.group_alive(child.proc.pid):
                pidfile.kill_group(child.proc.pid, signal.SIGKILL)
                _log(f"killed {child.name} (pid {child.proc.pid}) after {self.grace:.0f} s")
            else:
                _log(f"stopped {child.name} (pid {child.proc.pid})")
            child.proc.poll()
        for child in self.children:
            (self.run_dir / f"{child.name}.pid").unlink(missing_ok=True)
        _log("all stopped")


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1:
        print("usage: python -m cryptolstm.runtime.supervisor SPEC.json", file=sys.stderr)
        return 2
    return Supervisor(json.loads(Path(argv[0]).read_text())).run()


if __name__ == "__main__":
    sys.exit(main())
