"""The local Airflow 3 runtime: api-server, scheduler, dag-processor and triggerer on the embedded PostgreSQL.

Each service runs in its own session (`setsid`), so `down()` can stop the whole process group —
the service and every task process it forked — and leave nothing behind. Configuration is by
environment variables only (`airflow_env`), so the same values reach every component.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from cryptolstm.config import PROJECT_ROOT, Settings, make_dsn

SERVICES = ("api-server", "scheduler", "dag-processor", "triggerer")
STANDIN = "standin"  # the exchange stand-in replaying a CSV folder, managed like a service in replay mode
MAIL = "smtp-sink"  # local SMTP server writing alert emails to a Maildir, when no smtp_default is configured
MANAGED = (*SERVICES, STANDIN, MAIL)
HEALTH_COMPONENTS = ("metadatabase", "scheduler", "dag_processor", "triggerer")


@dataclass(frozen=True)
class UiLogin:
    username: str = "admin"  # simple auth manager user with the admin role
    password: str = "admin"  # local only: the api-server binds 127.0.0.1


def _secret(path: Path, nbytes: int) -> str:
    """A secret created once and kept in the state folder, so restarts keep sessions and tokens valid."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_urlsafe(nbytes))
        path.chmod(0o600)
    return path.read_text().strip()


