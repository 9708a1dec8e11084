"""The local runtime's process machinery without Airflow: pid files tied to a start time, the supervisor's
restarts with backoff (after an exit, or a stale heartbeat in a health document served here), `down()` never
signalling a process it did not start but finding every process of its state folder, one `up` at a time."""

from __future__ import annotations

import fcntl
import http.server
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from dataclasses import asdict, replace
from datetime import datetime, timedelta, timezone
from pathlib import Path

import psutil
import pytest

from cryptolstm.environment import load_settings
from cryptolstm.runtime import pidfile, processes, services


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
    settings = replace(load_settings({}), state_dir=tmp_path / "state")
    stranger = _sleeper()  # stands for whatever process got the recorded pid after a reboot
    try:
        run = settings.airflow_home / "run"
        run.mkdir(parents=True)
        start = pidfile.start_time(stranger.pid)
        (run / "scheduler.pid").write_text(json.dumps({"pid": stranger.pid, "start_time": start + 12345}))
        assert processes.running(settings) == {}
        assert services.down(settings, grace=1, log=lambda *_: None) == []
        time.sleep(0.3)
        assert stranger.poll() is None  # still alive: never signalled
        pidfile.write(run / "scheduler.pid", stranger.pid)  # the genuine record is trusted and stopped
        assert processes.running(settings) == {"scheduler": stranger.pid}
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
        "children": [{"name": "steady", "argv": [sys.executable, "-c", "import time; time.sleep(120)"],
                      "env": {"CL_TEST_NAME": "steady"}},
                     {"name": "crashing", "argv": [sys.executable, "-c", "raise SystemExit(3)"]}]}))
    sup = subprocess.Popen([sys.executable, "-m", "cryptolstm.runtime.supervisor", str(spec)],
                           stdout=open(tmp_path / "supervisor.log", "wb"), stderr=subprocess.STDOUT,
                           start_new_session=True)
    try:
        assert _wait(lambda: pidfile.read(run / "steady.pid") is not None)
        first = pidfile.read(run / "steady.pid")
        # a child's own variables come on top of the supervisor's environment
        env = psutil.Process(first).environ()
        assert env["CL_TEST_NAME"] == "steady" and env["PATH"] == os.environ["PATH"]
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
    settings = replace(load_settings({}), state_dir=tmp_path / "state")
    pw = settings.airflow_home / "passwords.json"
    if mode is not None:  # a file left world-readable by an older version is tightened
        pw.parent.mkdir(parents=True)
        pw.write_text("{}")
        pw.chmod(mode)
    env = services.airflow_env(settings, "/nonexistent", base={})
    assert Path(env["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE"]) == pw
    for f in (pw, settings.airflow_home / "jwt_secret", settings.airflow_home / "api_secret"):
        assert f.stat().st_mode & 0o777 == 0o600, f


def _iso_ago(seconds: float) -> str:
    return (datetime.now(timezone.utc) - timedelta(seconds=seconds)).isoformat()


def _health_doc(scheduler_age: float, status: str = "healthy") -> dict:
    return {"metadatabase": {"status": "healthy"},
            "scheduler": {"status": status, "latest_scheduler_heartbeat": _iso_ago(scheduler_age)},
            "dag_processor": {"status": "healthy", "latest_dag_processor_heartbeat": _iso_ago(0.2)},
            "triggerer": {"status": "healthy", "latest_triggerer_heartbeat": _iso_ago(0.2)}}


@pytest.fixture
def fake_airflow_health():
    """An HTTP server answering /api/v2/monitor/health as Airflow's api-server does, with the scheduler's
    heartbeat `state["scheduler_age"]` seconds old at each request (a live one keeps beating)."""
    state = {"scheduler_age": 0.2, "status": "healthy"}

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            body = json.dumps(_health_doc(state["scheduler_age"], state["status"])).encode()
            self.send_response(200 if self.path == "/api/v2/monitor/health" else 404)
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    state["url"] = f"http://127.0.0.1:{server.server_address[1]}"
    yield state
    server.shutdown()


