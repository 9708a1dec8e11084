"""The README's layout table names every folder and module of the package (it is the newcomer's map)."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_layout_table_lists_every_module():
    rows = re.findall(r"^\| (.+?) \| (.+) \|$", (ROOT / "README.md").read_text(), re.M)
    missing = []
    for path in sorted((ROOT / "cryptolstm").rglob("*.py")):
        if path.name == "__init__.py":
            continue
        if path.parent.name == "cryptolstm":  # top-level modules are named in the first column
            found = any(f"`{path.name}`" in first or f"`cryptolstm/{path.name}`" in first for first, _ in rows)
        else:
            folders = (f"`cryptolstm/{path.parent.name}/`", f"`{path.parent.name}/`")
            found = any(any(f in first for f in folders) and f"`{path.stem}`" in second for first, second in rows)
        if not found:
            missing.append(path.relative_to(ROOT).as_posix())
    assert missing == [], "README 'Layout' does not mention these modules"
