"""`cryptolstm services up|down|status` — the local Airflow runtime."""

from __future__ import annotations

import argparse
import json

from cryptolstm.config import Settings


def _up(args: argparse.Namespace) -> None:
    from cryptolstm.runtime import services

    s = Settings.from_env()
    services.up(s, wait=args.wait)
    login = services.UiLogin()
    print(f"Airflow UI: http://127.0.0.1:{s.api_port}  (login {login.username} / {login.password})")


def _down(args: argparse.Namespace) -> None:
    from cryptolstm.runtime import embedded_pg, services

    s = Settings.from_env()
    stopped = services.down(s)
    print(f"stopped {len(stopped)} service(s)" if stopped else "no Airflow service was running")
    if args.with_db:
        print("embedded PostgreSQL stopped" if embedded_pg.stop(s) else "embedded PostgreSQL was not running")


def _status(args: argparse.Namespace) -> int:
    from cryptolstm.runtime import services

    s = Settings.from_env()
    procs = services.running(s)
    doc = services.health(s)
    for name in services.SERVICES:
        print(f"{name:14s} {'pid ' + str(procs[name]) if name in procs else 'not running'}")
    print("health:", json.dumps(doc) if doc else "api-server not answering")
    return 0 if services.is_healthy(doc) else 1


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("services", help="local Airflow services (api-server, scheduler, dag-processor, triggerer)")
    verbs = p.add_subparsers(dest="verb", metavar="VERB", required=True)
    up = verbs.add_parser("up", help="start the embedded DB and the Airflow services; wait until healthy")
    up.add_argument("--wait", type=float, default=180.0, help="seconds to wait for health (default 180)")
    up.set_defaults(func=_up)
    down = verbs.add_parser("down", help="stop the services and every process they started")
    down.add_argument("--with-db", action="store_true", help="also stop the embedded PostgreSQL")
    down.set_defaults(func=_down)
    verbs.add_parser("status", help="processes and /api/v2/monitor/health").set_defaults(func=_status)
    register_airflow(sub)


def _airflow(args: argparse.Namespace) -> int:
    """The `airflow` CLI with the local runtime's environment (metadata DB, connections, folders)."""
    import os
    import sys
    from pathlib import Path

    from cryptolstm.runtime import embedded_pg, services

    s = Settings.from_env()
    sock = embedded_pg.socket_dir(s.pg_dir)
    if sock is None:
        from cryptolstm.cli import CommandError

        raise CommandError("the local stack is not running: start it with `make run` or `cryptolstm services up`")
    env = services.airflow_env(s, str(sock))
    exe = str(Path(sys.executable).with_name("airflow"))
    os.execve(exe, [exe, *args.passthrough], env)
    return 1


def register_airflow(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("airflow", help="run the airflow CLI against the local runtime (args go to airflow)")
    p.set_defaults(func=_airflow, passthrough=[])
