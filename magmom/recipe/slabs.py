"""Slab geometry: from a manifest row to an :class:`ase.Atoms` ready for the DFT stage.

* Facets fcc(111), bcc(110), hcp(0001) from ``ase.build`` (``fcc111``, ``bcc110``, ``hcp0001``),
  ``size`` = (nx, ny, layers). The orthogonal cell is used where ASE allows it (even ny) and the
  ordering fits it; otherwise the primitive (60°/120°) in-plane cell.
* Lattice constant of an alloy on lattice :math:`L` (Vegard's law over the atom fractions
  :math:`x_i` of the slab):

  .. math::
      a = \\sum_i x_i\\, a_{0,i}^{L}, \\qquad (c/a) = \\sum_i x_i\\, (c/a)_i^{L}

  with :math:`a_0` and :math:`c/a` from the lattice table, whose hcp entries all follow the one
  c/a rule ``recipe.hcp_c_over_a`` (:mod:`magmom.recipe.lattice_table`).
* ``recipe.vacuum`` Å of vacuum on each side along z; pbc (True, True, False); the bottom
  ``recipe.fixed_layers`` layers under :class:`ase.constraints.FixAtoms`; ASE tags = layer number
  (1 = top).
* Random alloys: the species multiset permuted over the sites with a generator seeded by
  (``recipe.seed``, slab id) — a slab's placement never depends on any other slab.
* Initial magnetic moments: the table's ``magmom`` of each element on the slab's lattice.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections import Counter
from collections.abc import Iterable, Mapping
from pathlib import Path

import numpy as np

from magmom.elements import is_spin_polarised
from magmom.slab_geometry import bottom_layers

from .lattice_table import lattice_entry
from .ordered import (
    BINARY_PROTOTYPES,
    TERNARY_PROTOTYPES,
    Incommensurate,
    decorate_dilute,
    decorate_ordered,
)
from .seeds import stable_rng
from .slab_spec import parse_size

log = logging.getLogger(__name__)

_SIZE_KEY = {
    "pure": "recipe.random_alloys.size",
    "binary": "recipe.random_alloys.size",
    "ternary": "recipe.random_alloys.size",
    "quaternary": "recipe.random_alloys.size",
    "quinary": "recipe.random_alloys.size",
    "senary": "recipe.random_alloys.size",
    "dilute_1": "recipe.ordered.dilute.size",
    "dilute_2": "recipe.ordered.dilute.size",
    "binary_proto": "recipe.ordered.binary_prototypes.size",
    "ternary_proto": "recipe.ordered.ternary_prototypes.size",
}


def vegard_lattice(
    elements, counts, lattice: str, table: Mapping, recipe: Mapping
) -> tuple[float, float | None]:
    """(a, c/a) of the alloy on ``lattice``; c/a is None for fcc and bcc."""
    n = float(sum(counts))
    a = 0.0
    coa = 0.0
    for el, c in zip(elements, counts, strict=True):
        e = lattice_entry(table, el, lattice, recipe["default_magmom"], recipe["hcp_c_over_a"])
        a += c / n * e["a0"]
        coa += c / n * (e["c_over_a"] or 0.0)  # null for fcc/bcc
    return a, (coa if lattice == "hcp" else None)


def base_slab(lattice: str, size, a: float, c_over_a: float | None, vacuum: float, orthogonal):
    """A one-species slab (placeholder Cu) of the recipe's facet for ``lattice``."""
    from ase.build import bcc110, fcc111, hcp0001

    size = tuple(int(s) for s in size)
    if lattice == "fcc":
        return fcc111("Cu", size=size, a=a, vacuum=vacuum, orthogonal=orthogonal)
    if lattice == "bcc":
        return bcc110("Cu", size=size, a=a, vacuum=vacuum, orthogonal=orthogonal)
    if lattice == "hcp":
        return hcp0001("Cu", size=size, a=a, c=a * c_over_a, vacuum=vacuum, orthogonal=orthogonal)
    raise ValueError(f"unknown lattice {lattice!r}; allowed: fcc, bcc, hcp")


def _species(row: Mapping, base, elements, counts, a: float, seed: int) -> list[str]:
    placement = row["placement"]
    if placement in ("pure", "random"):
        pool = np.repeat(np.array(elements, dtype=object), counts)
        perm = stable_rng(seed, "placement", row["slab_id"]).permutation(len(pool))
        return [str(s) for s in pool[perm]]
    if placement.startswith("dilute_"):
        return decorate_dilute(base, placement, elements)
    if placement in BINARY_PROTOTYPES or placement in TERNARY_PROTOTYPES:
        return decorate_ordered(base, placement, elements, row["lattice"], a)
    raise ValueError(f"slab {row['slab_id']}: unknown placement {placement!r}")


