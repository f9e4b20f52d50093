"""The source a workflow script runs, read statically: its ``magmom`` import closure and its hash.

A rule's ``script:`` imports ``magmom`` modules, which import others; Snakemake sees only the
script (and only its modification time). Two users of the closure:

* :func:`code_sha256`, a content hash of the script and every ``magmom`` file it executes, is a
  ``code`` param of the rules (``rules/common.smk``): editing the training loss in
  ``magmom/training/trainer.py`` replans the ``train`` jobs (Snakemake's params trigger), while a
  ``git checkout`` that restores a file's content replans nothing. The hash is taken over the
  parsed syntax tree without docstrings, so comments, docstrings and formatting do not count.
* ``tests/test_envs.py`` maps the third-party imports of the closure to each rule's conda env.

Imports are read with :mod:`ast` (nothing is imported): ``import magmom.x``, ``from magmom.x import
y`` (``y`` may be a submodule), relative imports, imports inside functions, and the names a
package loads on first use (:mod:`magmom.lazy`, whose table is read from the package's source).
Imports under ``if TYPE_CHECKING:`` or in a ``try`` that catches ImportError are optional and
left out.
"""

from __future__ import annotations

import ast
import hashlib
import json
import os
from functools import cache
from pathlib import Path

from magmom.io import write_json

ROOT = Path(__file__).resolve().parents[1]
"""The directory holding the ``magmom`` package (the repository root)."""


def _optional(node: ast.AST, parents: dict[ast.AST, ast.AST]) -> bool:
    """True for imports under ``if TYPE_CHECKING:`` or in a ``try`` that catches ImportError."""
    child, parent = node, parents.get(node)
    while parent is not None:
        if isinstance(parent, ast.If) and "TYPE_CHECKING" in ast.unparse(parent.test):
            return True
        if isinstance(parent, ast.Try) and child in parent.body:
            caught = " ".join(ast.unparse(h.type) for h in parent.handlers if h.type is not None)
            if "ImportError" in caught or "ModuleNotFoundError" in caught:
                return True
        child, parent = parent, parents.get(parent)
    return False


def _package_of(path: Path) -> str:
    """The package a relative import in ``path`` starts from (``magmom.recipe`` for stage.py)."""
    try:
        return ".".join(path.resolve().parent.relative_to(ROOT).parts)
    except ValueError:  # a file outside the repository (a workflow script elsewhere)
        return ""


