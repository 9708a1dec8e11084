"""CLI verbs, one module per area; each exposes `register(subparsers)` and sets `func` on its parsers."""
