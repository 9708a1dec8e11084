"""CLI verbs, one module per area; each exposes `register(subparsers)` and sets `func` on its parsers.

`CommandError` lives here, below `cli` and every verb module, so a verb raises it without importing the CLI.
"""


class CommandError(Exception):
    """A failure the user can act on; printed as `error: ...` with exit code 1."""
