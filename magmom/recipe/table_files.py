"""Where the study's recipe tables are (``recipe.study_tables``), and a fingerprint of their bytes.

Kept apart from :mod:`magmom.recipe.study_tables` because the slab index needs both on every parse
of the Snakefile, cached or not, and this module imports nothing heavy.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
"""Relative table paths are resolved against the repository (the directory of the Snakefile)."""

TABLE_KEYS: tuple[str, ...] = ("compositions", "ordered")


class RecipeTableError(ValueError):
    """A recipe table is missing or breaks the layout; the message names file, line and column."""


def table_paths(recipe: Mapping) -> dict[str, Path]:
    """``recipe.study_tables`` as absolute paths (relative ones against the repository)."""
    tables = recipe.get("study_tables") or {}
    out = {}
    for key in TABLE_KEYS:
        if not tables.get(key):
            raise RecipeTableError(
                f"config key 'recipe.study_tables.{key}' is not set "
                "(needed by recipe.source: study_tables)"
            )
        path = Path(tables[key]).expanduser()
        out[key] = path if path.is_absolute() else REPO_ROOT / path
    return out


def tables_digest(recipe: Mapping) -> str:
    """SHA256 over the bytes of both tables (part of the slab-index cache key)."""
    h = hashlib.sha256()
    for key, path in table_paths(recipe).items():
        try:
            h.update(path.read_bytes())
        except FileNotFoundError:
            raise RecipeTableError(
                f"config key 'recipe.study_tables.{key}': file not found: {path}"
            ) from None
    return h.hexdigest()
