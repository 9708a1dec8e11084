"""The processes of one state folder's local stack: those its pid files name, those no pid file names (strays),
stopping a process group, and the lock that lets one `services up` or `down` work on a folder at a time."""

from __future__ import annotations

import fcntl
import os
import signal
import time
from contextlib import contextmanager
from pathlib import Path

import psutil

from cryptolstm.config import Settings
from cryptolstm.runtime import pidfile


def pid_file(settings: Settings, name: str) -> Path:
    return settings.airflow_home / "run" / f"{name}.pid"


def running(settings: Settings) -> dict[str, int]:
    """Managed processes whose pid file still names the process it recorded: {name: pid}.

    A pid file whose process is gone, or whose pid now belongs to another process (start time
    differs), is not trusted and is removed.
    """
    run_dir = settings.airflow_home / "run"
    alive = {}
    for f in sorted(run_dir.glob("*.pid")) if run_dir.is_dir() else []:
        pid = pidfile.read(f)
        if pid is not None:
            alive[f.stem] = pid
    return alive


@contextmanager
def state_lock(settings: Settings, log):
    """Hold the lock of this state folder: one `up` or `down` at a time, so two callers never start two stacks.

    The lock is an flock on <state_dir>/services.lock; the kernel drops it when its holder exits, so a
    crashed caller never leaves it held. A second caller waits, and says so.
    """
    settings.state_dir.mkdir(parents=True, exist_ok=True)
    with open(settings.state_dir / "services.lock", "a") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            log(f"another `services up` or `down` is working on {settings.state_dir}: waiting for it to finish")
            fcntl.flock(f, fcntl.LOCK_EX)
        yield  # closing the file releases the lock


def stop_group(pgid: int, name: str, grace: float, log) -> None:
    """TERM the process group, KILL it after `grace` s."""
    if pidfile.group_alive(pgid):
        pidfile.kill_group(pgid, signal.SIGTERM)
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline and pidfile.group_alive(pgid):
            time.sleep(0.2)
        if pidfile.group_alive(pgid):
            pidfile.kill_group(pgid, signal.SIGKILL)
            log(f"killed {name} (pid {pgid}) after {grace:.0f} s")
            return
    log(f"stopped {name} (pid {pgid})")


def strays(settings: Settings) -> list[psutil.Process]:
    """Processes of this state folder's Airflow stack that no pid file accounts for (e.g. a second stack
    started by an older version, or one whose pid files were removed), with their descendants.

    A process belongs to the stack if its environment has this AIRFLOW_HOME, or if it works in the Airflow
    home and its environment is blank (Airflow's process titles overwrite it: the api-server, the executor's
    workers). Accounted for: the process groups the pid files name and everything below them. Never a
    stray: this process and its ancestors, and the embedded PostgreSQL (it works in its data folder).
    """
    home, pg_dir = str(settings.airflow_home), os.path.realpath(settings.pg_dir)
    managed = set(running(settings).values())
    spared = {os.getpid(), *(p.pid for p in psutil.Process().parents())}
    found: dict[int, psutil.Process] = {}
    for proc in psutil.process_iter():
        try:
            env, cwd = proc.environ(), proc.cwd()
            ours = env.get("AIRFLOW_HOME") == home or (not env and cwd == home)
            if not ours or cwd == pg_dir or proc.pid in spared:
                continue
            if any(os.getpgid(p.pid) in managed for p in (proc, *proc.parents())):
                continue
            for p in (proc, *proc.children(recursive=True)):
                found.setdefault(p.pid, p)
        except (psutil.Error, ProcessLookupError):  # gone since the listing, or not ours to inspect
            continue
    return [p for pid, p in sorted(found.items()) if pid not in spared]