@cache
def imports_of(path: Path) -> frozenset[str]:
    """Absolute module names imported anywhere in ``path`` (optional imports excluded)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    parents = {c: p for p in ast.walk(tree) for c in ast.iter_child_nodes(p)}
    package = _package_of(path)
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import) and not _optional(node, parents):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and not _optional(node, parents):
            if node.level:  # relative import inside magmom
                parts = package.split(".")
                base = parts[: len(parts) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module
            names.add(module)
            # `from magmom.x import y` may import the submodule magmom.x.y
            names.update(f"{module}.{a.name}" for a in node.names)
    return frozenset(names)


@cache
def lazy_names(package: str) -> dict[str, str]:
    """``{name: submodule}`` a magmom package loads on first use (:mod:`magmom.lazy`), read from
    the ``lazy_getattr(__name__, {...})`` call in its ``__init__.py`` (empty for a module)."""
    init = ROOT.joinpath(*package.split("."), "__init__.py")
    if not init.is_file():
        return {}
    tree = ast.parse(init.read_text(), filename=str(init))
    assigned = {  # module-level NAME = {...}: the table may be a named constant
        target.id: node.value
        for node in tree.body
        if isinstance(node, ast.Assign | ast.AnnAssign)
        for target in (node.targets if isinstance(node, ast.Assign) else [node.target])
        if isinstance(target, ast.Name) and node.value is not None
    }
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Call)
            and getattr(node.func, "id", None) == "lazy_getattr"
            and len(node.args) == 2
        ):
            table = node.args[1]
            if isinstance(table, ast.Name):
                table = assigned[table.id]
            return dict(ast.literal_eval(table))
    return {}


def magmom_files(module: str) -> list[Path]:
    """The source files executed when importing ``module`` (package __init__ files included).

    A name a package loads on first use (``from magmom.graphs import GraphCache``) brings in the
    submodule that defines it.
    """
    parts = module.split(".")
    files = []
    for k in range(1, len(parts) + 1):
        base = ROOT.joinpath(*parts[:k])
        if (base / "__init__.py").is_file():
            files.append(base / "__init__.py")
        elif base.with_suffix(".py").is_file():
            files.append(base.with_suffix(".py"))
    package, _, name = module.rpartition(".")
    is_module = ROOT.joinpath(*parts).with_suffix(".py").is_file() or ROOT.joinpath(*parts).is_dir()
    submodule = None if is_module or not package else lazy_names(package).get(name)
    if submodule is not None:
        files.extend(magmom_files(f"{package}.{submodule}"))
    return files


def closure(script: str | Path) -> list[Path]:
    """``script`` and every ``magmom`` source file it executes, sorted (script first)."""
    script = Path(script).resolve()
    seen: set[Path] = set()
    todo = [script]
    while todo:
        path = todo.pop()
        if path in seen:
            continue
        seen.add(path)
        for module in imports_of(path):
            if module.split(".")[0] == "magmom":
                todo.extend(magmom_files(module))
    return [script] + sorted(seen - {script})


def _without_docstrings(tree: ast.AST) -> ast.AST:
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if (
            isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
            and body
            and isinstance(body[0], ast.Expr)
            and isinstance(body[0].value, ast.Constant)
            and isinstance(body[0].value.value, str)
        ):
            node.body = body[1:] or [ast.Pass()]
    return tree


@cache
def _file_digest(path: Path, mtime_ns: int) -> str:
    tree = _without_docstrings(ast.parse(path.read_text(), filename=str(path)))
    return hashlib.sha256(ast.dump(tree, include_attributes=False).encode()).hexdigest()


def code_sha256(script: str | Path, cache_dir: str | os.PathLike | None = None) -> str:
    """sha256 over the syntax trees (docstrings dropped) of ``script`` and its magmom closure,
    each file named by its path relative to the repository.

    ``cache_dir``: keep the answer in ``<cache_dir>/code-sha256.json`` with the modification time
    and size of every file of the closure, of the directories holding them (a module added or
    removed there can change the closure) and of this module; a later call (every parse of the
    Snakefile asks for each rule's) reuses it while all of them are unchanged, and recomputes it
    otherwise.
    """
    if cache_dir is None:
        return _code_sha256(script)
    script = Path(script).resolve()
    cache = Path(cache_dir) / CODE_CACHE
    try:
        entries = json.loads(cache.read_text())
    except (OSError, ValueError):
        entries = {}
    entry = entries.get(str(script))
    if isinstance(entry, dict) and entry.get("stamps") == _stamps(entry.get("stamps", {})):
        return entry["sha256"]
    sha = _code_sha256(script)
    files = closure(script)
    paths = {*files, *(f.parent for f in files), Path(__file__).resolve()}
    entries[str(script)] = {"sha256": sha, "stamps": _stamps(sorted(map(str, paths)))}
    try:
        cache.parent.mkdir(parents=True, exist_ok=True)
        write_json(cache, entries)
    except OSError:  # a read-only working directory: no cache, the same answer
        pass
    return sha


CODE_CACHE = "code-sha256.json"
"""The file in ``cache_dir`` that keeps :func:`code_sha256`'s answers."""


def _stamps(paths) -> dict[str, list[int] | None]:
    """``{path: [mtime_ns, size]}`` (None: missing) of ``paths``."""
    out = {}
    for path in paths:
        try:
            st = os.stat(path)
            out[path] = [st.st_mtime_ns, st.st_size]
        except OSError:
            out[path] = None
    return out


def _code_sha256(script: str | Path) -> str:
    digest = hashlib.sha256()
    for path in closure(script):
        try:
            name = str(path.relative_to(ROOT))
        except ValueError:
            name = path.name
        digest.update(name.encode() + b"\0")
        digest.update(_file_digest(path, path.stat().st_mtime_ns).encode())
    return digest.hexdigest()
