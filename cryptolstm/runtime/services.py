"""The local Airflow 3 runtime: api-server, scheduler, dag-processor and triggerer on the embedded PostgreSQL.

One supervisor process (cryptolstm.runtime.supervisor) starts every managed process in its own
session, restarts any that exits (with backoff, logged in logs/supervisor.log) and, on
`down()`, stops each whole process group — the service and every task process it forked.
Configuration is by environment variables only (`airflow_env`), so the same values reach every
component. Nothing listens beyond 127.0.0.1: the api-server and the scheduler's health server bind
it, the log servers are not started (the api-server reads task logs from the shared local log
folder), PostgreSQL and the Celery broker use unix sockets only.

The mode — live exchange or a replayed CSV folder, LocalExecutor or CeleryExecutor — is saved in
<state_dir>/mode.json; `cryptolstm services up` reuses it, so a restart never turns a replay live.
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
from contextlib import suppress
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Mapping

from cryptolstm.config import DEFAULT_QUEUE, POOL_SLOTS, PROJECT_ROOT, TRAIN_QUEUE, Settings
from cryptolstm.runtime import airflow_api, pidfile, processes

SERVICES = ("api-server", "scheduler", "dag-processor", "triggerer")
STANDIN = "standin"  # the exchange stand-in replaying a CSV folder, managed like a service in replay mode
MAIL = "smtp-sink"  # local SMTP server writing alert emails to a Maildir, when no smtp_default is configured
BROKER = "redis"  # Celery's broker (Debian's redis-server on a unix socket), CeleryExecutor only
WORKER = "celery-worker"  # Celery workers are named celery-worker-1 .. -N
WORKER_NAME_VAR = "CRYPTOLSTM_WORKER_NAME"  # each worker's name, in its own environment (see worker_hostname)
SUPERVISOR = "supervisor"
HEALTH_COMPONENTS = ("metadatabase", "scheduler", "dag_processor", "triggerer")
EXECUTORS = {"local": "LocalExecutor", "celery": "CeleryExecutor"}
WORKER_QUEUES = (DEFAULT_QUEUE, TRAIN_QUEUE)  # a local worker serves every queue; see docs/deploy.md to split them


@dataclass(frozen=True)
class UiLogin:
    username: str = "admin"  # simple auth manager user with the admin role
    password: str = "admin"  # local only: the api-server binds 127.0.0.1


@dataclass(frozen=True)
class Mode:
    """What the local runtime runs; saved in <state_dir>/mode.json by `up` and reused by `services up`."""

    replay_dir: str | None = None  # a recorded CSV folder replayed by the stand-in; None = the live exchange
    standin_port: int | None = None  # the stand-in's port in replay mode
    executor: str = "local"  # "local" (LocalExecutor) or "celery" (CeleryExecutor + redis + workers)
    workers: int = 1  # Celery workers (each runs `worker_concurrency` tasks at once)

    def describe(self) -> str:
        src = f"replay of {self.replay_dir}" if self.replay_dir else "live exchange"
        ex = EXECUTORS[self.executor] + (f", {self.workers} worker(s)" if self.executor == "celery" else "")
        return f"{src}, {ex}"


def _mode_file(settings: Settings) -> Path:
    return settings.state_dir / "mode.json"


def saved_mode(settings: Settings) -> Mode | None:
    """The mode of the last `up` in this state folder, or None if there was none."""
    try:
        return Mode(**json.loads(_mode_file(settings).read_text()))
    except FileNotFoundError:
        return None


def _secret(path: Path, nbytes: int) -> str:
    """A secret created once and kept in the state folder, so restarts keep sessions and tokens valid."""
    if not path.exists():
        _write_private(path, secrets.token_urlsafe(nbytes))
    return path.read_text().strip()


def _write_private(path: Path, text: str) -> None:
    """Write a file readable by its owner only: created 0600, never world-readable even for an instant."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)  # an existing file created with looser bits is tightened too
    with os.fdopen(fd, "w") as f:
        f.write(text)


def broker_socket(settings: Settings) -> Path:
    return settings.airflow_home / "run" / "redis.sock"


