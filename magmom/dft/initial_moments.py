"""Initial magnetic moments of a slab's spin-polarised SCF: the ``dft.initial_moments`` policy.

A spin-polarised SCF that starts without a moment keeps none: the non-magnetic state is a
self-consistent solution too. The start therefore decides the label wherever a magnetic solution
exists but the start lies below it: bulk bcc Cr and V are non-magnetic in a ferromagnetic
calculation, so an equation of state leaves them at :math:`\\approx 0` μB, yet their surfaces (and
Mn's) carry moments. The policy says where every atom starts:

=============== ==================================================================================
policy          start :math:`m_i^0` of atom :math:`i` (element :math:`X_i`, layer :math:`\\ell_i`)
=============== ==================================================================================
``eos``         the lattice table's moment of :math:`X_i` on the slab's lattice, as the recipe
                stored it in the slab (the study's rule; kept for exact reproduction)
``floor``       :math:`\\max(m_i^\\mathrm{table}, f_{X_i})`, ferromagnetic, with the per-element
                floor :math:`f_X` of :data:`MOMENT_FLOOR` (0 for elements without one)
``floor-afm``   two starts when the slab holds Cr or Mn: ``floor``, and ``afm``, the same
                magnitudes with Cr and Mn signs alternating layer by layer,
                :math:`m_i^0 = (-1)^{\\ell_i} \\max(m_i^\\mathrm{table}, f_{X_i})` (ASE tags,
                :math:`\\ell = 1` at the top); both are labelled and the lower energy is kept.
                A slab without Cr or Mn gets the ``floor`` start alone
=============== ==================================================================================

The start applies to both GPAW stages: under ``floor`` and ``floor-afm`` the plane-wave stage
starts from it again rather than from the LCAO warm-up's converged moments, because the warm-up
(single-zeta basis, coarse grid) can lose a weak moment for good — a two-layer Cr(110) slab
started at 3 μB leaves the LCAO stage at ≈ 0 μB and the plane-wave stage then keeps none, while a
plane-wave calculation from the same start converges to 0.23 μB per atom, 3.6 meV lower. Under
``eos`` the plane-wave stage starts from the LCAO moments, as in the study.

The floors (:data:`MOMENT_FLOOR`, μB) sit at or above the largest moment the element carries in
a metallic environment, surfaces included (surface moments exceed bulk ones because the
d band narrows), so that the SCF approaches a magnetic solution from above instead of settling
in the non-magnetic one below it: Fe 3.0 (bulk 2.2, surfaces ≈ 2.9), Co 2.0 (bulk 1.6,
surfaces ≈ 1.8), Ni 1.0 (bulk 0.6, surfaces ≈ 0.7), Mn 3.5 (1–3 in bcc/fcc Mn, up to ≈ 4 in
monolayers and dilute), Cr 3.0 (bulk spin-density wave ≈ 0.6, surfaces 2–3), V 2.0 (non-magnetic
bulk; surface moments predicted up to ≈ 1.5). ``benchmarks/initial_moments.py`` measures the
policies with GPAW on Cr, V and Mn slabs and two alloys.

Layer-alternating (not the bulk B2 sublattice order, which lies inside a bcc(110) layer) is the
antiferromagnetic start that every lattice and cell shape allows, including one atom per layer.

The CHGNet surrogate labeller (:mod:`magmom.dft.surrogate`) predicts moments from the structure
alone: no SCF, no start, and the policy does not apply (its records say so).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

POLICIES: tuple[str, ...] = ("eos", "floor", "floor-afm")

MOMENT_FLOOR: dict[str, float] = {
    "Fe": 3.0, "Co": 2.0, "Ni": 1.0, "Mn": 3.5, "Cr": 3.0, "V": 2.0,
}  # fmt: skip
"""Smallest initial moment (μB) of each moment-capable element under ``floor`` (see above)."""

AFM_ELEMENTS: tuple[str, ...] = ("Cr", "Mn")
"""Elements whose moments alternate by layer in the ``afm`` start of ``floor-afm``."""

SURROGATE_NOTE = "not applied: CHGNet predicts moments from the structure, without an SCF start"


@dataclass(frozen=True)
class Start:
    """One initial-moment configuration of a slab: its name and per-atom moments (μB)."""

    name: str
    magmoms: np.ndarray


def check_policy(policy: str) -> str:
    if policy not in POLICIES:
        raise ValueError(
            f"config key 'dft.initial_moments': {policy!r} is not allowed; allowed values: "
            f"{', '.join(POLICIES)}"
        )
    return policy


def floored(symbols: Sequence[str], table_magmoms) -> np.ndarray:
    """:math:`\\max(|m_i^\\mathrm{table}|, f_{X_i})` per atom (ferromagnetic, non-negative)."""
    m = np.abs(np.asarray(table_magmoms, dtype=float))
    floor = np.array([MOMENT_FLOOR.get(s, 0.0) for s in symbols])
    return np.maximum(m, floor)


def layer_alternating(symbols: Sequence[str], tags, magmoms) -> np.ndarray:
    """``magmoms`` with the sign of every Cr/Mn atom set to :math:`(-1)^{\\ell}` (tag = layer)."""
    tags = np.asarray(tags, dtype=int)
    if len(tags) and tags.min() < 1:
        raise ValueError("an antiferromagnetic start needs layer tags (ASE tags, 1 = top layer)")
    sign = np.where(tags % 2 == 1, -1.0, 1.0)
    afm = np.array([s in AFM_ELEMENTS for s in symbols])
    m = np.abs(np.asarray(magmoms, dtype=float))
    return np.where(afm, sign * m, m)


def starts(atoms, policy: str) -> list[Start]:
    """The start(s) ``policy`` gives ``atoms`` (whose initial moments are the table's)."""
    check_policy(policy)
    symbols = atoms.get_chemical_symbols()
    table = atoms.get_initial_magnetic_moments()
    if policy == "eos":
        return [Start("eos", np.asarray(table, dtype=float).copy())]
    ferro = floored(symbols, table)
    out = [Start("floor", ferro)]
    if policy == "floor-afm" and any(s in AFM_ELEMENTS for s in symbols):
        out.append(Start("afm", layer_alternating(symbols, atoms.get_tags(), ferro)))
    return out


def plane_wave_start(policy: str, start: Start) -> np.ndarray | None:
    """Initial moments of the plane-wave stage: ``start``'s again, or None (the LCAO stage's
    converged moments) under ``eos``."""
    return None if check_policy(policy) == "eos" else start.magmoms


def lowest_energy(energies: Sequence[float | None]) -> int | None:
    """Index of the lowest finite energy (the first on a tie); None when none is finite."""
    best = None
    for i, e in enumerate(energies):
        if e is not None and np.isfinite(e) and (best is None or e < energies[best]):
            best = i
    return best
