"""The settings that shape a slab's initial structure: the ``dft_slab`` rerun trigger.

Rule ``dft_slab`` reads the recipe's initial-structure db through ``ancient()``: rebuilding the db
(any recipe edit rewrites it) must not relabel 23k finished slabs. What does change a slab's
structure reaches its job through a small input file per lattice x family instead, written by
rule ``slab_settings`` from its params: a changed setting rewrites the file of the slabs it shapes
(Snakemake's params trigger), and exactly those slabs are relabelled, in the same run. (A params
trigger on ``dft_slab`` itself would not do: while the rebuilt recipe db's job is pending,
Snakemake does not look at the params of jobs downstream of it, so the relabelling would wait for
the next run.)

- every slab: ``recipe.vacuum``, ``fixed_layers``, ``default_magmom``, ``hcp_c_over_a``, ``seed``,
  the facet of its lattice, and the ``eos`` section (with a GPAW EOS's DFT settings): lattice
  constants and initial moments come from the equation of state;
- pure and random-alloy slabs (family ``random``): ``recipe.random_alloys.size``;
- dilute slabs, binary prototypes, Heusler-type prototypes (families ``dilute``,
  ``binary_prototypes``, ``ternary_prototypes``): ``recipe.ordered.<family>.size`` (generator only:
  the study's tables carry the size of every ordered row).

Settings that only decide *which* slabs exist (fractions, counts, ``max_slabs_per_type``,
``elements``) change slab ids, not the structure behind an id, and are left out.
"""

from __future__ import annotations

from collections.abc import Mapping

from magmom.layout import LATTICES
from magmom.recipe.ordered import BINARY_PROTOTYPES, DILUTE_PLACEMENTS, TERNARY_PROTOTYPES

SHARED_KEYS = ("vacuum", "fixed_layers", "default_magmom", "hcp_c_over_a", "seed")
"""Recipe keys that shape every slab."""

FAMILIES = ("random", "dilute", "binary_prototypes", "ternary_prototypes")
"""Slab families by the size setting they take (``random``: pure and random alloys)."""


def placement_family(placement: str) -> str:
    """The family (:data:`FAMILIES`) of a slab placement."""
    if placement in ("pure", "random"):
        return "random"
    if any(placement in names for names in DILUTE_PLACEMENTS.values()):
        return "dilute"
    if placement in BINARY_PROTOTYPES:
        return "binary_prototypes"
    if placement in TERNARY_PROTOTYPES:
        return "ternary_prototypes"
    raise ValueError(f"unknown slab placement {placement!r}")


def slab_family(slab_id: str) -> tuple[str, str]:
    """(lattice, family) of a slab id ``{composition_id}-{lattice}-{placement}-v{variant}``."""
    for lattice in LATTICES:
        marker = f"-{lattice}-"
        if marker in slab_id:
            placement = slab_id.rsplit(marker, 1)[1].rsplit("-v", 1)[0]
            return lattice, placement_family(placement)
    raise ValueError(f"slab id {slab_id!r} names no lattice ({', '.join(LATTICES)})")


def family_settings(recipe: Mapping, eos: Mapping, lattice: str, family: str) -> dict:
    """Every setting that shapes the slabs of ``lattice`` x ``family`` (list above). ``eos`` is
    what the EOS jobs run with (the ``eos`` section and, for a GPAW EOS, its DFT settings)."""
    if family not in FAMILIES:
        raise ValueError(f"unknown slab family {family!r}; families: {', '.join(FAMILIES)}")
    out = {key: recipe.get(key) for key in SHARED_KEYS}
    out["facet"] = recipe["facets"][lattice]
    out["eos"] = eos
    if family == "random":
        out["size"] = recipe["random_alloys"]["size"]
    elif recipe.get("source") != "study_tables":  # the tables carry every ordered row's size
        out["size"] = recipe["ordered"][family]["size"]
    return out