def airflow_env(settings: Settings, socket_dir: str, login: UiLogin = UiLogin(),
                base: dict[str, str] | None = None, mode: Mode | None = None) -> dict[str, str]:
    """Environment for every Airflow process of the local runtime (and `airflow` CLI calls)."""
    from sqlalchemy.engine import URL  # Airflow's metadata DB is a SQLAlchemy URL, not a libpq DSN

    home = settings.airflow_home
    env = dict(os.environ if base is None else base)
    mode = mode or saved_mode(settings) or Mode()
    url = f"http://127.0.0.1:{settings.api_port}"
    pw_file = home / "passwords.json"
    meta = URL.create("postgresql+psycopg2", username="postgres", database=settings.airflow_db,
                      query={"host": socket_dir}).render_as_string(hide_password=False)
    env.update({
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": meta,
        "AIRFLOW__CORE__EXECUTOR": EXECUTORS[mode.executor],
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
        "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": env.get("AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL", "10"),
        # The scheduler's health server (0.0.0.0:8974 by default) binds loopback, next to the api port so two
        # local runtimes (e.g. tests) do not fight over one port.
        "AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK": "True",
        "AIRFLOW__SCHEDULER__SCHEDULER_HEALTH_CHECK_SERVER_HOST": "127.0.0.1",
        "AIRFLOW__SCHEDULER__SCHEDULER_HEALTH_CHECK_SERVER_PORT": str(settings.api_port + 1),
    })
    if mode.executor == "celery":
        # The same settings as compose's `celery` profile: redis broker, results in the metadata DB.
        env.update({
            "AIRFLOW__CELERY__BROKER_URL": f"redis+socket://{broker_socket(settings)}",
            "AIRFLOW__CELERY__RESULT_BACKEND": "db+" + meta,
            "AIRFLOW__CELERY__WORKER_CONCURRENCY": env.get("AIRFLOW__CELERY__WORKER_CONCURRENCY", "2"),
        })
    # The forecasting database: an explicit connection wins; otherwise the embedded server.
    embedded = "AIRFLOW_CONN_CRYPTOLSTM_DB" not in env
    env.setdefault("AIRFLOW_CONN_CRYPTOLSTM_DB", json.dumps({
        "conn_type": "postgres", "host": socket_dir, "login": "postgres", "schema": settings.forecast_db}))
    # The Forecasts page reads as the read-only role of migration 003, as in compose, never as the
    # superuser. With an external database its reader DSN must be given (the page says so).
    if embedded and not env.get("CRYPTOLSTM_READER_DSN"):
        env.setdefault("AIRFLOW_CONN_CRYPTOLSTM_READER", json.dumps({
            "conn_type": "postgres", "host": socket_dir, "login": "cryptolstm_reader",
            "schema": settings.forecast_db}))
    _write_private(pw_file, json.dumps({login.username: login.password}))
    return env


def health(settings: Settings, timeout: float = 3.0) -> dict | None:
    """The api-server's /api/v2/monitor/health document, or None if it does not answer."""
    return airflow_api.health(f"http://127.0.0.1:{settings.api_port}", timeout)


def is_healthy(doc: dict | None) -> bool:
    return bool(doc) and all(doc.get(c, {}).get("status") == "healthy" for c in HEALTH_COMPONENTS)


def airflow_cli(env: dict[str, str], *args: str, check: bool = True) -> subprocess.CompletedProcess:
    """Run the `airflow` CLI of this venv with the runtime's environment."""
    exe = Path(sys.executable).with_name("airflow")
    return subprocess.run([str(exe), *args], env=env, check=check, capture_output=True, text=True)


