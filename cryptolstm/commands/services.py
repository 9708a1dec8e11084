"""`cryptolstm services up|down|status` — the local Airflow runtime."""

from __future__ import annotations

import argparse
import json

from cryptolstm.commands import CommandError
from cryptolstm.environment import load_settings


def _up(args: argparse.Namespace) -> None:
    from pathlib import Path

    from cryptolstm.runtime import services

    s = load_settings()
    saved = services.saved_mode(s)
    mode = choose_mode(args, saved)
    if saved is not None and mode == saved and not (args.replay or args.live or args.executor):
        print(f"reusing the saved mode ({mode.describe()}) from {s.state_dir / 'mode.json'}; "
              "--live / --replay DIR / --executor change it")
    try:
        services.up(s, wait=args.wait, replay_dir=Path(mode.replay_dir) if mode.replay_dir else None,
                    standin_port=mode.standin_port, executor=mode.executor, workers=mode.workers)
    except services.NotReady as exc:
        raise CommandError(str(exc)) from None
    login = services.UiLogin()
    print(f"Airflow UI: http://127.0.0.1:{s.api_port}  (login {login.username} / {login.password}); "
          f"mode: {mode.describe()}")


def choose_mode(args: argparse.Namespace, saved):
    """The mode asked for on the command line, completed by the saved one (never a silent switch to live)."""
    from pathlib import Path

    from cryptolstm.runtime.services import Mode

    base = saved or Mode()
    replay_dir, port = base.replay_dir, base.standin_port
    if args.live:
        replay_dir, port = None, None
    elif args.replay:
        replay_dir, port = str(Path(args.replay).resolve()), base.standin_port
    executor = args.executor or base.executor
    workers = args.workers or (base.workers if executor == base.executor else 1)
    return Mode(replay_dir=replay_dir, standin_port=port if replay_dir else None, executor=executor,
                workers=workers if executor == "celery" else 1)


def _down(args: argparse.Namespace) -> None:
    from cryptolstm.runtime import embedded_pg, services

    s = load_settings()
    stopped = services.down(s)
    print(f"stopped {len(stopped)} service(s)" if stopped else "no Airflow service was running")
    if args.with_db:
        print("embedded PostgreSQL stopped" if embedded_pg.stop(s) else "embedded PostgreSQL was not running")


def _status(args: argparse.Namespace) -> int:
    from contextlib import suppress

    import psutil

    from cryptolstm.runtime import processes, services

    s = load_settings()
    procs = processes.running(s)
    doc = services.health(s)
    mode = services.saved_mode(s)
    print(f"mode           {mode.describe() if mode else 'none saved (services up starts the live exchange)'}")
    for name in (services.SUPERVISOR, *services.SERVICES, *sorted(set(procs) - {services.SUPERVISOR, *services.SERVICES})):
        print(f"{name:14s} {'pid ' + str(procs[name]) if name in procs else 'not running'}")
    for proc in processes.strays(s):
        with suppress(psutil.Error):  # gone since it was found
            print(f"{'stray':14s} pid {proc.pid} {' '.join(proc.cmdline())[:80]} (no pid file names it; "
                  "`services down` stops it)")
    print("health:", json.dumps(doc) if doc else "api-server not answering")
    return 0 if services.is_healthy(doc) else 1


def _pools(args: argparse.Namespace) -> int:
    from cryptolstm.runtime import services

    print(json.dumps(services.pools_file(), indent=1))
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("services", help="local Airflow services (api-server, scheduler, dag-processor, triggerer)")
    verbs = p.add_subparsers(dest="verb", metavar="VERB", required=True)
    up = verbs.add_parser("up", help="start the embedded DB and the Airflow services; wait until healthy",
                          description="Without options, the mode of the last `up` (saved in the state folder) "
                                      "is reused; a fresh state folder starts live with the LocalExecutor.")
    up.add_argument("--wait", type=float, default=180.0, help="seconds to wait for health (default 180)")
    src = up.add_mutually_exclusive_group()
    src.add_argument("--replay", metavar="DIR", help="replay recorded daily candles (CSV folder) via the stand-in")
    src.add_argument("--live", action="store_true", help="the live exchange")
    up.add_argument("--executor", choices=("local", "celery"),
                    help="LocalExecutor, or CeleryExecutor with a local redis broker and Celery workers")
    up.add_argument("--workers", type=int, metavar="N", help="Celery workers (default 1)")
    up.set_defaults(func=_up)
    down = verbs.add_parser("down", help="stop the services and every process they started")
    down.add_argument("--with-db", action="store_true", help="also stop the embedded PostgreSQL")
    down.set_defaults(func=_down)
    verbs.add_parser("status", help="processes and /api/v2/monitor/health").set_defaults(func=_status)
    verbs.add_parser("pools", help="print the Airflow pools as JSON for `airflow pools import` (compose init)"
                     ).set_defaults(func=_pools)
    register_airflow(sub)


def _airflow(args: argparse.Namespace) -> int:
    """The `airflow` CLI with the local runtime's environment (metadata DB, connections, folders)."""
    import os
    import sys
    from pathlib import Path

    from cryptolstm.runtime import embedded_pg, services

    s = load_settings()
    sock = embedded_pg.socket_dir(s.pg_dir)
    if sock is None:
        raise CommandError("the local stack is not running: start it with `make run` or `cryptolstm services up`")
    env = services.airflow_env(s, str(sock))
    exe = str(Path(sys.executable).with_name("airflow"))
    os.execve(exe, [exe, *args.passthrough], env)
    return 1


def register_airflow(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("airflow", help="run the airflow CLI against the local runtime (args go to airflow)")
    p.set_defaults(func=_airflow, passthrough=[])