def airflow_env(settings: Settings, socket_dir: str, login: UiLogin = UiLogin(),
                base: dict[str, str] | None = None) -> dict[str, str]:
    """Environment for every Airflow process of the local runtime (and `airflow` CLI calls)."""
    home = settings.airflow_home
    env = dict(os.environ if base is None else base)
    url = f"http://127.0.0.1:{settings.api_port}"
    pw_file = home / "passwords.json"
    env.update({
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN":
            "postgresql+psycopg2" + make_dsn(host=socket_dir, dbname=settings.airflow_db)[len("postgresql"):],
        "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
        "AIRFLOW__CORE__DAGS_FOLDER": str(PROJECT_ROOT / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(PROJECT_ROOT / "plugins"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        # Each TF task peaks near 0.9 GB and the machine has 2 cores: run few tasks at once.
        "AIRFLOW__CORE__PARALLELISM": env.get("AIRFLOW__CORE__PARALLELISM", "4"),
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{url}/execution/",
        "AIRFLOW__API__HOST": "127.0.0.1",
        "AIRFLOW__API__PORT": str(settings.api_port),
        "AIRFLOW__API__BASE_URL": url,
        "AIRFLOW__API_AUTH__JWT_SECRET": _secret(home / "jwt_secret", 64),
        "AIRFLOW__API__SECRET_KEY": _secret(home / "api_secret", 32),
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{login.username}:admin",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(pw_file),
        "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(home / "logs"),
        # Log servers next to the api port, so two local runtimes (e.g. tests) do not fight over 8793/8794.
        "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(settings.api_port + 1),
        "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(settings.api_port + 2),
        "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": env.get("AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL", "10"),
        "AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK": "True",
    })
    # The forecasting database: an explicit connection wins; otherwise the embedded server.
    env.setdefault("AIRFLOW_CONN_CRYPTOLSTM_DB", json.dumps({
        "conn_type": "postgres", "host": socket_dir, "login": "postgres", "schema": settings.forecast_db}))
    pw_file.parent.mkdir(parents=True, exist_ok=True)
    pw_file.write_text(json.dumps({login.username: login.password}))
    return env


def _pid_file(settings: Settings, service: str) -> Path:
    return settings.airflow_home / "run" / f"{service}.pid"


def running(settings: Settings) -> dict[str, int]:
    """Services whose recorded process group still has a live leader: {service: pid}."""
    alive = {}
    for service in MANAGED:
        f = _pid_file(settings, service)
        if f.exists():
            pid = int(f.read_text())
            try:
                os.kill(pid, 0)
                alive[service] = pid
            except ProcessLookupError:
                f.unlink()
    return alive


def health(settings: Settings, timeout: float = 3.0) -> dict | None:
    """The api-server's /api/v2/monitor/health document, or None if it does not answer."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{settings.api_port}/api/v2/monitor/health",
                                    timeout=timeout) as r:
            return json.loads(r.read())
    except (urllib.error.URLError, OSError, ValueError):
        return None


def is_healthy(doc: dict | None) -> bool:
    return bool(doc) and all(doc.get(c, {}).get("status") == "healthy" for c in HEALTH_COMPONENTS)


def airflow_cli(env: dict[str, str], *args: str, check: bool = True) -> subprocess.CompletedProcess:
    """Run the `airflow` CLI of this venv with the runtime's environment."""
    exe = Path(sys.executable).with_name("airflow")
    return subprocess.run([str(exe), *args], env=env, check=check, capture_output=True, text=True)


def _spawn(settings: Settings, name: str, argv: list[str], env: dict[str, str]) -> int:
    """Start one managed process in its own session, output to logs/<name>.log, pid to run/<name>.pid."""
    (settings.airflow_home / "run").mkdir(parents=True, exist_ok=True)
    (settings.airflow_home / "logs").mkdir(parents=True, exist_ok=True)
    out = open(settings.airflow_home / "logs" / f"{name}.log", "ab")
    proc = subprocess.Popen(argv, env=env, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                            start_new_session=True, cwd=str(settings.airflow_home))
    _pid_file(settings, name).write_text(str(proc.pid))
    return proc.pid


def _start_standin(settings: Settings, replay_dir: Path, port: int, log) -> str:
    """Run the exchange stand-in over `replay_dir`; its clock follows each request (no future leaks)."""
    url = f"http://127.0.0.1:{port}"
    argv = [sys.executable, "-m", "cryptolstm.cli", "standin", "--data", str(replay_dir.resolve()),
            "--port", str(port), "--follow"]
    pid = _spawn(settings, STANDIN, argv, dict(os.environ))
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(f"{url}/api/v3/ping", timeout=2).read()
            log(f"started the exchange stand-in (pid {pid}) replaying {replay_dir} at {url}")
            return url
        except (urllib.error.URLError, OSError):
            if STANDIN not in running(settings):
                raise RuntimeError(f"the stand-in exited; see {settings.airflow_home / 'logs' / 'standin.log'}")
            time.sleep(0.3)
    raise RuntimeError(f"the stand-in did not answer at {url} within 30 s")


def _start_mail_sink(settings: Settings, log) -> dict[str, str]:
    """A local SMTP server (aiosmtpd) that stores every alert email in <state_dir>/mail (a Maildir)."""
    import socket

    if MAIL not in running(settings):
        settings.mail_dir.parent.mkdir(parents=True, exist_ok=True)  # aiosmtpd creates the Maildir itself
        argv = [sys.executable, "-m", "aiosmtpd", "-n", "-l", f"127.0.0.1:{settings.smtp_port}",
                "-c", "aiosmtpd.handlers.Mailbox", str(settings.mail_dir)]
        pid = _spawn(settings, MAIL, argv, dict(os.environ))
        deadline = time.monotonic() + 15
        while True:
            try:
                socket.create_connection(("127.0.0.1", settings.smtp_port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline or MAIL not in running(settings):
                    raise RuntimeError(f"the SMTP sink did not start; see {settings.airflow_home / 'logs'}")
                time.sleep(0.2)
        log(f"started the SMTP sink (pid {pid}): alert emails go to {settings.mail_dir}")
    # Real JSON booleans: the string "false" would count as true.
    return {"AIRFLOW_CONN_SMTP_DEFAULT": json.dumps({
        "conn_type": "smtp", "host": "127.0.0.1", "port": settings.smtp_port,
        "extra": {"disable_tls": True, "disable_ssl": True, "from_email": "cryptolstm@localhost",
                  "retry_limit": 0, "timeout": 10}})}


def up(settings: Settings, wait: float = 180.0, log=print, replay_dir: Path | None = None,
       standin_port: int | None = None) -> dict[str, str]:
    """Start the embedded PostgreSQL and the four Airflow services; wait until healthy. Idempotent.

    With `replay_dir`, the exchange is the local stand-in replaying that CSV folder, and every
    Airflow process gets CRYPTOLSTM_EXCHANGE_URL pointing at it. Running services whose source differs
    from the one asked for are restarted, so a run never mixes live and replayed candles.
    """
    from cryptolstm.runtime import embedded_pg
    from cryptolstm import storage

    dsns = embedded_pg.start(settings)
    sock = str(embedded_pg.socket_dir(settings.pg_dir))
    source = {"replay_dir": str(replay_dir.resolve()) if replay_dir else None,
              **{k: v for k, v in sorted(os.environ.items()) if k.startswith("CRYPTOLSTM_")}}
    source_file = settings.airflow_home / "run" / "source.json"
    if running(settings) and (not source_file.exists() or json.loads(source_file.read_text()) != source):
        log("the exchange source or CRYPTOLSTM_* settings changed: restarting the services")
        down(settings, log=log)
    base = dict(os.environ)
    standin_port = standin_port or settings.standin_port
    if replay_dir:
        url = f"http://127.0.0.1:{standin_port}"
        if STANDIN not in running(settings):
            url = _start_standin(settings, replay_dir, standin_port, log)
        base["CRYPTOLSTM_EXCHANGE_URL"] = url
        # Recorded history has no "today": runs come only from backfills over the replayed days,
        # never from the wall clock (which would ask the replay for days it does not have).
        base["AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE"] = "False"
    if not base.get("AIRFLOW_CONN_SMTP_DEFAULT"):
        base.update(_start_mail_sink(settings, log))
    env = airflow_env(settings, sock, base=base)
    if not settings.dsn:
        storage.migrate(dsns["forecast"], log=log)
    t0 = time.monotonic()
    already = running(settings)
    if not all(s in already for s in SERVICES):
        res = airflow_cli(env, "db", "migrate", check=False)
        if res.returncode != 0:
            raise RuntimeError(f"airflow db migrate failed:\n{res.stdout[-2000:]}\n{res.stderr[-4000:]}")
        log(f"airflow metadata DB migrated ({time.monotonic() - t0:.1f} s)")
    exe = Path(sys.executable).with_name("airflow")
    for service in SERVICES:
        if service not in already:
            log(f"started {service} (pid {_spawn(settings, service, [str(exe), service], env)})")
    source_file.write_text(json.dumps(source))
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        doc = health(settings)
        if is_healthy(doc):
            log(f"healthy after {time.monotonic() - t0:.1f} s: http://127.0.0.1:{settings.api_port}")
            return env
        dead = [s for s in SERVICES if s not in running(settings)]
        if dead:
            raise RuntimeError(f"{', '.join(dead)} exited; see {settings.airflow_home / 'logs'}")
        time.sleep(1)
    raise RuntimeError(f"services not healthy after {wait:.0f} s: {health(settings)}; "
                       f"see {settings.airflow_home / 'logs'}")


def down(settings: Settings, grace: float = 20.0, log=print) -> list[str]:
    """Stop every service's whole process group (TERM, then KILL after `grace` s)."""
    alive = running(settings)
    for service, pid in alive.items():
        try:
            os.killpg(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + grace
    for service, pid in alive.items():
        while time.monotonic() < deadline and _group_alive(pid):
            time.sleep(0.2)
        if _group_alive(pid):
            os.killpg(pid, signal.SIGKILL)
            log(f"killed {service} (pid {pid}) after {grace:.0f} s")
        else:
            log(f"stopped {service} (pid {pid})")
        _pid_file(settings, service).unlink(missing_ok=True)
    return list(alive)


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
        return True
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
