"""The package's layering: no import cycle between ``magmom`` modules, counting the imports inside
functions too (a function-level import must not hide a cycle), and ``magmom.chgnet``, which the
DFT stage uses, reaches nothing of the data stage."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def module_files() -> dict[str, Path]:
    """``{dotted name: file}`` of every module of the ``magmom`` package."""
    out = {}
    for path in sorted((ROOT / "magmom").rglob("*.py")):
        parts = path.relative_to(ROOT).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


def imported_modules(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """The ``magmom`` modules ``name`` imports anywhere in its file (top level or in a function).

    ``from pkg import x`` counts as importing ``pkg.x`` when that is a module, else ``pkg``.
    A module's own parent packages are left out (importing ``a.b.c`` runs ``a/__init__`` and
    ``a/b/__init__`` anyway; a package that re-exports its children is not a cycle).
    """
    is_package = path.name == "__init__.py"
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = name.split(".") if is_package else name.split(".")[:-1]
                base = base[: len(base) - (node.level - 1)]
                prefix = ".".join(base + ([node.module] if node.module else []))
            else:
                prefix = node.module or ""
            subs = {f"{prefix}.{a.name}" for a in node.names} & modules.keys()
            found.update(subs or {prefix})
    return {m for m in found if m in modules and m != name and not name.startswith(m + ".")}


def import_graph() -> dict[str, set[str]]:
    modules = module_files()
    return {name: imported_modules(name, path, modules) for name, path in modules.items()}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    out = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def reachable(graph: dict[str, set[str]], start: str) -> set[str]:
    seen, todo = set(), [start]
    while todo:
        for w in graph[todo.pop()] - seen:
            seen.add(w)
            todo.append(w)
    return seen


def test_the_import_graph_finds_a_function_level_cycle():
    """The checker itself: a cycle closed only inside a function is found."""
    graph = {"a": {"b"}, "b": set(), "c": set()}
    assert cycles(graph) == []
    graph["b"].add("a")
    assert cycles(graph) == [["a", "b"]]


def test_no_import_cycle_between_magmom_modules():
    found = cycles(import_graph())
    assert not found, "import cycles (function-level imports included): " + "; ".join(
        " <-> ".join(c) for c in found
    )


def test_chgnet_wrapper_reaches_no_data_stage_module():
    reached = reachable(import_graph(), "magmom.chgnet")
    upward = sorted(m for m in reached if m.startswith(("magmom.data", "magmom.baselines")))
    assert not upward, f"magmom.chgnet imports (directly or not) {upward}"
