"""The local runtime's process machinery without Airflow: pid files tied to a start time, the supervisor's
restarts with backoff, `down()` never signalling a process it did not start."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import pytest

from cryptolstm.config import Settings
from cryptolstm.runtime import pidfile, services


def _sleeper() -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"], start_new_session=True)


def _wait(cond, timeout: float = 20.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return True
        time.sleep(0.1)
    return False


def test_pid_file_is_trusted_only_while_the_start_time_matches(tmp_path):
    proc = _sleeper()
    try:
        f = tmp_path / "svc.pid"
        pidfile.write(f, proc.pid)
        assert pidfile.read(f) == proc.pid
        # the same pid, another start time: the number now names a different process (pid reuse)
        doc = json.loads(f.read_text())
        f.write_text(json.dumps({"pid": proc.pid, "start_time": doc["start_time"] - 1}))
        assert pidfile.read(f) is None and not f.exists()
        f.write_text(str(proc.pid))  # the old plain-pid format proves nothing either
        assert pidfile.read(f) is None and not f.exists()
    finally:
        proc.kill()
        proc.wait()
    pidfile.write(f, proc.pid)  # a dead process: recorded start time None, never trusted
    assert pidfile.read(f) is None


def test_down_does_not_signal_a_process_behind_a_stale_pid_file(tmp_path):
    settings = replace(Settings.from_env({}), state_dir=tmp_path / "state")
    stranger = _sleeper()  # stands for whatever process got the recorded pid after a reboot
    try:
        run = settings.airflow_home / "run"
        run.mkdir(parents=True)
        start = pidfile.start_time(stranger.pid)
        (run / "scheduler.pid").write_text(json.dumps({"pid": stranger.pid, "start_time": start + 12345}))
        assert services.running(settings) == {}
        assert services.down(settings, grace=1, log=lambda *_: None) == []
        time.sleep(0.3)
        assert stranger.poll() is None  # still alive: never signalled
        pidfile.write(run / "scheduler.pid", stranger.pid)  # the genuine record is trusted and stopped
        assert services.running(settings) == {"scheduler": stranger.pid}
        assert services.down(settings, grace=5, log=lambda *_: None) == ["scheduler"]
        assert stranger.wait(timeout=10) == -signal.SIGTERM
    finally:
        if stranger.poll() is None:
            stranger.kill()
            stranger.wait()


def test_supervisor_restarts_an_exited_process_with_backoff_and_logs_it(tmp_path):
    run, logs = tmp_path / "run", tmp_path / "logs"
    spec = tmp_path / "spec.json"
    spec.write_text(json.dumps({
        "run_dir": str(run), "log_dir": str(logs), "first_backoff": 0.2, "max_backoff": 0.8, "stable_after": 60,
        "grace": 5, "poll": 0.1,
        "children": [{"name": "steady", "argv": [sys.executable, "-c", "import time; time.sleep(120)"]},
                     {"name": "crashing", "argv": [sys.executable, "-c", "raise SystemExit(3)"]}]}))
    sup = subprocess.Popen([sys.executable, "-m", "cryptolstm.runtime.supervisor", str(spec)],
                           stdout=open(tmp_path / "supervisor.log", "wb"), stderr=subprocess.STDOUT,
                           start_new_session=True)
    try:
        assert _wait(lambda: pidfile.read(run / "steady.pid") is not None)
        first = pidfile.read(run / "steady.pid")
        os.kill(first, signal.SIGKILL)
        assert _wait(lambda: pidfile.read(run / "steady.pid") not in (None, first)), "not restarted"
        assert _wait(lambda: (tmp_path / "supervisor.log").read_text().count("crashing exited with code 3") >= 4)
    finally:
        sup.send_signal(signal.SIGTERM)
        assert sup.wait(timeout=20) == 0
    text = (tmp_path / "supervisor.log").read_text()
    assert "steady exited with code -9" in text and "restart #1" in text
    delays = [float(line.split("restarting in ")[1].split(" s")[0]) for line in text.splitlines()
              if "crashing exited" in line]
    assert delays[:4] == [0.2, 0.4, 0.8, 0.8]  # doubles on each quick exit, capped at max_backoff
    assert "all stopped" in text
    assert not pidfile.group_alive(pidfile.read(run / "steady.pid") or -1)
    assert list(run.glob("*.pid")) == []


@pytest.mark.parametrize("mode", [0o644, None])
def test_password_file_is_private(tmp_path, mode):
    settings = replace(Settings.from_env({}), state_dir=tmp_path / "state")
    pw = settings.airflow_home / "passwords.json"
    if mode is not None:  # a file left world-readable by an older version is tightened
        pw.parent.mkdir(parents=True)
        pw.write_text("{}")
        pw.chmod(mode)
    env = services.airflow_env(settings, "/nonexistent", base={})
    assert Path(env["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE"]) == pw
    for f in (pw, settings.airflow_home / "jwt_secret", settings.airflow_home / "api_secret"):
        assert f.stat().st_mode & 0o777 == 0o600, f
