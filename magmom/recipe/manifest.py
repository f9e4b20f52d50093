"""The slab manifest: one row per slab the recipe enumerates, enough to rebuild it.

Columns (``<results_dir>/recipe/slabs.csv``):

=============== ==============================================================================
slab_id         ``{composition_id}-{lattice}-{placement}-v{variant}``, e.g.
                ``ag012-au088-fcc-random-v3``; lower-case letters, digits, ``-`` and ``_``
composition_id  see :func:`magmom.recipe.compositions.composition_id`
type            pure, binary, ternary, quaternary, quinary, senary, dilute_1, dilute_2,
                binary_proto, ternary_proto
lattice         fcc, bcc or hcp (facets fcc(111), bcc(110), hcp(0001))
placement       ``pure``; ``random``; a dilute placement (``dilute_1_top`` …); a prototype
                (``l1_2_a3b`` …, ``heusler_l21``, ``half_heusler``)
variant         0, 1, … independent random placements of one (composition, lattice)
n_atoms         atoms in the slab
size            ``{nx}x{ny}x{nz}`` repetitions (nz = layers)
elements        space-separated symbols in role order: alphabetical for random alloys and binary
                prototypes (A, B); host, solute for dilute; X, Y, Z of X2YZ
counts          atoms of each element in the slab, same order
=============== ==============================================================================

Random-alloy ids use the nominal fractions (multiples of 1/64); ordered ids the realised counts.
Each (composition, lattice) row of a random alloy gives ``variants`` slabs of its type.

Subset (``recipe.max_slabs_per_type``, presets): per type, the N slabs with the smallest
:func:`~magmom.recipe.seeds.stable_hash` of (seed, slab id), so whether a slab is kept depends
only on its own id and the set of ids of its type, never on row order or on other types.
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import NamedTuple

from magmom.io import write_bytes

from .compositions import random_alloy_compositions
from .ordered import ordered_structures
from .seeds import stable_hash
from .slab_spec import (
    MANIFEST_COLUMNS,
    TYPE_RANK,
    SlabSpec,
    canonical_order,
    ordered_spec,
    random_alloy_spec,
    size_label,
)
from .slab_spec import parse_size as parse_size  # re-export: magmom.dft.cost_model reads it here
from .study_tables import study_table_slabs


def generated_slabs(recipe: Mapping) -> list[SlabSpec]:
    """Every slab the generator enumerates from the study's rules (``recipe.source: generator``)."""
    ra = recipe["random_alloys"]
    ra_size, ra_n = size_label(ra["size"])
    specs: list[SlabSpec] = []
    for comp in random_alloy_compositions(recipe):
        variants = int(ra[comp.comp_type]["variants"])
        for lattice in comp.lattices:
            for v in range(variants):
                spec = random_alloy_spec(
                    comp.id, comp.comp_type, lattice, v, ra_size, ra_n, comp.elements,
                    comp.fractions,
                )  # fmt: skip
                specs.append(spec)

    od = recipe["ordered"]
    size_str = {
        "dilute_1": size_label(od["dilute"]["size"]),
        "dilute_2": size_label(od["dilute"]["size"]),
        "binary_proto": size_label(od["binary_prototypes"]["size"]),
        "ternary_proto": size_label(od["ternary_prototypes"]["size"]),
    }
    for s in ordered_structures(recipe, {t: n for t, (_, n) in size_str.items()}):
        specs.append(ordered_spec(s, size_str[s.comp_type][0]))
    return canonical_order(specs)


def enumerate_slabs(recipe: Mapping) -> list[SlabSpec]:
    """Every slab of the recipe (before ``max_slabs_per_type``), in a canonical order.

    ``recipe.source`` picks where the rows come from: ``study_tables`` (the study's published
    composition lists, :mod:`magmom.recipe.study_tables`) or ``generator`` (this module's
    enumeration of the study's rules).
    """
    source = recipe.get("source", "generator")
    if source == "study_tables":
        return study_table_slabs(recipe)
    if source != "generator":
        raise ValueError(f"recipe.source: {source!r}; allowed: study_tables, generator")
    return generated_slabs(recipe)


