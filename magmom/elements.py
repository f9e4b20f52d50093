"""Physical facts about the 21 metals (:data:`magmom.layout.ELEMENTS`) that the recipe uses.

Natural lattices and facets follow the study: fcc(111), bcc(110) and hcp(0001). Covalent radii are
ASE's table (Cordero et al. 2008, low-spin values for Mn/Fe/Co), used only for the size-mismatch
filter and the last-resort lattice-constant estimate.
"""

from __future__ import annotations

from ase.data import atomic_numbers, covalent_radii

NATURAL_LATTICE: dict[str, str] = {
    **{el: "fcc" for el in ("Ag", "Al", "Au", "Ir", "Ni", "Pd", "Pt", "Rh", "Cu")},
    **{el: "bcc" for el in ("Cr", "Fe", "Mn", "Mo", "V", "W")},
    **{el: "hcp" for el in ("Co", "Os", "Re", "Ru", "Ti", "Zn")},
}

FACET: dict[str, str] = {"fcc": "111", "bcc": "110", "hcp": "0001"}

SPIN_POLARISED_ELEMENTS: frozenset[str] = frozenset(
    ("Co", "Cr", "Cu", "Fe", "Mn", "Mo", "Ni", "Os", "Ru", "V", "W")
)
"""A slab holding any of these is computed spin-polarised."""

STRONGLY_MAGNETIC: tuple[str, ...] = ("Co", "Cr", "Fe", "Mn", "Ni", "V")

IDEAL_HCP_C_OVER_A = (8.0 / 3.0) ** 0.5  # 1.633


def covalent_radius_pm(symbol: str) -> float:
    """Covalent radius of ``symbol`` in picometres (ASE / Cordero table)."""
    return float(covalent_radii[atomic_numbers[symbol]] * 100.0)


def is_spin_polarised(symbols) -> bool:
    """True when any of ``symbols`` is in :data:`SPIN_POLARISED_ELEMENTS`."""
    return any(s in SPIN_POLARISED_ELEMENTS for s in symbols)