def test_supervisor_restarts_a_stuck_service_whose_heartbeat_is_stale(tmp_path, fake_airflow_health):
    """Issue 20 §1: a scheduler hung after a database outage never exited, so it was never restarted."""
    run, logs = tmp_path / "run", tmp_path / "logs"
    spec = tmp_path / "spec.json"
    sleeper = [sys.executable, "-c", "import time; time.sleep(120)"]
    spec.write_text(json.dumps({
        "run_dir": str(run), "log_dir": str(logs), "first_backoff": 0.2, "stable_after": 60, "grace": 5, "poll": 0.1,
        "children": [{"name": "scheduler", "argv": sleeper}, {"name": "dag-processor", "argv": sleeper}],
        "health": {"url": fake_airflow_health["url"], "stale_after": 2.0, "every": 0.2}}))
    sup = subprocess.Popen([sys.executable, "-m", "cryptolstm.runtime.supervisor", str(spec)],
                           stdout=open(tmp_path / "supervisor.log", "wb"), stderr=subprocess.STDOUT,
                           start_new_session=True)
    try:
        assert _wait(lambda: pidfile.read(run / "scheduler.pid") is not None)
        stuck, processor = pidfile.read(run / "scheduler.pid"), pidfile.read(run / "dag-processor.pid")
        time.sleep(3)  # fresh heartbeats: nothing is restarted
        assert pidfile.read(run / "scheduler.pid") == stuck
        os.killpg(stuck, signal.SIGSTOP)  # it still runs, it exits never: only its heartbeat tells
        fake_airflow_health.update(scheduler_age=95, status="unhealthy")
        assert _wait(lambda: pidfile.read(run / "scheduler.pid") not in (None, stuck)), "the stuck one stays"
        fake_airflow_health.update(scheduler_age=0.2, status="healthy")  # the new one heartbeats
        time.sleep(3)
    finally:
        sup.send_signal(signal.SIGTERM)
        assert sup.wait(timeout=20) == 0
    text = (tmp_path / "supervisor.log").read_text()
    assert re.search(rf"scheduler \(pid {stuck}\) is stuck: its heartbeat in /api/v2/monitor/health is 9\d s old "
                     r"\(limit 2 s\); killing its process group", text), text
    assert "scheduler exited with code -9" in text and text.count("is stuck") == 1
    assert "dag-processor exited" not in text and not pidfile.group_alive(processor)


def test_stale_heartbeats_are_not_judged_while_the_database_is_down():
    from cryptolstm.runtime.supervisor import stale_heartbeats

    now = time.time()
    assert stale_heartbeats(_health_doc(scheduler_age=95), now, 60).keys() == {"scheduler"}
    assert stale_heartbeats(_health_doc(scheduler_age=30), now, 60) == {}
    assert stale_heartbeats({**_health_doc(scheduler_age=95), "metadatabase": {"status": "unhealthy"}}, now, 60) == {}
    assert stale_heartbeats(None, now, 60) == {}


