"""Physical facts about the 21 metals (:data:`magmom.layout.ELEMENTS`) that the recipe uses.

Natural lattices and facets follow the study: fcc(111), bcc(110) and hcp(0001). Covalent radii are
the study's own table (recovered from its published composition lists: every size-filtered row
passes with these values and every dropped pair fails), used for the size-mismatch filter and the
last-resort lattice-constant estimate. They are not ASE's table (Cordero et al. 2008), which gives
Cr 139, Fe 132, Mn 139 and V 153 pm and so keeps a different set of element combinations.
"""

from __future__ import annotations

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

COVALENT_RADIUS_PM: dict[str, float] = {
    "Ag": 145, "Al": 121, "Au": 136, "Co": 126, "Cr": 127, "Cu": 132, "Fe": 126,
    "Ir": 141, "Mn": 132, "Mo": 154, "Ni": 124, "Os": 144, "Pd": 139, "Pt": 136,
    "Re": 151, "Rh": 142, "Ru": 146, "Ti": 160, "V": 134, "W": 162, "Zn": 122,
}  # fmt: skip
"""The study's covalent radii (pm) of the 21 metals."""


def covalent_radius_pm(symbol: str) -> float:
    """Covalent radius of ``symbol`` in picometres (the study's table)."""
    try:
        return float(COVALENT_RADIUS_PM[symbol])
    except KeyError:
        raise ValueError(
            f"no covalent radius for {symbol!r}; known: {', '.join(COVALENT_RADIUS_PM)}"
        ) from None


def is_spin_polarised(symbols) -> bool:
    """True when any of ``symbols`` is in :data:`SPIN_POLARISED_ELEMENTS`."""
    return any(s in SPIN_POLARISED_ELEMENTS for s in symbols)