def _children(settings: Settings, mode: Mode, mail: bool) -> list[dict]:
    """Name and argv of every process the supervisor runs, in start order."""
    airflow = str(Path(sys.executable).with_name("airflow"))
    kids = []
    if mode.replay_dir:  # the stand-in's clock follows each request (no future leaks)
        kids.append({"name": STANDIN, "argv": [sys.executable, "-m", "cryptolstm.cli", "standin", "--data",
                                               mode.replay_dir, "--port", str(mode.standin_port), "--follow"]})
    if mail:  # aiosmtpd creates the Maildir itself
        kids.append({"name": MAIL, "argv": [sys.executable, "-m", "aiosmtpd", "-n", "-l",
                                            f"127.0.0.1:{settings.smtp_port}", "-c", "aiosmtpd.handlers.Mailbox",
                                            str(settings.mail_dir)]})
    if mode.executor == "celery":
        # No TCP port at all (--port 0), a private unix socket; nothing persisted: queued messages are
        # re-sent by the scheduler after a restart (Airflow's task state lives in the metadata DB).
        kids.append({"name": BROKER, "argv": [redis_server(), "--port", "0", "--unixsocket",
                                              str(broker_socket(settings)), "--unixsocketperm", "700",
                                              "--save", "", "--appendonly", "no", "--daemonize", "no"]})
    kids += [{"name": s, "argv": [airflow, s]} for s in ("api-server", "dag-processor")]
    # No log servers: they bind every interface (the host is hard-coded in Airflow 3.3); the api-server
    # reads the task logs from the local log folder all processes share.
    kids += [{"name": s, "argv": [airflow, s, "--skip-serve-logs"]} for s in ("scheduler", "triggerer")]
    if mode.executor == "celery":
        kids += [{"name": f"{WORKER}-{i}", "argv": [airflow, "celery", "worker", "--queues", ",".join(WORKER_QUEUES),
                                                   "--celery-hostname", f"{WORKER}-{i}@%h", "--skip-serve-logs"],
                  "env": {WORKER_NAME_VAR: f"{WORKER}-{i}",
                          "AIRFLOW__CORE__HOSTNAME_CALLABLE": f"{__name__}.{worker_hostname.__name__}"}}
                 for i in range(1, mode.workers + 1)]
    return kids


def worker_hostname() -> str:
    """Airflow's [core] hostname_callable in the local Celery workers: `celery-worker-N@<this host>`. The workers
    share one machine, so the host alone cannot tell them apart; a task instance's `hostname` (REST API) then
    names the worker that ran it."""
    import socket

    from cryptolstm.environment import load_worker_name

    name = load_worker_name()
    return f"{name}@{socket.getfqdn()}" if name else socket.getfqdn()


def redis_server() -> str:
    """Debian's redis-server (`make broker` installs it), or a clear error."""
    import shutil

    exe = shutil.which("redis-server")
    if exe is None:
        raise RuntimeError("the CeleryExecutor needs redis-server: `make broker` installs it "
                           "(apt-get install redis-server, as root)")
    return exe


class NotReady(RuntimeError):
    """The stack did not become ready; the message is one line that names what is not ready and where to look."""


