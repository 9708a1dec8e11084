"""Pid files that are trusted only while they still name the same process.

A pid alone is not an identity: after a reboot (or enough forks) the number names another
process, and `services down` would signal a stranger. Each file therefore records the kernel's
start time of the process (field 22 of /proc/PID/stat, in clock ticks since boot) next to the pid,
and a file is believed only while that start time still matches.
"""

from __future__ import annotations

import json
import os
from pathlib import Path


def _stat(pid: int) -> list[str] | None:
    """Fields 3.. of /proc/PID/stat (state, ppid, pgrp, ...), or None if there is no such process."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    # The command name (field 2) is in parentheses and may contain spaces or ')': split after the last ')'.
    return stat[stat.rindex(")") + 2:].split()


def start_time(pid: int) -> int | None:
    """The start time of `pid` in clock ticks since boot; None if there is no such process or it is a zombie
    (exited, waiting for its parent to reap it: it runs nothing any more)."""
    fields = _stat(pid)
    if fields is None or fields[0] == "Z":
        return None
    return int(fields[19])  # field 22 overall; fields[0] is field 3 (state)


def group_alive(pgid: int) -> bool:
    """True while any live (non-zombie) process belongs to process group `pgid`."""
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            fields = _stat(int(entry.name))
            if fields is not None and fields[0] != "Z" and int(fields[2]) == pgid:
                return True
    return False


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
