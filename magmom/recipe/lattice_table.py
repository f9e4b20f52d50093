"""The lattice-constant / initial-moment table every slab is built from.

Format (``<results_dir>/eos/lattice_table.json``, written by the ``lattice_table`` rule)::

    {element: {lattice: {"a0": Å, "c_over_a": float | null, "magmom": μB, "source": str}}}

``c_over_a`` is set for every hcp entry and null for fcc/bcc. ``source`` says where the numbers
come from (e.g. ``gpaw-eos``, ``chgnet-eos``, or one of the fallbacks below).

**One c/a rule per table** (``recipe.hcp_c_over_a``), obeyed by the equation of state and by every
fallback alike, so that Vegard's rule never averages c/a values chosen in different ways:

* a number (the study: 1.633, the ideal :math:`\\sqrt{8/3}`): every hcp entry has exactly this
  c/a. The EOS scans :math:`a` at this c/a; an ASE reference state with another (experimental)
  c/a keeps its volume per atom, :math:`a = a_\\mathrm{ref}\\,((c/a)_\\mathrm{ref} /
  (c/a))^{1/3}` (Zn: 2.66 Å at 1.856 becomes 2.776 Å at 1.633); the covalent estimate uses it.
* ``fit``: every hcp entry has the element's own equilibrium c/a. The EOS fits it (a 2-D
  equation of state, :mod:`magmom.dft.eos`); an ASE reference state gives its experimental c/a
  (Zn 1.856, Co 1.622, Ti 1.588); the covalent estimate, which knows no c/a, the ideal 1.633.

:func:`check_c_over_a_rule` refuses a table that breaks a fixed rule (e.g. one written before the
rule changed), naming the file, the entry and the key.

Fallback when an entry is missing or no equation of state is computed (``eos.calculator:
reference``), every use logged with ``logging.warning`` naming element and lattice:

1. ``ase-reference-state``: the element's ASE reference state when its symmetry is the requested
   lattice (hcp: c/a by the rule above).
2. ``covalent-radius-estimate``: hard spheres touching at the covalent radius :math:`r`,

   .. math::
       a_\\mathrm{fcc} = 2\\sqrt{2}\\, r, \\qquad a_\\mathrm{bcc} = \\frac{4 r}{\\sqrt{3}}, \\qquad
       a_\\mathrm{hcp} = 2 r.

   (Mn's ASE reference state is α-Mn, a 58-atom cubic cell, so its bcc entry uses this estimate.)

Initial moments of the fallback (:data:`DEFAULT_MAGMOM`, μB, the same on every lattice): they are
starting guesses for a spin-polarised SCF, set at or above the known moments so that a magnetic
solution can be found: Fe 2.2 (bcc Fe), Co 1.6 (hcp Co), Ni 0.6 (fcc Ni), Mn 2.5 (bcc/fcc Mn
carry 1–3 μB in DFT), Cr 1.5 (bulk spin-density wave ≈0.6, surfaces 2–3), V 1.0 (non-magnetic in
bulk, magnetic at some surfaces). Other elements of the spin-polarised set (Cu, Mo, Os, Ru, W) get
``recipe.default_magmom``; the rest 0. They start the equation of state and, under
``dft.initial_moments: eos`` only, the slabs' DFT (:mod:`magmom.dft.initial_moments`).
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Iterable, Mapping
from pathlib import Path

from magmom.elements import IDEAL_HCP_C_OVER_A, SPIN_POLARISED_ELEMENTS, covalent_radius_pm
from magmom.io import write_json
from magmom.layout import LATTICES

log = logging.getLogger(__name__)

DEFAULT_MAGMOM: dict[str, float] = {
    "Fe": 2.2, "Co": 1.6, "Ni": 0.6, "Mn": 2.5, "Cr": 1.5, "V": 1.0,
}  # fmt: skip

ENTRY_KEYS = ("a0", "c_over_a", "magmom", "source")
LatticeTable = dict[str, dict[str, dict]]
FIT = "fit"
"""``recipe.hcp_c_over_a: fit``: each hcp entry at its own equilibrium c/a (see above)."""
CoverA = float | str  # a fixed c/a, or FIT


def fixed_c_over_a(rule: CoverA) -> float | None:
    """The fixed c/a of ``rule`` (``recipe.hcp_c_over_a``), or None when it is ``fit``."""
    if rule == FIT:
        return None
    if isinstance(rule, str) or not float(rule) > 0:
        raise ValueError(
            f"config key 'recipe.hcp_c_over_a': {rule!r} is neither a positive number nor 'fit'"
        )
    return float(rule)


def initial_magmom(element: str, default_magmom: float) -> float:
    """Documented initial moment of ``element`` (μB) when no EOS value exists."""
    if element in DEFAULT_MAGMOM:
        return DEFAULT_MAGMOM[element]
    return float(default_magmom) if element in SPIN_POLARISED_ELEMENTS else 0.0


def _reference_state(element: str) -> dict:
    from ase.data import atomic_numbers, reference_states

    return reference_states[atomic_numbers[element]] or {}


def reference_entry(
    element: str, lattice: str, default_magmom: float, c_over_a: CoverA = IDEAL_HCP_C_OVER_A
) -> dict:
    """Fallback entry of ``element`` on ``lattice`` (logged as a warning); ``c_over_a`` is the
    rule ``recipe.hcp_c_over_a`` (see the module docstring)."""
    if lattice not in LATTICES:
        raise ValueError(f"unknown lattice {lattice!r}; allowed: {', '.join(LATTICES)}")
    fixed = fixed_c_over_a(c_over_a)
    ref = _reference_state(element)
    coa = None
    if ref.get("symmetry") == lattice:
        a0 = float(ref["a"])
        if lattice == "hcp":
            coa = float(ref.get("c/a", IDEAL_HCP_C_OVER_A))
            if fixed is not None:  # same volume per atom at the fixed c/a
                a0 *= (coa / fixed) ** (1 / 3)
                coa = fixed
        source = "ase-reference-state"
    else:
        r = covalent_radius_pm(element) / 100.0
        a0 = {"fcc": 2 * math.sqrt(2) * r, "bcc": 4 * r / math.sqrt(3), "hcp": 2 * r}[lattice]
        if lattice == "hcp":
            coa = IDEAL_HCP_C_OVER_A if fixed is None else fixed
        source = "covalent-radius-estimate"
    c_over_a = coa
    magmom = initial_magmom(element, default_magmom)
    log.warning(
        "lattice table fallback for %s %s: a0=%.3f Å%s, magmom=%.2f μB (%s)",
        element, lattice, a0, f", c/a={c_over_a:.3f}" if c_over_a else "", magmom, source,
    )  # fmt: skip
    return {"a0": round(a0, 6), "c_over_a": c_over_a, "magmom": magmom, "source": source}


def reference_lattice_table(
    elements: Iterable[str],
    default_magmom: float,
    lattices: Iterable[str] = LATTICES,
    c_over_a: CoverA = IDEAL_HCP_C_OVER_A,
) -> LatticeTable:
    """A complete table from the fallbacks alone (``eos.calculator: reference``)."""
    return {
        el: {lat: reference_entry(el, lat, default_magmom, c_over_a) for lat in lattices}
        for el in sorted(elements)
    }


def _check_entry(entry, where: str) -> dict:
    if not isinstance(entry, Mapping):
        raise ValueError(f"{where}: expected an object with keys {', '.join(ENTRY_KEYS)}")
    missing = [k for k in ENTRY_KEYS if k not in entry]
    if missing:
        raise ValueError(f"{where}: missing key(s) {', '.join(missing)}")
    a0, coa, mag = entry["a0"], entry["c_over_a"], entry["magmom"]
    if not isinstance(a0, int | float) or not a0 > 0:
        raise ValueError(f"{where}.a0: {a0!r} is not a positive number of Å")
    if coa is not None and (not isinstance(coa, int | float) or not coa > 0):
        raise ValueError(f"{where}.c_over_a: {coa!r} is neither null nor a positive number")
    if where.endswith(".hcp") and coa is None:
        raise ValueError(f"{where}.c_over_a: an hcp entry needs its c/a (got null)")
    if not isinstance(mag, int | float) or not math.isfinite(mag):
        raise ValueError(f"{where}.magmom: {mag!r} is not a finite number of μB")
    if not isinstance(entry["source"], str):
        raise ValueError(f"{where}.source: {entry['source']!r} is not a string")
    return {
        "a0": float(a0),
        "c_over_a": None if coa is None else float(coa),
        "magmom": float(mag),
        "source": entry["source"],
    }


def validate_lattice_table(table, origin: str = "lattice table") -> LatticeTable:
    """Check the format; return a normalised copy. Errors name ``origin``, element and lattice."""
    if not isinstance(table, Mapping):
        raise ValueError(f"{origin}: expected {{element: {{lattice: entry}}}}")
    out: LatticeTable = {}
    for el, by_lattice in table.items():
        if not isinstance(by_lattice, Mapping):
            raise ValueError(f"{origin}: {el}: expected {{lattice: entry}}")
        out[el] = {}
        for lat, entry in by_lattice.items():
            if lat not in LATTICES:
                raise ValueError(
                    f"{origin}: {el}.{lat}: unknown lattice; allowed: {', '.join(LATTICES)}"
                )
            out[el][lat] = _check_entry(entry, f"{origin}: {el}.{lat}")
    return out


def load_lattice_table(path: str | Path) -> LatticeTable:
    """Read and validate ``<results_dir>/eos/lattice_table.json``."""
    with open(path) as fh:
        try:
            raw = json.load(fh)
        except json.JSONDecodeError as err:
            raise ValueError(f"{path}: not valid JSON ({err})") from err
    return validate_lattice_table(raw, str(path))


def write_lattice_table(path: str | Path, table: Mapping) -> None:
    """Atomically write a validated table (sorted keys: equal tables give equal bytes)."""
    write_json(path, validate_lattice_table(table, str(path)))


def lattice_entry(
    table: Mapping,
    element: str,
    lattice: str,
    default_magmom: float,
    c_over_a: CoverA = IDEAL_HCP_C_OVER_A,
) -> dict:
    """``table[element][lattice]``, or the logged fallback when the table lacks it."""
    entry = table.get(element, {}).get(lattice)
    if entry is not None:
        return entry
    return reference_entry(element, lattice, default_magmom, c_over_a)


def complete_lattice_table(
    table: Mapping,
    entries: Iterable[tuple[str, str]],
    default_magmom: float,
    c_over_a: CoverA = IDEAL_HCP_C_OVER_A,
) -> LatticeTable:
    """A copy of ``table`` with each missing (element, lattice) of ``entries`` filled by the
    logged fallback."""
    out: LatticeTable = {el: dict(v) for el, v in table.items()}
    for el, lat in sorted(set(entries)):
        if lat not in out.get(el, {}):
            out.setdefault(el, {})[lat] = reference_entry(el, lat, default_magmom, c_over_a)
    return out


def check_c_over_a_rule(table: Mapping, c_over_a: CoverA, origin: str = "lattice table") -> None:
    """Refuse hcp entries of ``table`` whose c/a breaks a fixed rule ``recipe.hcp_c_over_a``."""
    fixed = fixed_c_over_a(c_over_a)
    if fixed is None:
        return
    for el, by_lattice in sorted(table.items()):
        entry = by_lattice.get("hcp")
        if entry is not None and not math.isclose(entry["c_over_a"], fixed, abs_tol=1e-6):
            raise ValueError(
                f"{origin}: {el}.hcp has c/a {entry['c_over_a']:.4f} ({entry['source']}) but "
                f"config key 'recipe.hcp_c_over_a' fixes {fixed:g}; rebuild the lattice table "
                "(rule lattice_table) or set recipe.hcp_c_over_a: fit"
            )
