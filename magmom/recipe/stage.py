"""The work of rule ``slab_recipe``: manifest + initial structures from the config and the table."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from pathlib import Path

from magmom.io import write_bytes
from magmom.layout import ORDERED_TYPES

from .lattice_table import check_c_over_a_rule, complete_lattice_table, load_lattice_table
from .manifest import SlabSpec, enumerate_slabs, manifest_bytes, recipe_slabs, type_summary
from .slabs import write_initial_slabs

log = logging.getLogger(__name__)

STUDY_ROW_COUNTS = {"random_alloy_rows": 6749, "ordered_rows": 5615}
"""Row counts of the study's published composition lists (for the log)."""


def required_lattice_entries(specs: Iterable[SlabSpec]) -> list[tuple[str, str]]:
    """Sorted (element, lattice) pairs the slabs of ``specs`` need from the lattice table."""
    return sorted({(el, s.lattice) for s in specs for el in s.elements.split()})


def log_summary(specs: list[SlabSpec], enumerated: int) -> None:
    summary = type_summary(specs)
    for comp_type, d in summary.items():
        log.info(
            "%-14s %5d compositions %5d rows %6d slabs",
            comp_type, d["compositions"], d["rows"], d["slabs"],
        )  # fmt: skip
    ordered = set(ORDERED_TYPES)
    rows_random = sum(d["rows"] for t, d in summary.items() if t not in ordered)
    rows_ordered = sum(d["rows"] for t, d in summary.items() if t in ordered)
    log.info(
        "random-alloy rows %d (study's tables %d), ordered rows %d (study's tables %d); "
        "%d slabs kept of %d",
        rows_random, STUDY_ROW_COUNTS["random_alloy_rows"],
        rows_ordered, STUDY_ROW_COUNTS["ordered_rows"],
        len(specs), enumerated,
    )  # fmt: skip


def run_slab_recipe(
    recipe: Mapping,
    lattice_table_path: str | Path,
    manifest_path: str | Path,
    slabs_path: str | Path,
    progress: bool = True,
    chunk: int = 500,
) -> list[SlabSpec]:
    """Write the manifest CSV and the initial-structure db; return the manifest rows."""
    recipe = dict(recipe)
    source = recipe.get("source", "generator")
    if source == "study_tables":
        from .table_files import table_paths

        paths = table_paths(recipe)
        log.info("recipe source: the study's tables %s", ", ".join(map(str, paths.values())))
    else:
        log.info("recipe source: the generator (the study's rules on recipe.elements)")
    specs = recipe_slabs(recipe)
    if not specs:
        raise ValueError(
            "the recipe enumerates no slab: check recipe.elements and recipe.max_slabs_per_type"
        )
    log_summary(specs, len(enumerate_slabs(recipe)))
    table = load_lattice_table(lattice_table_path)
    need = required_lattice_entries(specs)
    missing = [(el, lat) for el, lat in need if lat not in table.get(el, {})]
    if missing:
        log.warning(
            "%s lacks %d of the %d (element, lattice) entries the slabs need; using fallbacks",
            lattice_table_path, len(missing), len(need),
        )  # fmt: skip
        table = complete_lattice_table(
            table, missing, recipe["default_magmom"], recipe["hcp_c_over_a"]
        )
    check_c_over_a_rule(table, recipe["hcp_c_over_a"], str(lattice_table_path))
    data = manifest_bytes(specs)
    n = write_initial_slabs(
        [s.manifest_row() for s in specs],
        recipe,
        table,
        slabs_path,
        data,
        chunk=chunk,
        progress=progress,
    )
    write_bytes(manifest_path, data)
    log.info("wrote %d slabs to %s and %s", n, slabs_path, manifest_path)
    return specs