def select_subset(specs: Iterable[SlabSpec], max_per_type: int | None, seed: int) -> list[SlabSpec]:
    """At most ``max_per_type`` slabs of each type, chosen by a stable hash of the slab id."""
    specs = list(specs)
    if max_per_type is None:
        return specs
    by_type: dict[str, list[SlabSpec]] = {}
    for s in specs:
        by_type.setdefault(s.comp_type, []).append(s)
    keep = set()
    for members in by_type.values():
        ranked = sorted(members, key=lambda s: (stable_hash(seed, "subset", s.slab_id), s.slab_id))
        keep.update(s.slab_id for s in ranked[:max_per_type])
    return [s for s in specs if s.slab_id in keep]


def recipe_slabs(recipe: Mapping) -> list[SlabSpec]:
    """The slabs the workflow computes: the enumeration, cut to ``max_slabs_per_type``."""
    return select_subset(enumerate_slabs(recipe), recipe.get("max_slabs_per_type"), recipe["seed"])


def manifest_frame(specs: Iterable[SlabSpec]):
    import pandas as pd

    # plain tuples: the columns are named by position (SlabSpec.comp_type is column ``type``)
    return pd.DataFrame.from_records([tuple(s) for s in specs], columns=list(MANIFEST_COLUMNS))


def manifest_bytes(specs: Iterable[SlabSpec]) -> bytes:
    buf = io.StringIO()
    manifest_frame(specs).to_csv(buf, index=False, lineterminator="\n")
    return buf.getvalue().encode()


def write_manifest(specs: Iterable[SlabSpec], path: str | Path) -> bytes:
    """Atomically write the manifest CSV; return its bytes."""
    data = manifest_bytes(specs)
    write_bytes(path, data)
    return data


def read_manifest(path: str | Path):
    """The manifest as a DataFrame (ids as strings, variant and n_atoms as ints)."""
    import pandas as pd

    df = pd.read_csv(path, dtype=str, keep_default_na=False)
    missing = [c for c in MANIFEST_COLUMNS if c not in df.columns]
    if missing:
        raise ValueError(f"{path}: not a slab manifest, missing column(s) {', '.join(missing)}")
    return df.astype({"variant": int, "n_atoms": int})


class RecipeRow(NamedTuple):
    """One row of a composition table: a (composition, lattice, placement) and its slab shape."""

    comp_type: str
    composition_id: str
    lattice: str
    placement: str
    size: str
    elements: str
    counts: str


def recipe_rows(specs: Iterable[SlabSpec]) -> dict[RecipeRow, int]:
    """The table rows behind ``specs`` and the number of variants of each, in first-seen order."""
    rows: dict[RecipeRow, int] = {}
    for s in specs:
        key = RecipeRow(s.comp_type, s.composition_id, s.lattice, s.placement, s.size, s.elements,
                        s.counts)  # fmt: skip
        rows[key] = rows.get(key, 0) + 1
    return rows


def type_summary(specs: Iterable[SlabSpec]) -> dict[str, dict[str, int]]:
    """Per type: distinct compositions, (composition, lattice) rows and slabs."""
    out: dict[str, dict[str, set | int]] = {}
    for s in specs:
        d = out.setdefault(s.comp_type, {"compositions": set(), "rows": set(), "slabs": 0})
        d["compositions"].add(s.composition_id)
        d["rows"].add((s.composition_id, s.lattice, s.placement))
        d["slabs"] += 1
    return {
        t: {"compositions": len(d["compositions"]), "rows": len(d["rows"]), "slabs": d["slabs"]}
        for t, d in sorted(out.items(), key=lambda kv: TYPE_RANK[kv[0]])
    }
