"""The `cryptolstm` command line.

Each area adds its verbs in its own module under `cryptolstm/commands/`, exposing
`register(subparsers)`; this file only discovers them, so the CLI grows without a central edit.
Errors meant for the user are raised as `CommandError`, and the library's `Permanent` errors (a retry cannot fix
them) are printed the same way: one line, without a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys

import cryptolstm.commands
from cryptolstm import environment
from cryptolstm.commands import CommandError
from cryptolstm.errors import Permanent, one_line


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="cryptolstm", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for mod in sorted(pkgutil.iter_modules(cryptolstm.commands.__path__), key=lambda m: m.name):
        importlib.import_module(f"cryptolstm.commands.{mod.name}").register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if extra and not hasattr(args, "passthrough"):  # only pass-through verbs (db psql) take unknown args
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    if extra:
        args.passthrough = [*args.passthrough, *extra]
    try:
        environment.validate()  # every setting once, before any command starts anything
    except environment.SettingError as exc:
        print(f"error: bad configuration: {exc}", file=sys.stderr)
        return 2
    try:
        return int(args.func(args) or 0)
    except CommandError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except Permanent as exc:  # a retry cannot fix it (cryptolstm.errors): one line, no traceback
        print(f"error: {one_line(exc)}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
