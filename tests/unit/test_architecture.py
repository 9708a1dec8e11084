"""The package's shape: no import cycles, no module importing a layer above it, no Airflow inside.

Imports are read from the source (ast), lazy ones inside functions included: a cycle broken only by
importing late is still a cycle in the design. Run as a script to print the numbers for any tree:
    python tests/unit/test_architecture.py [ROOT]
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# Layers from the bottom; a module may import its own layer and those below (README, "Layout").
LAYERS = [
    ("config", "dsn", "environment", "errors"),  # constants and dataclasses; libpq DSNs; the environment; error kinds
    ("storage", "calendar"),
    ("market",),
    ("modelling",),
    ("evaluation",),
    ("serving",),
    ("ui",),
    ("pipeline",),
    ("runtime",),  # local machinery (embedded PostgreSQL, services, stand-in) used by the commands
    ("bench", "commands", "cli"),
]
RANK = {part: i for i, parts in enumerate(LAYERS) for part in parts}


def modules(root: Path = ROOT) -> dict[str, Path]:
    """Dotted module name -> file, for every module of the cryptolstm package under `root`."""
    out = {}
    for path in sorted((root / "cryptolstm").rglob("*.py")):
        name = ".".join(path.relative_to(root).with_suffix("").parts)
        out[name.removesuffix(".__init__")] = path
    return out


def import_graph(root: Path = ROOT) -> tuple[dict[str, set[str]], dict[str, set[str]]]:
    """(cryptolstm module -> cryptolstm modules it imports, module -> top-level third-party imports)."""
    mods = modules(root)

    def known(name: str) -> str:
        while name not in mods and "." in name:
            name = name.rsplit(".", 1)[0]
        return name

    graph, external = {}, {}
    for name, path in mods.items():
        deps, ext = set(), set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                targets = [f"{node.module}.{a.name}" for a in node.names]
            else:
                continue
            for t in targets:
                if t.split(".")[0] == "cryptolstm":
                    deps.add(known(t))
                else:
                    ext.add(t.split(".")[0])
        deps -= {name, "cryptolstm"}
        graph[name], external[name] = deps, ext
    return graph, external


def layer(module: str) -> int | None:
    parts = module.split(".")
    return RANK.get(parts[1]) if len(parts) > 1 else None


def upward_imports(graph: dict[str, set[str]]) -> list[tuple[str, str]]:
    """(importer, imported) pairs where the imported module sits in a higher layer."""
    bad = []
    for mod, deps in graph.items():
        for dep in deps:
            lo, hi = layer(mod), layer(dep)
            if lo is not None and hi is not None and hi > lo:
                bad.append((mod, dep))
    return sorted(bad)


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index, low, stack, on, out, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    sys.setrecursionlimit(10_000)
    for v in sorted(graph):
        if v not in index:
            visit(v)
    return sorted(out)


def test_every_module_has_a_layer():
    graph, _ = import_graph()
    missing = [m for m in graph if m != "cryptolstm" and layer(m) is None]
    assert missing == [], f"modules outside every layer (add them to LAYERS): {missing}"


def test_no_import_cycles():
    graph, _ = import_graph()
    assert cycles(graph) == []


def test_imports_only_go_down_the_layers():
    graph, _ = import_graph()
    assert upward_imports(graph) == []


def test_no_airflow_inside_the_library():
    _, external = import_graph()
    assert sorted(m for m, ext in external.items() if "airflow" in ext) == []


if __name__ == "__main__":
    root = Path(sys.argv[1]).resolve() if len(sys.argv) > 1 else ROOT
    g, _ = import_graph(root)
    per_folder: dict[str, int] = {}
    for m, path in modules(root).items():
        if path.name != "__init__.py":
            folder = str(path.parent.relative_to(root))
            per_folder[folder] = per_folder.get(folder, 0) + 1
    print("modules per folder:", ", ".join(f"{k}/ {v}" for k, v in sorted(per_folder.items())))
    found = cycles(g)
    print(f"import cycles: {len(found)}", *(" <-> ".join(c) for c in found), sep="\n  ")
    up = upward_imports(g)
    print(f"upward imports: {len(up)}", *(f"{a} -> {b}" for a, b in up), sep="\n  ")
