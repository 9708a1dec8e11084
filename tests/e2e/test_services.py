"""The local runtime with the real services (replay mode): `services up` -> healthy, loopback only, supervised
(a killed service, a database blip and a stuck scheduler all come back), two `services up` at once make one
stack, the mode survives a restart, and `services down` leaves no process behind.

One runtime serves the module (starting Airflow costs ~30-60 s on 2 cores); the tests run in file order
and the last one stops and restarts it."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import smtplib
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from datetime import datetime, timezone
from pathlib import Path

import psutil
import pytest

from cryptolstm.config import Settings
from cryptolstm.environment import load_settings
from cryptolstm.runtime import embedded_pg, processes, services

pytestmark = pytest.mark.e2e
STUCK_AFTER_S = 60


def _processes_using(state_dir: Path) -> list[psutil.Process]:
    """Processes whose environment or command line points into this runtime's state folder."""
    found = []
    for p in psutil.process_iter(["pid", "cmdline"]):
        try:
            if p.pid == os.getpid():
                continue
            env = p.environ()
            if str(state_dir) in env.get("AIRFLOW_HOME", "") or str(state_dir) in " ".join(p.info["cmdline"] or []):
                found.append(p)
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
            continue
    return found


def _runtime_pids(settings: Settings) -> set[int]:
    """Every process of the runtime: the managed process groups and their members, plus PostgreSQL's."""
    groups = set(processes.running(settings).values())
    pids = {p.pid for p in _processes_using(settings.state_dir)}
    for p in psutil.process_iter(["pid"]):
        try:
            if os.getpgid(p.pid) in groups:
                pids.add(p.pid)
        except (ProcessLookupError, psutil.NoSuchProcess):
            continue
    return pids


