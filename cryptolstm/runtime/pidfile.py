"""Pid files that are trusted only while they still name the same process, and process-group signals.

A pid alone is not an identity: after a reboot (or enough forks) the number names another
process, and `services down` would signal a stranger. Each file therefore records the start time
of the process (seconds since boot, from psutil) next to the pid, and a file is believed only while
that start time still matches.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import psutil


def start_time(pid: int) -> float | None:
    """When `pid` started, in seconds since boot; None if there is no such process or it is a zombie
    (exited, waiting for its parent to reap it: it runs nothing any more)."""
    try:
        proc = psutil.Process(pid)
        if proc.status() == psutil.STATUS_ZOMBIE:
            return None
        # psutil reports the start as boot time + ticks since boot; the boot time moves when the wall clock
        # is stepped, the ticks never do. Rounded to the 10 ms tick: the subtraction leaves float noise.
        return round(proc.create_time() - psutil.boot_time(), 2)
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return None


def group_alive(pgid: int) -> bool:
    """True while any live (non-zombie) process belongs to process group `pgid`."""
    for proc in psutil.process_iter(["status"]):
        try:
            if proc.info["status"] != psutil.STATUS_ZOMBIE and os.getpgid(proc.pid) == pgid:
                return True
        except ProcessLookupError:  # exited since the listing
            continue
    return False


def kill_group(pgid: int, sig: int) -> None:
    """Send `sig` to every process of group `pgid`; a group already gone (or not ours) is not an error."""
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def write(path: Path, pid: int) -> None:
    """Record `pid` with its start time (written atomically: a reader never sees half a file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps({"pid": pid, "start_time": start_time(pid)}))
    os.replace(tmp, path)


def read(path: Path) -> int | None:
    """The recorded pid if that process is still the one recorded; otherwise None (and the stale file goes).

    A file without a start time (the old plain-pid format) is not trusted either: nothing proves the
    number still names our process.
    """
    try:
        doc = json.loads(path.read_text())
    except FileNotFoundError:
        return None
    except ValueError:
        doc = {}
    pid = doc.get("pid") if isinstance(doc, dict) else None
    if isinstance(pid, int) and doc.get("start_time") is not None and start_time(pid) == doc["start_time"]:
        return pid
    path.unlink(missing_ok=True)
    return None
