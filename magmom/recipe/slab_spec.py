"""One slab of the recipe as the manifest writes it (:class:`SlabSpec`), and the pieces both
recipe sources build it from: slab ids, sizes, atom counts and the canonical order.

The generator (:mod:`magmom.recipe.manifest`) and the study's tables
(:mod:`magmom.recipe.study_tables`) both build their rows here, so a row gives the same slab id
whichever source it comes from; the manifest's columns are documented in
:mod:`magmom.recipe.manifest`.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from typing import NamedTuple

from .compositions import COMPOSITION_TYPES, composition_id
from .ordered import OrderedStructure

MANIFEST_COLUMNS = (
    "slab_id", "composition_id", "type", "lattice", "placement", "variant", "n_atoms",
    "size", "elements", "counts",
)  # fmt: skip
"""The manifest's columns, in :class:`SlabSpec`'s field order."""
TYPE_RANK = {t: i for i, t in enumerate(COMPOSITION_TYPES)}


class SlabSpec(NamedTuple):
    """One manifest row."""

    slab_id: str
    composition_id: str
    comp_type: str  # the manifest's column ``type``
    lattice: str
    placement: str
    variant: int
    n_atoms: int
    size: str
    elements: str
    counts: str

    def manifest_row(self) -> dict:
        """The slab as a manifest row: ``{column: value}`` (:data:`MANIFEST_COLUMNS`)."""
        return dict(zip(MANIFEST_COLUMNS, self, strict=True))


def make_slab_id(composition_id: str, lattice: str, placement: str, variant: int) -> str:
    return f"{composition_id}-{lattice}-{placement}-v{variant}"


def apportion(fractions: Sequence[float], n: int) -> tuple[int, ...]:
    """Integer atom counts summing to ``n``, each >= 1, closest to ``fractions · n``.

    Largest-remainder rounding (ties to the earlier element); exact whenever ``fractions · n``
    are integers (the full recipe: multiples of 1/64 on 64 sites).
    """
    k = len(fractions)
    if n < k:
        raise ValueError(f"{k} elements do not fit in a slab of {n} atoms")
    raw = [float(x) * n for x in fractions]
    counts = [max(1, math.floor(r + 1e-9)) for r in raw]
    while sum(counts) < n:
        i = max(range(k), key=lambda j: (raw[j] - counts[j], -j))
        counts[i] += 1
    while sum(counts) > n:
        i = min((j for j in range(k) if counts[j] > 1), key=lambda j: (raw[j] - counts[j], j))
        counts[i] -= 1
    return tuple(counts)


def size_label(spec: Sequence[int]) -> tuple[str, int]:
    nx, ny, nz = (int(s) for s in spec)
    return f"{nx}x{ny}x{nz}", nx * ny * nz


def parse_size(size: str) -> tuple[int, int, int]:
    nx, ny, nz = (int(s) for s in size.split("x"))
    return nx, ny, nz


def ordered_spec(s: OrderedStructure, size: str) -> SlabSpec:
    n = sum(s.counts)
    comp = composition_id(s.elements, [c / n for c in s.counts])
    return SlabSpec(
        make_slab_id(comp, s.lattice, s.placement, 0), comp, s.comp_type, s.lattice, s.placement,
        0, n, size, " ".join(s.elements), " ".join(map(str, s.counts)),
    )  # fmt: skip


def random_alloy_spec(
    comp_id: str, comp_type: str, lattice: str, variant: int, size: str, n_atoms: int,
    elements: Sequence[str], fractions: Sequence[float],
) -> SlabSpec:  # fmt: skip
    """The manifest row of one random-alloy slab (``pure`` or ``random`` placement)."""
    placement = "pure" if comp_type == "pure" else "random"
    counts = " ".join(map(str, apportion(fractions, n_atoms)))
    return SlabSpec(
        make_slab_id(comp_id, lattice, placement, variant), comp_id, comp_type, lattice,
        placement, variant, n_atoms, size, " ".join(elements), counts,
    )  # fmt: skip


def canonical_order(specs: list[SlabSpec]) -> list[SlabSpec]:
    """``specs`` sorted by (type, slab id); a duplicate slab id is an error."""
    specs.sort(key=lambda s: (TYPE_RANK[s.comp_type], s.slab_id))
    ids = [s.slab_id for s in specs]
    if len(set(ids)) != len(ids):
        dup = sorted(i for i, c in Counter(ids).items() if c > 1)
        raise RuntimeError(f"duplicate slab ids: {dup[:5]}")
    return specs