def _wait(cond, timeout: float, poll: float = 1.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return True
        time.sleep(poll)
    return False


@pytest.fixture(scope="module")
def runtime(tmp_path_factory, shared_data, free_port):
    """A running local runtime replaying the shared candles; its settings come from the environment, so
    the `cryptolstm` CLI started by a test sees the same runtime."""
    tmp = tmp_path_factory.mktemp("runtime")
    env = {"CRYPTOLSTM_STATE_DIR": str(tmp / "state"), "CRYPTOLSTM_API_PORT": str(free_port()),
           "CRYPTOLSTM_SMTP_PORT": str(free_port()), "CRYPTOLSTM_STANDIN_PORT": str(free_port()),
           # a stuck service is restarted after 60 s without a heartbeat (Airflow calls it unhealthy after 30 s)
           "CRYPTOLSTM_HEARTBEAT_STALE_S": str(STUCK_AFTER_S), "CRYPTOLSTM_HEALTH_CHECK_S": "3",
           "CRYPTOLSTM_AUX_COINS": ""}  # the replayed folder holds the 9 served coins only
    with pytest.MonkeyPatch.context() as mp:
        for k in ("AIRFLOW_CONN_CRYPTOLSTM_DB", "CRYPTOLSTM_DSN", "AIRFLOW_CONN_SMTP_DEFAULT",
                  "CRYPTOLSTM_EXCHANGE_URL"):
            mp.delenv(k, raising=False)
        for k, v in env.items():
            mp.setenv(k, v)
        settings = load_settings()
        try:
            air_env = services.up(settings, wait=240, log=lambda *_: None, replay_dir=shared_data)
            yield settings, air_env
        finally:
            stopped = services.down(settings, log=lambda *_: None)
            embedded_pg.stop(settings)
            assert services.SUPERVISOR in stopped
            assert services.health(settings) is None
            leftovers = [p for p in _processes_using(settings.state_dir) if p.status() != psutil.STATUS_ZOMBIE]
            assert leftovers == [], [(p.pid, p.cmdline()) for p in leftovers]


def test_up_is_healthy_and_idempotent(runtime, shared_data):
    settings, env = runtime
    assert services.is_healthy(services.health(settings))
    assert set(processes.running(settings)) == {services.SUPERVISOR, services.STANDIN, services.MAIL, *services.SERVICES}
    smtp = json.loads(env["AIRFLOW_CONN_SMTP_DEFAULT"])
    assert smtp["port"] == settings.smtp_port and smtp["extra"]["disable_tls"] is True
    with smtplib.SMTP("127.0.0.1", settings.smtp_port, timeout=10) as client:
        client.sendmail("a@localhost", ["b@localhost"], "Subject: ping\n\nhello")
    assert any(b"Subject: ping" in f.read_bytes() for f in (settings.mail_dir / "new").iterdir())
    assert env["CRYPTOLSTM_EXCHANGE_URL"] == f"http://127.0.0.1:{settings.standin_port}"
    assert services.saved_mode(settings) == services.Mode(replay_dir=str(shared_data.resolve()),
                                                          standin_port=settings.standin_port)
    pids = processes.running(settings)
    services.up(settings, wait=30, log=lambda *_: None, replay_dir=shared_data)  # same mode: a no-op
    assert processes.running(settings) == pids


def test_every_port_listens_on_loopback_only(runtime):
    """Issue 12 §5: the scheduler's health server and the log servers listened on 0.0.0.0."""
    settings, env = runtime
    pids = _runtime_pids(settings)
    listening = [(c.laddr.ip, c.laddr.port, c.pid) for c in psutil.net_connections("inet")
                 if c.status == psutil.CONN_LISTEN and c.pid in pids]
    ports = {port for _, port, _ in listening}
    assert {settings.api_port, settings.smtp_port, settings.standin_port} <= ports, listening
    assert settings.api_port + 1 in ports  # the scheduler's health server: still served, on loopback
    assert [x for x in listening if x[0] != "127.0.0.1"] == []
    pw = Path(env["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE"])
    assert pw.stat().st_mode & 0o777 == 0o600


def test_forecasts_page_needs_login_and_reads_as_the_reader_role(runtime):
    """Issue 12 §5: the page answered anonymously, and locally it queried as the postgres superuser."""
    from cryptolstm.runtime.airflow_api import AirflowApi
    from cryptolstm.ui.dashboard import reader_dsn

    settings, env = runtime
    url = f"http://127.0.0.1:{settings.api_port}"
    for path in ("/api/v2/dags", "/cryptolstm/", "/cryptolstm/api/latest", "/cryptolstm/charts/live_accuracy.png"):
        with pytest.raises(urllib.error.HTTPError) as anonymous:
            urllib.request.urlopen(url + path, timeout=30)
        assert anonymous.value.code == 401, path
    login = services.UiLogin()
    token = AirflowApi(url, login.username, login.password).token()
    for auth in ({"Authorization": f"Bearer {token}"}, {"Cookie": f"_token={token}"}):
        with urllib.request.urlopen(urllib.request.Request(url + "/cryptolstm/api/latest", headers=auth),
                                    timeout=60) as r:
            assert r.status == 200 and "forecasts" in json.loads(r.read())
    # the api-server (its environment is the supervisor's: Airflow's setproctitle hides its own) has the
    # read-only role, and the page never falls back to another one
    supervisor = psutil.Process(processes.running(settings)[services.SUPERVISOR])
    assert "cryptolstm_reader" in reader_dsn(supervisor.environ()) and "cryptolstm_reader" in reader_dsn(env)


def test_a_killed_service_comes_back(runtime):
    settings, _ = runtime
    before = processes.running(settings)["scheduler"]
    os.killpg(before, signal.SIGKILL)
    assert _wait(lambda: processes.running(settings).get("scheduler") not in (None, before), 30), "not restarted"
    log = (settings.airflow_home / "logs" / "supervisor.log").read_text()
    assert "scheduler exited with code -9" in log
    assert _wait(lambda: services.is_healthy(services.health(settings)), 120)


def test_services_survive_a_database_blip(runtime):
    """Issue 12 §4: with PostgreSQL down for 25 s, scheduler, dag-processor and triggerer exited for good."""
    settings, _ = runtime
    embedded_pg.stop(settings)
    time.sleep(25)
    embedded_pg.start(settings)
    assert _wait(lambda: services.is_healthy(services.health(settings)), 180), services.health(settings)
    assert set(processes.running(settings)) >= {services.SUPERVISOR, *services.SERVICES}
    # and they stay up: healthy again a little later, still supervised
    time.sleep(10)
    assert services.is_healthy(services.health(settings)), services.health(settings)


def test_a_stuck_scheduler_is_restarted_and_a_run_then_completes(runtime):
    """Issue 20 §1: after a database outage the scheduler hung ("Shutting down LocalExecutor; waiting for running
    tasks to finish") without exiting: never restarted, the run stalled, and `services up` ended in a traceback."""
    from cryptolstm.config import DAILY_DAG_ID
    from cryptolstm.runtime.airflow_api import AirflowApi

    settings, _ = runtime
    login = services.UiLogin()
    api = AirflowApi(f"http://127.0.0.1:{settings.api_port}", login.username, login.password)
    api.wait_for_dag(DAILY_DAG_ID)
    api.set_paused(DAILY_DAG_ID, False)
    stuck = processes.running(settings)["scheduler"]
    os.killpg(stuck, signal.SIGSTOP)  # the scheduler and its executor's workers: running, and doing nothing
    try:
        # Airflow calls it unhealthy after 30 s; the supervisor restarts it after STUCK_AFTER_S
        assert _wait(lambda: (services.health(settings) or {}).get("scheduler", {}).get("status") == "unhealthy", 50)
        out = subprocess.run([sys.executable, "-m", "cryptolstm.cli", "services", "up", "--wait", "3"],
                             capture_output=True, text=True, timeout=60)
        assert out.returncode == 1 and len(out.stderr.splitlines()) == 1, out.stderr
        assert "scheduler unhealthy (last heartbeat " in out.stderr and "Traceback" not in out.stderr
        day = datetime(2025, 2, 10, tzinfo=timezone.utc)
        api.backfill(DAILY_DAG_ID, day, day, reprocess="none")  # queued behind the stuck scheduler
        assert _wait(lambda: processes.running(settings).get("scheduler") not in (None, stuck), 120), "not restarted"
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(stuck, signal.SIGCONT)  # (a no-op once it was killed)
    log = (settings.airflow_home / "logs" / "supervisor.log").read_text()
    assert f"scheduler (pid {stuck}) is stuck: its heartbeat in /api/v2/monitor/health is " in log
    assert f"s old (limit {STUCK_AFTER_S} s); killing its process group" in log
    assert "scheduler exited with code -9" in log
    run = api.wait_for_run(DAILY_DAG_ID, day, timeout=900)
    assert run["state"] == "success", run
    assert services.is_healthy(services.health(settings)), services.health(settings)


def test_two_services_up_at_once_leave_one_stack(runtime):
    """Issue 20 §2: two `services up` at once both returned 0, leaving 2 supervisors, 2 api-servers and 3
    schedulers; after `services down` the orphaned stack still answered on the API port."""
    settings, _ = runtime
    services.down(settings, log=lambda *_: None)
    cmd = [sys.executable, "-m", "cryptolstm.cli", "services", "up", "--wait", "240"]
    both = [subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) for _ in range(2)]
    outs = [p.communicate(timeout=400)[0] for p in both]
    assert [p.returncode for p in both] == [0, 0], outs
    assert sum(f"another `services up` or `down` is working on {settings.state_dir}" in o for o in outs) == 1, outs
    # every managed process leads its own process group (its helpers and workers are in it)
    leaders = [" ".join(p.cmdline()) for p in _processes_using(settings.state_dir) if os.getpgid(p.pid) == p.pid]
    for name in ("cryptolstm.runtime.supervisor", "airflow scheduler", "airflow dag-processor", "airflow triggerer"):
        assert sum(name in c for c in leaders) == 1, (name, leaders)
    out = subprocess.run([sys.executable, "-m", "cryptolstm.cli", "services", "down"], capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0, out.stdout + out.stderr
    with pytest.raises(OSError):  # nothing answers on the API port
        socket.create_connection(("127.0.0.1", settings.api_port), timeout=5).close()
    leftovers = [p for p in _processes_using(settings.state_dir)
                 if p.status() != psutil.STATUS_ZOMBIE and p.name() != "postgres"]
    assert leftovers == [], [(p.pid, p.cmdline()) for p in leftovers]


def test_services_up_after_a_replay_keeps_replay_mode(runtime, shared_data):
    """Issue 12 §4: `services up` restarted the stack without the stand-in, so a replay became live."""
    settings, _ = runtime
    services.down(settings, log=lambda *_: None)
    assert processes.running(settings) == {}
    out = subprocess.run([sys.executable, "-m", "cryptolstm.cli", "services", "up", "--wait", "240"],
                         capture_output=True, text=True, timeout=400)
    assert out.returncode == 0, out.stdout + out.stderr
    assert f"reusing the saved mode (replay of {shared_data.resolve()}" in out.stdout
    procs = processes.running(settings)
    assert services.STANDIN in procs
    sched_env = psutil.Process(procs["scheduler"]).environ()
    assert sched_env["CRYPTOLSTM_EXCHANGE_URL"] == f"http://127.0.0.1:{settings.standin_port}"
    assert sched_env["AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE"] == "False"  # no wall-clock runs on a replay
    status = subprocess.run([sys.executable, "-m", "cryptolstm.cli", "services", "status"],
                            capture_output=True, text=True, timeout=60)
    assert status.returncode == 0 and "replay of" in status.stdout


def test_cli_status_reports_down(tmp_path, free_port):
    env = {**os.environ, "CRYPTOLSTM_STATE_DIR": str(tmp_path / "s"), "CRYPTOLSTM_API_PORT": str(free_port())}
    out = subprocess.run([sys.executable, "-m", "cryptolstm.cli", "services", "status"], env=env,
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 1
    assert "not running" in out.stdout and "api-server not answering" in out.stdout
