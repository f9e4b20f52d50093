"""The slab index: every slab id of the configured recipe, known when the Snakefile is parsed.

Snakemake parses the Snakefile for the main process and again in every cluster job, so the list
is cached on disk under a key that changes exactly when the result could change:

.. math::
    \\mathrm{key} = \\mathrm{SHA256}\\big(\\mathrm{json}(\\texttt{config["recipe"]}) \\,\\|\\,
    \\text{source of } \\texttt{magmom/recipe/*.py}, \\texttt{magmom/elements.py},
    \\texttt{magmom/layout.py}
    \\,\\|\\, \\text{bytes of the study tables (source \\texttt{study\\_tables})}\\big)

A cached call reads one text file (milliseconds); a cold call enumerates the recipe (well under
the 2 s budget for the full config, see ``benchmarks/recipe_enumeration.py``) and writes the file
atomically, so concurrent parses never see a torn list. This module imports nothing heavy: the
enumeration is imported only on a cache miss.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping
from pathlib import Path

from .table_files import tables_digest

_PACKAGE = Path(__file__).resolve().parent
_KEEP_CACHED = 8  # older index files of other configs are pruned beyond this many


def code_version() -> str:
    """SHA256 over the sources the enumeration depends on."""
    h = hashlib.sha256()
    shared = [_PACKAGE.parent / "elements.py", _PACKAGE.parent / "layout.py"]
    for path in sorted(_PACKAGE.glob("*.py")) + shared:
        h.update(path.name.encode())
        h.update(path.read_bytes())
    return h.hexdigest()


def cache_key(recipe: Mapping) -> str:
    h = hashlib.sha256(json.dumps(recipe, sort_keys=True, default=str).encode())
    h.update(code_version().encode())
    if recipe.get("source") == "study_tables":
        h.update(tables_digest(recipe).encode())
    return h.hexdigest()[:20]


def slab_index(config: Mapping, cache_dir: str | os.PathLike) -> list[str]:
    """Slab ids of ``config["recipe"]`` (after ``max_slabs_per_type``), in manifest order."""
    recipe = config["recipe"]
    cache_dir = Path(cache_dir)
    path = cache_dir / f"slab-index-{cache_key(recipe)}.txt"
    try:
        return path.read_text().split()
    except FileNotFoundError:
        pass
    from magmom.io import write_text

    from .manifest import recipe_slabs

    ids = [s.slab_id for s in recipe_slabs(recipe)]
    write_text(path, "".join(f"{i}\n" for i in ids))
    _prune(cache_dir, keep=path)
    return ids


def _prune(cache_dir: Path, keep: Path) -> None:
    files = sorted(cache_dir.glob("slab-index-*.txt"), key=lambda p: p.stat().st_mtime)
    for old in files[:-_KEEP_CACHED]:
        if old != keep:
            old.unlink(missing_ok=True)