def build_slab(row: Mapping, recipe: Mapping, table: Mapping):
    """The initial structure of one manifest row (see the module docstring for the rules)."""
    slab_id = row["slab_id"]
    lattice = row["lattice"]
    size = parse_size(row["size"])
    elements = row["elements"].split()
    counts = [int(c) for c in str(row["counts"]).split()]
    if sum(counts) != int(row["n_atoms"]) or np.prod(size) != int(row["n_atoms"]):
        raise ValueError(
            f"slab {slab_id}: counts {counts} / size {row['size']} disagree with "
            f"n_atoms={row['n_atoms']}"
        )
    a, coa = vegard_lattice(elements, counts, lattice, table, recipe)
    shapes = (True, False) if size[1] % 2 == 0 else (False,)
    last_error: Exception | None = None
    for orthogonal in shapes:
        atoms = base_slab(lattice, size, a, coa, recipe["vacuum"], orthogonal)
        try:
            symbols = _species(row, atoms, elements, counts, a, int(recipe["seed"]))
            break
        except Incommensurate as err:
            last_error = err
    else:
        raise ValueError(
            f"slab {slab_id}: placement {row['placement']} does not fit a "
            f"{row['size']} {lattice} slab ({last_error}); change "
            f"{_SIZE_KEY.get(row['type'], 'the size')}"
        )
    got = Counter(symbols)
    want = dict(zip(elements, counts, strict=True))
    if dict(got) != want:
        raise ValueError(
            f"slab {slab_id}: placement {row['placement']} on a {row['size']} slab gives "
            f"{dict(sorted(got.items()))}, the manifest says {want}; change "
            f"{_SIZE_KEY.get(row['type'], 'the size')}"
        )
    atoms.set_chemical_symbols(symbols)
    finish_slab(atoms, row, recipe, table, a, coa)
    return atoms


def finish_slab(atoms, row: Mapping, recipe: Mapping, table: Mapping, a: float, coa) -> None:
    """Moments, constraints, pbc and ``atoms.info`` of a decorated slab (in place)."""
    from ase.constraints import FixAtoms

    lattice = row["lattice"]
    moments = {
        el: lattice_entry(table, el, lattice, recipe["default_magmom"], recipe["hcp_c_over_a"])[
            "magmom"
        ]
        for el in set(atoms.get_chemical_symbols())
    }
    atoms.set_initial_magnetic_moments([moments[s] for s in atoms.get_chemical_symbols()])
    fixed = bottom_layers(atoms, int(recipe["fixed_layers"]))
    atoms.set_constraint(FixAtoms(indices=fixed) if len(fixed) else [])
    atoms.pbc = (True, True, False)
    atoms.info.update(
        slab_id=row["slab_id"],
        composition_id=row["composition_id"],
        comp_type=row["type"],
        lattice=lattice,
        facet=recipe["facets"][lattice],
        placement=row["placement"],
        variant=int(row["variant"]),
        lattice_constant=round(float(a), 6),
        spinpol=is_spin_polarised(atoms.get_chemical_symbols()),
    )
    if coa is not None:
        atoms.info["c_over_a"] = round(float(coa), 6)


# ---- the initial-structure database ---------------------------------------------------------
DB_KEYS = ("slab_id", "composition_id", "comp_type", "lattice", "placement", "variant", "spinpol")


def _build_key(manifest: bytes, recipe: Mapping, table: Mapping) -> str:
    h = hashlib.sha256(manifest)
    h.update(json.dumps(recipe, sort_keys=True, default=str).encode())
    h.update(json.dumps(table, sort_keys=True).encode())
    return h.hexdigest()


def write_initial_slabs(
    rows: Iterable[Mapping],
    recipe: Mapping,
    table: Mapping,
    path: str | Path,
    manifest: bytes,
    chunk: int = 500,
    progress: bool = True,
) -> int:
    """Build every row's slab into the ASE db ``path`` (key ``slab_id``); return the row count.

    Resumable and atomic: rows go to ``.{name}.partial`` beside ``path``, committed every
    ``chunk`` slabs; a rerun with the same manifest, recipe and table continues where the last
    one stopped (a different one starts over); the finished file is renamed onto ``path``.
    """
    from ase.db import connect
    from tqdm import tqdm

    rows = list(rows)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.partial.db")
    key = _build_key(manifest, recipe, table)
    done: set[str] = set()
    if partial.exists():
        try:
            db = connect(partial, type="db")
            if db.metadata.get("build_key") == key:
                done = {r.slab_id for r in db.select(columns=["key_value_pairs"])}
                log.info("resuming %s: %d of %d slabs already built", path, len(done), len(rows))
        except Exception as err:  # a torn file from a killed job: start over
            log.warning("discarding unreadable partial database %s (%s)", partial, err)
        if not done:
            partial.unlink()
    db = connect(partial, type="db", append=True)
    if not done:
        db.metadata = {"build_key": key, "manifest_sha256": hashlib.sha256(manifest).hexdigest()}
    todo = [r for r in rows if r["slab_id"] not in done]
    bar = tqdm(total=len(rows), initial=len(done), desc="slabs", unit="slab", disable=not progress)
    for start in range(0, len(todo), chunk):
        with db:
            for row in todo[start : start + chunk]:
                atoms = build_slab(row, recipe, table)
                kvp = {k: atoms.info[k] for k in DB_KEYS}
                db.write(atoms, key_value_pairs=kvp)
                bar.update()
    bar.close()
    n = db.count()
    if n != len(rows):
        raise RuntimeError(f"{partial}: holds {n} slabs, the manifest {len(rows)}")
    with open(partial, "rb+") as fh:
        os.fsync(fh.fileno())
    os.replace(partial, path)
    return n