def up(settings: Settings, wait: float = 180.0, log=print, replay_dir: Path | None = None,
       standin_port: int | None = None, executor: str = "local", workers: int = 1,
       environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """Start the embedded PostgreSQL and the supervised services; wait until healthy. Idempotent.

    With `replay_dir`, the exchange is the local stand-in replaying that CSV folder, and every
    Airflow process gets CRYPTOLSTM_EXCHANGE_URL pointing at it. With `executor="celery"`, tasks run
    on `workers` Celery workers fed by a local redis. Running services whose mode or CRYPTOLSTM_*
    settings differ from the ones asked for are restarted, so a run never mixes live and replayed
    candles. The mode is saved for the next `services up`. Concurrent calls on one state folder run
    one after the other (`processes.state_lock`): the later one finds the stack running. Raises `NotReady`.
    `environ`: the environment the services start from (default os.environ, which is never changed).
    """
    from cryptolstm.runtime import embedded_pg

    if executor not in EXECUTORS:
        raise ValueError(f"executor must be one of {sorted(EXECUTORS)}, not {executor!r}")
    mode = Mode(replay_dir=str(Path(replay_dir).resolve()) if replay_dir else None,
                standin_port=(standin_port or settings.standin_port) if replay_dir else None,
                executor=executor, workers=workers if executor == "celery" else 1)
    environ = dict(os.environ if environ is None else environ)
    source = {"mode": asdict(mode), **{k: v for k, v in sorted(environ.items()) if k.startswith("CRYPTOLSTM_")}}
    source_file = settings.airflow_home / "run" / "source.json"
    with processes.state_lock(settings, log):
        dsns = embedded_pg.start(settings)
        alive = processes.running(settings)
        if alive and (SUPERVISOR not in alive or not source_file.exists()
                      or json.loads(source_file.read_text()) != source):
            log("the mode or the CRYPTOLSTM_* settings changed: restarting the services")
            _stop(settings, log=log)
        elif not alive and processes.strays(settings):
            log(f"processes of an earlier stack of {settings.state_dir} are still running: stopping them")
            _stop(settings, log=log)
        base = dict(environ)
        if mode.replay_dir:
            base["CRYPTOLSTM_EXCHANGE_URL"] = f"http://127.0.0.1:{mode.standin_port}"
            # Recorded history has no "today": runs come only from backfills over the replayed days,
            # never from the wall clock (which would ask the replay for days it does not have).
            base["AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE"] = "False"
        mail = not base.get("AIRFLOW_CONN_SMTP_DEFAULT")
        if mail:  # Real JSON booleans: the string "false" would count as true.
            base["AIRFLOW_CONN_SMTP_DEFAULT"] = json.dumps({
                "conn_type": "smtp", "host": "127.0.0.1", "port": settings.smtp_port,
                "extra": {"disable_tls": True, "disable_ssl": True, "from_email": "cryptolstm@localhost",
                          "retry_limit": 0, "timeout": 10}})
        env = airflow_env(settings, str(embedded_pg.socket_dir(settings.pg_dir)), base=base, mode=mode)
        t0 = time.monotonic()
        if SUPERVISOR not in processes.running(settings):
            _start_supervisor(settings, env, _children(settings, mode, mail), dsns["forecast"], t0, log)
        source_file.write_text(json.dumps(source))
        _mode_file(settings).write_text(json.dumps(asdict(mode)))
        _wait_ready(settings, mode, mail, wait, t0, log)
    set_pools(settings)
    return env


def _start_supervisor(settings: Settings, env: dict[str, str], children: list[dict], forecast_dsn: str,
                      t0: float, log) -> None:
    """Migrate both databases, then start the supervisor of `children` in its own session."""
    from cryptolstm import storage

    if not settings.dsn:
        storage.migrate(forecast_dsn, log=log)
    res = airflow_cli(env, "db", "migrate", check=False)
    if res.returncode != 0:
        raise RuntimeError(f"airflow db migrate failed:\n{res.stdout[-2000:]}\n{res.stderr[-4000:]}")
    log(f"airflow metadata DB migrated ({time.monotonic() - t0:.1f} s)")
    run_dir, log_dir = settings.airflow_home / "run", settings.airflow_home / "logs"
    run_dir.mkdir(parents=True, exist_ok=True)
    log_dir.mkdir(parents=True, exist_ok=True)
    spec = run_dir / "supervisor.json"
    spec.write_text(json.dumps({
        "run_dir": str(run_dir), "log_dir": str(log_dir), "cwd": str(settings.airflow_home), "children": children,
        "health": {"url": f"http://127.0.0.1:{settings.api_port}", "stale_after": settings.heartbeat_stale_s,
                   "every": settings.health_check_s}}, indent=1))
    out = open(log_dir / "supervisor.log", "ab")
    proc = subprocess.Popen([sys.executable, "-m", "cryptolstm.runtime.supervisor", str(spec)], env=env,
                            stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                            start_new_session=True, cwd=str(settings.airflow_home))
    out.close()
    pidfile.write(processes.pid_file(settings, SUPERVISOR), proc.pid)
    log(f"started the supervisor (pid {proc.pid}): {', '.join(c['name'] for c in children)}; "
        f"log {log_dir / 'supervisor.log'}")


def pools_file() -> dict:
    """The pools of config.POOL_SLOTS in the format of `airflow pools import` (compose's airflow-init uses it)."""
    return {name: {"slots": slots, "description": f"cryptolstm: {name} (cryptolstm/config.py, docs/deploy.md)",
                   "include_deferred": False} for name, slots in POOL_SLOTS.items()}


def set_pools(settings: Settings, login: UiLogin = UiLogin()) -> None:
    """Create or resize the pools through the REST API (idempotent; done before any backfill is made)."""
    from cryptolstm.runtime.airflow_api import AirflowApi

    api = AirflowApi(f"http://127.0.0.1:{settings.api_port}", login.username, login.password)
    for name, pool in pools_file().items():
        api.set_pool(name, pool["slots"], pool["description"])


def _wait_ready(settings: Settings, mode: Mode, mail: bool, wait: float, t0: float, log) -> None:
    """Wait for the stand-in, the SMTP sink and Airflow's health; fail fast if the supervisor dies."""
    import socket

    deadline = t0 + wait
    checks = []  # (what, probe): a probe returns True when ready, False or OSError when not yet
    if mode.replay_dir:
        url = f"http://127.0.0.1:{mode.standin_port}"
        checks.append((f"the exchange stand-in replaying {mode.replay_dir} at {url}",
                       lambda: bool(urllib.request.urlopen(f"{url}/api/v3/ping", timeout=2).read() is not None)))
    if mail:
        checks.append((f"the SMTP sink: alert emails go to {settings.mail_dir}",
                       lambda: socket.create_connection(("127.0.0.1", settings.smtp_port), timeout=1).close() or True))
    checks.append((f"Airflow: http://127.0.0.1:{settings.api_port}", lambda: is_healthy(health(settings))))
    for what, probe in checks:
        while True:
            try:
                if probe():
                    log(f"ready after {time.monotonic() - t0:.1f} s: {what}")
                    break
            except (urllib.error.URLError, OSError):
                pass
            if SUPERVISOR not in processes.running(settings):
                raise NotReady(f"the supervisor exited: {_last_line(settings, SUPERVISOR)}; "
                               f"see {_log_path(settings, SUPERVISOR)}")
            if time.monotonic() > deadline:
                raise NotReady(f"not ready after {wait:.0f} s: {what}: {unhealthy(health(settings))}; "
                               f"see {_log_path(settings, SUPERVISOR)}")
            time.sleep(0.5)


def unhealthy(doc: dict | None) -> str:
    """What is not healthy in a health document, in one line, e.g. `scheduler unhealthy (last heartbeat 95 s ago)`."""
    if doc is None:
        return "the api-server does not answer"
    parts = []
    for component in HEALTH_COMPONENTS:
        state = doc.get(component) or {}
        if state.get("status") == "healthy":
            continue
        age = airflow_api.heartbeat_age(doc, component, time.time())
        beat = "no heartbeat" if age is None else f"last heartbeat {age:.0f} s ago"
        parts.append(f"{component.replace('_', '-')} {state.get('status') or 'never started'}"
                     + ("" if component == "metadatabase" else f" ({beat})"))
    return ", ".join(parts) or "every component healthy"


def _log_path(settings: Settings, name: str) -> Path:
    return settings.airflow_home / "logs" / f"{name}.log"


def _last_line(settings: Settings, name: str) -> str:
    try:
        lines = _log_path(settings, name).read_text(errors="replace").splitlines()
    except FileNotFoundError:
        return "(no log)"
    return lines[-1] if lines else "(empty log)"


def down(settings: Settings, grace: float = 20.0, log=print) -> list[str]:
    """Stop the supervisor (it stops every service's process group), then anything it left behind, then any
    other process of this state folder (`strays`). Returns what was stopped: names, and `pid N` for strays."""
    with processes.state_lock(settings, log):
        return _stop(settings, grace, log)


def _stop(settings: Settings, grace: float = 20.0, log=print) -> list[str]:
    alive = processes.running(settings)
    sup = alive.get(SUPERVISOR)
    if sup is not None:
        pidfile.kill_group(sup, signal.SIGTERM)
        deadline = time.monotonic() + grace + 10  # the supervisor itself gives each group `grace` s
        while time.monotonic() < deadline and pidfile.group_alive(sup):
            time.sleep(0.2)
    for name, pid in alive.items():  # survivors: the supervisor was killed, or it did not finish in time
        processes.stop_group(pid, name, grace, log)
        processes.pid_file(settings, name).unlink(missing_ok=True)
    left = processes.strays(settings)
    groups = set()
    for proc in left:
        with suppress(ProcessLookupError):  # gone since it was found
            groups.add(os.getpgid(proc.pid))
    for pgid in sorted(groups):
        processes.stop_group(pgid, f"a stray process group of {settings.state_dir}", grace, log)
    return list(alive) + [f"pid {p.pid}" for p in left]