def test_up_on_a_running_but_unhealthy_stack_says_which_service_in_one_line(tmp_path, monkeypatch, capsys,
                                                                           free_port):
    """Issue 20 §1: `services up` on a stack whose scheduler hung ended in a RuntimeError traceback."""
    from cryptolstm import cli
    from cryptolstm.runtime import embedded_pg

    for k in ("AIRFLOW_CONN_CRYPTOLSTM_DB", "CRYPTOLSTM_DSN", "CRYPTOLSTM_EXCHANGE_URL"):
        monkeypatch.delenv(k, raising=False)
    monkeypatch.setenv("CRYPTOLSTM_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("CRYPTOLSTM_API_PORT", str(free_port()))
    monkeypatch.setenv("AIRFLOW_CONN_SMTP_DEFAULT", '{"conn_type": "smtp", "host": "mail.example.test"}')
    settings = load_settings()
    # a running stack (its supervisor) in the saved live mode, whose api-server reports a stuck scheduler;
    # the embedded database is not needed to get there
    supervisor = _sleeper()
    try:
        pidfile.write(settings.airflow_home / "run" / "supervisor.pid", supervisor.pid)
        source = {"mode": asdict(services.Mode()),
                  **{k: v for k, v in sorted(os.environ.items()) if k.startswith("CRYPTOLSTM_")}}
        (settings.airflow_home / "run" / "source.json").write_text(json.dumps(source))
        dsns = {"forecast": "postgresql:///f", "airflow": "postgresql:///a"}
        monkeypatch.setattr(embedded_pg, "start", lambda s: dsns)
        monkeypatch.setattr(embedded_pg, "socket_dir", lambda pg_dir: tmp_path)
        monkeypatch.setattr(services, "health", lambda s, timeout=3.0: _health_doc(95, status="unhealthy"))
        assert cli.main(["services", "up", "--wait", "1"]) == 1
    finally:
        supervisor.kill()
        supervisor.wait()
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1, err
    assert err.startswith(f"error: not ready after 1 s: Airflow: http://127.0.0.1:{settings.api_port}: "
                          "scheduler unhealthy (last heartbeat 9")
    assert err.rstrip().endswith(f"s ago); see {settings.airflow_home / 'logs' / 'supervisor.log'}")


def test_a_second_caller_waits_for_the_state_folder_lock_and_says_so(tmp_path):
    """Issue 20 §2: two `services up` at once both started a stack; now one waits for the other."""
    settings = replace(load_settings({}), state_dir=tmp_path / "state")
    settings.state_dir.mkdir(parents=True)
    said, done = [], threading.Event()
    with open(settings.state_dir / "services.lock", "a") as held:  # what a running `services up` holds
        fcntl.flock(held, fcntl.LOCK_EX)
        waiter = threading.Thread(target=lambda: (services.down(settings, grace=1, log=said.append), done.set()))
        waiter.start()
        assert _wait(lambda: said, 10)
        assert said[0] == (f"another `services up` or `down` is working on {settings.state_dir}: "
                           "waiting for it to finish")
        time.sleep(0.5)
        assert not done.is_set()
    waiter.join(10)
    assert done.is_set()


@pytest.mark.parametrize("titled", [False, True])
def test_down_and_status_see_a_process_of_the_state_folder_no_pid_file_names(tmp_path, monkeypatch, capsys,
                                                                             free_port, titled):
    """Issue 20 §2: after `services down`, `status` said "not running" while an orphaned stack still answered.

    `titled`: a process whose environment Airflow's process title overwrote (blank), working in the Airflow home.
    """
    from cryptolstm import cli

    monkeypatch.setenv("CRYPTOLSTM_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("CRYPTOLSTM_API_PORT", str(free_port()))
    settings = load_settings()
    settings.airflow_home.mkdir(parents=True)
    env = {} if titled else {**os.environ, "AIRFLOW_HOME": str(settings.airflow_home)}
    orphan = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"], env=env,
                              cwd=settings.airflow_home, start_new_session=True)
    bystander = _sleeper()  # same user, another folder: never touched
    try:
        assert _wait(lambda: psutil.Process(orphan.pid).cwd() == str(settings.airflow_home), 10)
        assert cli.main(["services", "status"]) == 1
        assert f"stray          pid {orphan.pid} " in capsys.readouterr().out
        assert services.down(settings, grace=5, log=lambda *_: None) == [f"pid {orphan.pid}"]
        assert orphan.wait(timeout=10) == -signal.SIGTERM
        assert bystander.poll() is None
    finally:
        for p in (orphan, bystander):
            if p.poll() is None:
                p.kill()
                p.wait()


def test_each_celery_worker_records_its_own_name_as_its_tasks_host(tmp_path, monkeypatch):
    """The workers share one machine: Airflow's hostname_callable gives each its name, so a task instance's
    `hostname` in the REST API says which worker ran it (bench-engine reads it there)."""
    import importlib

    settings = replace(load_settings({}), state_dir=tmp_path / "state")
    kids = services._children(settings, services.Mode(executor="celery", workers=2), mail=False)
    workers = [k for k in kids if k["name"].startswith(services.WORKER)]
    assert [k["env"][services.WORKER_NAME_VAR] for k in workers] == ["celery-worker-1", "celery-worker-2"]
    assert all("env" not in k for k in kids if k not in workers)
    module, _, name = workers[1]["env"]["AIRFLOW__CORE__HOSTNAME_CALLABLE"].rpartition(".")  # "package.function"
    hostname = getattr(importlib.import_module(module), name)
    monkeypatch.setenv(services.WORKER_NAME_VAR, "celery-worker-2")
    assert re.fullmatch(r"celery-worker-2@\S+", hostname())
    monkeypatch.delenv(services.WORKER_NAME_VAR)
    assert "@" not in hostname()  # outside a local worker: the host alone, as Airflow's default


def test_the_celery_result_backend_and_the_metadata_db_are_urls_sqlalchemy_loads(tmp_path):
    """The Celery result backend is the metadata database behind celery's `db+` prefix. When the metadata URL
    became a whole SQLAlchemy URL, `"db+postgresql" + url` made 'postgresqlpostgresql+psycopg2': every Celery
    worker and the scheduler exited at start (restarted 30 times in the Celery e2e test)."""
    from sqlalchemy.engine import make_url

    settings = replace(load_settings({}), state_dir=tmp_path / "state")
    env = services.airflow_env(settings, "/sock", base={}, mode=services.Mode(executor="celery", workers=2))
    backend = env["AIRFLOW__CELERY__RESULT_BACKEND"]
    assert backend.startswith("db+")
    for url in (backend[len("db+"):], env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"]):
        u = make_url(url)
        assert (u.get_backend_name(), u.database, u.query.get("host")) == ("postgresql", settings.airflow_db, "/sock")
        assert u.get_dialect().driver == "psycopg2"  # the dialect loads
