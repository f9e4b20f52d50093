"""Initial magnetic moments of a slab's spin-polarised SCF: the ``dft.initial_moments`` policy.

A spin-polarised SCF that starts without a moment keeps none: the non-magnetic state is a
self-consistent solution too. The start therefore decides the label wherever a magnetic solution
exists but the start lies below it: bulk bcc Cr and V are non-magnetic in a ferromagnetic
calculation, so an equation of state leaves them at :math:`\\approx 0` μB, yet their surfaces (and
Mn's) carry moments. The policy says where every atom starts:

========================= ========================================================================
policy                    starts (each labelled in full; the lowest energy at equal settings kept)
========================= ========================================================================
``floor+eos``             ``floor`` and ``eos``
``floor+eos+afm``         ``floor``, ``eos`` and, for slabs holding Cr or Mn, ``afm``
``eos``                   ``eos`` alone (the study's rule; kept for exact reproduction)
``floor``                 ``floor`` alone
``floor-afm``             ``floor`` and, for slabs holding Cr or Mn, ``afm``
``floor+eos+inplane_afm`` **default**: ``floor``, ``eos`` and, for slabs holding Cr or Mn,
                          ``inplane_afm``
``floor+inplane_afm``     ``floor`` and, for slabs holding Cr or Mn, ``inplane_afm`` (the same
                          moments but for their signs)
========================= ========================================================================

where the start :math:`m_i^0` of atom :math:`i` (element :math:`X_i`, layer :math:`\\ell_i`) is

=============== ==================================================================================
start           :math:`m_i^0`
=============== ==================================================================================
``eos``         the lattice table's moment of :math:`X_i` on the slab's lattice, as the recipe
                stored it in the slab
``floor``       :math:`\\max(|m_i^\\mathrm{table}|, f_{X_i})`, ferromagnetic, for an element with a
                floor :math:`f_X` in :data:`MOMENT_FLOOR`; the table's moment for the others
``afm``         the ``floor`` start with the signs of Cr and Mn alternating layer by layer,
                :math:`m_i^0 = (-1)^{\\ell_i} \\max(|m_i^\\mathrm{table}|, f_{X_i})` (ASE tags,
                :math:`\\ell = 1` at the top); other elements as in ``floor``
``inplane_afm`` the ``floor`` start with the signs of Cr and Mn from an antiferromagnetic pattern
                *within* each layer,
                :math:`m_i^0 = \\sigma_i \\max(|m_i^\\mathrm{table}|, f_{X_i})`, :math:`\\sigma_i =
                \\pm 1` from :func:`inplane_signs` (below); other elements as in ``floor``
=============== ==================================================================================

**Which start is kept.** Starts may finish on different levels of the SCF ladder, whose
smearing widths and criteria differ, so their final energies are compared at one common level
(:mod:`magmom.dft.equal_settings`: ladder level 0's smearing width and criteria; a start that
finished on another level's settings gets one single point there from its final geometry and
moments, a start that finished at them needs none). The start with the lowest of these energies
is kept. The comparison is ``complete`` when every start ran to the end, finished relaxing and
has that energy, ``partial`` otherwise (the record lists why, and the dataset summary counts
such slabs), ``single`` when only one start ran. Every start's result stays in the record.

A start whose moments equal those of a start listed before it (within
:data:`DUPLICATE_TOLERANCE` μB on every atom, or all with the opposite sign: without spin-orbit
coupling a global spin flip is the same calculation) is not run: the record lists it as skipped,
a duplicate of that start. So a slab without a moment-capable element (or whose table moments
all reach their floors) costs one start under ``floor+eos``, and only slabs whose starts differ
pay for more (:func:`n_runs` counts them for the cost model, :mod:`magmom.dft.cost_model`).

Why the default runs ``floor`` and ``eos``: neither is the lower one everywhere.
``benchmarks/initial_moments.py`` (GPAW plane waves, 3-layer slabs, 250 eV, 5×5 k; README) finds
the ``floor`` start 17.1 meV lower than ``eos`` on Cr(110) and 28.7 meV lower on V(110) (the
``eos`` start keeps no moment on either), but 84.6 meV *higher* on Mn/Ni/Mn(111), where it lands
in a high-moment state; on Cr/Fe/Cr(110) and a 2 × 1 Cr/Fe(110) slab both starts reach the same
state. Either single start keeps the higher-energy state on some of these slabs; keeping the
lower of the two picks the lower state on all of them, at the price of a second SCF wherever the
starts differ. Why it adds ``inplane_afm`` on slabs holding Cr or Mn: on the DFT-labelled
mini-study (``data/mini/records/``, ``benchmarks/dft_records.py --section evidence``; 51
records) both uniform starts end above the in-plane antiferromagnet on 3 of 7 Cr slabs (up to
127 meV/atom, pure Cr(110)) and 8 of 10 Mn slabs (up to 213 meV/atom, Mn₀.₇₅Pd₀.₂₅(110)), and
the ``inplane_afm`` start never ends higher; on slabs holding both (one complete comparison so
far) it is kept until the records show it can go (:mod:`magmom.dft.start_evidence`).

The start applies to both GPAW stages, per start: after a ``floor`` or ``afm`` start the
plane-wave stage starts from it again rather than from the LCAO warm-up's converged moments,
because the warm-up (single-zeta basis, coarse grid) can lose a weak moment for good — a
two-layer Cr(110) slab started at 3 μB leaves the LCAO stage at ≈ 0 μB and the plane-wave stage
then keeps none, while a plane-wave calculation from the same start converges to 0.23 μB per
atom, 3.6 meV lower. After an ``eos`` start the plane-wave stage starts from the LCAO moments,
as in the study.

The floors (:data:`MOMENT_FLOOR`, μB) sit at or above the largest moment the element carries in
a metallic environment, surfaces included (surface moments exceed bulk ones because the
d band narrows), so that the SCF approaches a magnetic solution from above instead of settling
in the non-magnetic one below it: Fe 3.0 (bulk 2.2, surfaces ≈ 2.9), Co 2.0 (bulk 1.6,
surfaces ≈ 1.8), Ni 1.0 (bulk 0.6, surfaces ≈ 0.7), Mn 3.5 (1–3 in bcc/fcc Mn, up to ≈ 4 in
monolayers and dilute), Cr 3.0 (bulk spin-density wave ≈ 0.6, surfaces 2–3), V 2.0 (non-magnetic
bulk; surface moments predicted up to ≈ 1.5). ``benchmarks/initial_moments.py`` measures the
policies with GPAW on Cr, V and Mn slabs and four alloys.

**A policy per element group.** The policy may differ between the element groups of
:data:`ELEMENT_GROUPS` (:func:`element_group`: which of the six moment-capable elements a slab
holds), written as a default policy followed by ``group=policy`` overrides, comma-separated:
``floor+eos,fe-co-ni=eos`` runs ``eos`` alone on slabs whose moment-capable elements are only
Fe, Co and Ni, and ``floor+eos`` on every other slab (:func:`slab_policy`). Which group needs
which starts is measured from the DFT records by :mod:`magmom.dft.start_evidence`.

Layer-alternating (not the bulk B2 sublattice order, which lies inside a bcc(110) layer) is the
antiferromagnetic start that every lattice and cell shape allows, including one atom per layer.

**Why an in-plane start.** Every other start gives all atoms of one element in one layer the same
moment, so the slab keeps its full in-plane symmetry, and GPAW (which treats atoms of different
initial moments as inequivalent, and otherwise symmetrises the density) keeps it through the SCF:
an in-plane antiferromagnetic state, such as bulk Cr's, cannot be reached from them on a pure or
ordered slab. ``inplane_afm`` breaks that symmetry at the start, and GPAW keeps the lower
symmetry (its atom classes include the initial moments). It can cost irreducible k-points; on the
mini recipe's 2 × 2 × 3 Cr(110) slab it does not: GPAW uses 4 symmorphic operations and 6
irreducible k-points from either start (the translations the B2 pattern breaks are not among
the operations GPAW uses). What it finds there (``benchmarks/inplane_afm.py``, README): the
B2 antiferromagnet, ±2.2 μB at the surface, 1.52 eV (127 meV per atom) below the ``floor``
start's weak layered state at equal settings.

**The pattern** (:func:`inplane_signs`, :math:`\\sigma_i` from the geometry alone). Nearest
in-plane neighbours are the pairs within :data:`NEIGHBOUR_TOLERANCE` of the layer's shortest
in-plane (minimum-image) distance. Each layer is two-coloured so that these neighbours are
antiparallel: a checkerboard where the in-plane neighbour graph allows it, as on bcc(110)'s
centred rectangular net (the 4 nearest neighbours at :math:`a\\sqrt{3}/2` antiparallel, the 2 at
:math:`a` along [001] parallel: bulk Cr's B2 order restricted to the layer; on bcc(100), not a
study facet, the square net's neighbours are bulk second neighbours and B2 is ``afm`` instead).
A triangular net — fcc(111), hcp(0001) — has odd rings of neighbours, so no collinear pattern
makes every neighbour antiparallel (a checkerboard is frustrated there); the bonds along the
first in-plane cell vector are then dropped and the rest two-coloured, giving rows along that
vector of alternating sign (each atom 2 of its 6 neighbours parallel, 4 antiparallel: the least
frustration a collinear state allows on a triangular net). Both patterns need an even period
along the alternating direction: on the recipe's 2 × 2 and 4 × 4 cells they fit (bcc(110) 2 × 2
is the 2 × 1 centred rectangular cell), on a 3 × 3 cell they do not and the colouring leaves
some neighbours parallel; a 1 × 1 cell has no in-plane pattern at all (every atom is its own
neighbour). Then the layers, top down, are flipped as a whole so that most nearest neighbours
between adjacent layers are antiparallel: on bcc(110) the whole slab is bulk B2 (every nearest
neighbour antiparallel), on a 1 × 1 cell this is ``afm``'s layer alternation, on fcc(111) and
hcp(0001) the rows of adjacent layers are arranged as well as a global flip allows.

The CHGNet surrogate labeller (:mod:`magmom.dft.surrogate`) predicts moments from the structure
alone: no SCF, no start, and the policy does not apply (its records say so).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from magmom.elements import is_spin_polarised

EOS = "eos"
"""The start from the lattice table's moments (the EOS table's), as the recipe stored them in
the slab: the one name of this start, here and in the warm-start experiment
(:data:`magmom.warm_start.STARTS`)."""

FLOOR = "floor"
"""The start from the table's moments raised to the element floors (:func:`floored`), here and in
the warm-start experiment."""

INPLANE_AFM = "inplane_afm"
"""The start whose Cr/Mn moments alternate within each layer (:func:`inplane_signs`)."""

MATERIALS_PROJECT = "materials_project"
"""The Materials Project's default start (:data:`MP_DEFAULT_MAGMOM`): not a labeller policy, one of
the warm-start experiment's starts (:data:`magmom.warm_start.STARTS`)."""

MP_DEFAULT_MAGMOM: dict[str, float] = {
    "Cr": 5.0, "Fe": 5.0, "Mn": 5.0, "Mo": 5.0, "Ni": 5.0, "V": 5.0, "W": 5.0, "Co": 0.6,
}  # fmt: skip
"""μB: the Materials Project's default initial moment of the elemental species among the
21 metals (the ``MAGMOM`` table of pymatgen's ``VASPIncarBase.yaml``, which ``MPRelaxSet``
inherits, materialsproject/pymatgen ``pymatgen/io/vasp/VASPIncarBase.yaml``; Co is 0.6 there,
its ions Co3+ 0.6 and Co4+ 1). Every element without an entry starts at
:data:`MP_OTHER_MAGMOM`, ferromagnetic."""

MP_OTHER_MAGMOM = 0.6
"""μB: pymatgen's initial moment of an element without a ``MAGMOM`` entry ("a default value of
0.6 is used", ``VaspInputSet`` in ``pymatgen/io/vasp/sets/base.py``)."""

POLICY_STARTS: dict[str, tuple[str, ...]] = {
    "floor+eos": (FLOOR, EOS),
    "floor+eos+afm": (FLOOR, EOS, "afm"),
    "eos": (EOS,),
    "floor": (FLOOR,),
    "floor-afm": (FLOOR, "afm"),
    "floor+eos+inplane_afm": (FLOOR, EOS, INPLANE_AFM),
    "floor+inplane_afm": (FLOOR, INPLANE_AFM),
}
"""The starts of each policy, in the order they run (a duplicate of an earlier one is skipped;
on equal energies the earlier one is kept)."""

POLICIES: tuple[str, ...] = tuple(POLICY_STARTS)

DEFAULT_POLICY = "floor+eos+inplane_afm"
"""The policy of ``config.yaml`` (module docstring: why), and the one
:mod:`magmom.dft.start_evidence` keeps for a group whose records cannot yet settle it."""

MOMENT_FLOOR: dict[str, float] = {
    "Fe": 3.0, "Co": 2.0, "Ni": 1.0, "Mn": 3.5, "Cr": 3.0, "V": 2.0,
}  # fmt: skip
"""Smallest initial moment (μB) of each moment-capable element in the ``floor`` start."""

AFM_ELEMENTS: tuple[str, ...] = ("Cr", "Mn")
"""Elements whose moments alternate by layer in the ``afm`` start."""

NEIGHBOUR_TOLERANCE = 0.1
"""Relative: atoms within (1 + this) times the shortest distance are nearest neighbours (the next
shell lies 15 % (bcc(110)), 41 % (bcc(100)) or 73 % (triangular nets) farther out)."""

DUPLICATE_TOLERANCE = 1e-8
"""μB: a start within this of an earlier start on every atom is a duplicate and is not run."""

SURROGATE_NOTE = "not applied: CHGNet predicts moments from the structure, without an SCF start"


@dataclass(frozen=True)
class Start:
    """One initial-moment configuration of a slab: its name, per-atom moments (μB), and the
    earlier start it duplicates (None when it runs)."""

    name: str
    magmoms: np.ndarray
    duplicate_of: str | None = None


ELEMENT_GROUPS: dict[str, str] = {
    "fe-co-ni": "Fe/Co/Ni only (no Cr, V or Mn)",
    "cr": "with Cr (no V or Mn)",
    "v": "with V (no Cr or Mn)",
    "mn": "with Mn (no Cr or V)",
    "mixed": "two or more of Cr, V, Mn",
    "none": "none of Fe, Co, Ni, Cr, V, Mn",
}
"""The element groups of a slab by the moment-capable elements it holds (:func:`element_group`),
with their descriptions; a per-group policy names them."""

WEAK_GROUP_ELEMENTS: tuple[str, ...] = ("Cr", "V", "Mn")
"""The elements whose bulk table moment is near zero or ambiguous: each has its own group."""


def element_group(symbols: Sequence[str]) -> str:
    """The :data:`ELEMENT_GROUPS` key of a slab holding ``symbols``: ``mixed`` with two or more of
    Cr, V, Mn; ``cr``, ``v`` or ``mn`` with exactly one of them (Fe, Co, Ni may be present);
    ``fe-co-ni`` with Fe, Co or Ni but none of the three; ``none`` with none of the six."""
    present = set(symbols)
    weak = [e for e in WEAK_GROUP_ELEMENTS if e in present]
    if len(weak) > 1:
        return "mixed"
    if weak:
        return weak[0].lower()
    return "fe-co-ni" if present & (set(MOMENT_FLOOR) - set(WEAK_GROUP_ELEMENTS)) else "none"


def parse_policy(policy: str) -> tuple[str, dict[str, str]]:
    """``(default, {group: policy})`` of a policy string (module docstring, "A policy per
    element group"); errors name the config key and the allowed values."""
    where = "config key 'dft.initial_moments'"
    default, *overrides = [part.strip() for part in str(policy).split(",")]
    if default not in POLICIES:
        raise ValueError(
            f"{where}: {policy!r} does not start with an allowed policy; allowed values: "
            f"{', '.join(POLICIES)}, optionally followed by ',group=policy' overrides"
        )
    by_group: dict[str, str] = {}
    for part in overrides:
        group, sep, value = (x.strip() for x in part.partition("="))
        if not sep or group not in ELEMENT_GROUPS or value not in POLICIES:
            raise ValueError(
                f"{where}: {part!r} in {policy!r} is not 'group=policy' with a group of "
                f"{', '.join(ELEMENT_GROUPS)} and a policy of {', '.join(POLICIES)}"
            )
        if group in by_group:
            raise ValueError(f"{where}: group {group!r} is given twice in {policy!r}")
        by_group[group] = value
    return default, by_group


def check_policy(policy: str) -> str:
    parse_policy(policy)
    return policy


def slab_policy(policy: str, symbols: Sequence[str]) -> str:
    """The single policy (a key of :data:`POLICY_STARTS`) that ``policy`` gives a slab holding
    ``symbols``: its group's override, else the default."""
    default, by_group = parse_policy(policy)
    return by_group.get(element_group(symbols), default)


def floored(symbols: Sequence[str], table_magmoms) -> np.ndarray:
    """The ``floor`` start: :math:`\\max(|m_i^\\mathrm{table}|, f_{X_i})` per atom of an element
    with a floor, the table's moment for the others."""
    m = np.asarray(table_magmoms, dtype=float)
    floor = np.array([MOMENT_FLOOR.get(s, np.nan) for s in symbols])
    return np.where(np.isnan(floor), m, np.maximum(np.abs(m), np.nan_to_num(floor)))


def layer_alternating(symbols: Sequence[str], tags, magmoms) -> np.ndarray:
    """``magmoms`` with every Cr/Mn atom at :math:`(-1)^{\\ell} |m_i|` (tag = layer), the other
    atoms unchanged."""
    tags = np.asarray(tags, dtype=int)
    if len(tags) and tags.min() < 1:
        raise ValueError("an antiferromagnetic start needs layer tags (ASE tags, 1 = top layer)")
    sign = np.where(tags % 2 == 1, -1.0, 1.0)
    afm = np.array([s in AFM_ELEMENTS for s in symbols], dtype=bool)
    m = np.asarray(magmoms, dtype=float)
    return np.where(afm, sign * np.abs(m), m)


def same_start(a, b, up_to_sign: bool = True) -> bool:
    """Whether moments ``a`` and ``b`` start the same calculation: equal, or (``up_to_sign``)
    equal up to a global sign (collinear spins without spin-orbit coupling: flipping every moment
    changes nothing but the sign of the final moments), within :data:`DUPLICATE_TOLERANCE` on
    every atom."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if a.shape != b.shape:
        return False
    tol = DUPLICATE_TOLERANCE
    if np.allclose(a, b, rtol=0, atol=tol):
        return True
    return bool(up_to_sign and np.allclose(a, -b, rtol=0, atol=tol))


def materials_project(symbols: Sequence[str]) -> np.ndarray:
    """The ``materials_project`` start: :data:`MP_DEFAULT_MAGMOM` of each atom's element,
    :data:`MP_OTHER_MAGMOM` for the others (all parallel)."""
    return np.array([MP_DEFAULT_MAGMOM.get(s, MP_OTHER_MAGMOM) for s in symbols], dtype=float)


def _neighbour_pairs(vectors: np.ndarray, dist: np.ndarray) -> list[tuple[int, int, np.ndarray]]:
    """Pairs ``(i, j, vector)`` (i < j) whose distance lies within :data:`NEIGHBOUR_TOLERANCE` of
    the shortest in ``dist`` (minimum-image distances, (n, n), 0 on the diagonal)."""
    n = len(dist)
    upper = np.triu(np.ones((n, n), dtype=bool), 1)
    if not upper.any() or not (dist[upper] > 1e-6).any():
        return []
    shortest = dist[upper & (dist > 1e-6)].min()
    near = upper & (dist > 1e-6) & (dist <= (1 + NEIGHBOUR_TOLERANCE) * shortest)
    return [(int(i), int(j), vectors[i, j]) for i, j in zip(*np.nonzero(near), strict=True)]


def _two_colour(n: int, pairs) -> np.ndarray:
    """Signs ±1 of ``n`` atoms, neighbours (``pairs``) antiparallel where no odd ring forbids it:
    breadth first from the lowest index of each connected part (which starts at +1)."""
    links: list[list[int]] = [[] for _ in range(n)]
    for i, j, _ in pairs:
        links[i].append(j)
        links[j].append(i)
    sign = np.zeros(n)
    for seed in range(n):
        if sign[seed]:
            continue
        sign[seed], queue = 1.0, [seed]
        while queue:
            i = queue.pop(0)
            for j in links[i]:
                if not sign[j]:
                    sign[j] = -sign[i]
                    queue.append(j)
    return sign


def _frustrated(sign: np.ndarray, pairs) -> int:
    """How many neighbour pairs are parallel under ``sign``."""
    return sum(sign[i] == sign[j] for i, j, _ in pairs)


def inplane_signs(atoms) -> np.ndarray:
    """Signs :math:`\\sigma_i = \\pm 1` of the ``inplane_afm`` start (the pattern: module
    docstring): each layer two-coloured over its nearest in-plane neighbours (rows along the
    first cell vector where the net is triangular), then each layer flipped, top down, so that
    most nearest neighbours between it and the layer above are antiparallel."""
    from ase.geometry import get_distances

    from magmom.slab_geometry import slab_layers

    pbc = (True, True, False)
    sign = np.ones(len(atoms))
    a1 = np.asarray(atoms.cell[0], dtype=float)
    layers = slab_layers(atoms)[::-1]  # top layer first
    for layer in layers:
        pos = atoms.positions[layer].copy()
        pos[:, 2] = 0.0  # in-plane distances
        vec, dist = get_distances(pos, cell=atoms.cell, pbc=pbc)
        pairs = _neighbour_pairs(vec, dist)
        s = _two_colour(len(layer), pairs)
        if _frustrated(s, pairs):  # odd rings (triangular net): rows along a1
            cross = [np.linalg.norm(np.cross(v, a1)) for _, _, v in pairs]
            rows = [p for p, c in zip(pairs, cross, strict=True) if c > 1e-3 * np.linalg.norm(a1)]
            rowwise = _two_colour(len(layer), rows)
            if _frustrated(rowwise, pairs) < _frustrated(s, pairs):
                s = rowwise
        sign[layer] = s
    for upper, lower in zip(layers[:-1], layers[1:], strict=True):
        _, dist = get_distances(
            atoms.positions[upper], atoms.positions[lower], cell=atoms.cell, pbc=pbc
        )
        near = dist <= (1 + NEIGHBOUR_TOLERANCE) * dist.min()
        if (np.outer(sign[upper], sign[lower]) * near).sum() > 0:
            sign[lower] *= -1
    return sign


def policy_starts(
    symbols: Sequence[str], table_magmoms, tags, policy: str, signs=None
) -> list[Start]:
    """Every start ``policy`` lists for a slab of ``symbols`` (table moments ``table_magmoms``,
    layer ``tags``, ``signs`` :func:`inplane_signs` when the policy has ``inplane_afm``; a
    per-group policy as :func:`slab_policy` resolves it), a duplicate of an earlier start marked
    as such; ``afm`` and ``inplane_afm`` only when the slab holds Cr or Mn."""
    table = np.asarray(table_magmoms, dtype=float)
    out: list[Start] = []
    for name in POLICY_STARTS[slab_policy(policy, symbols)]:
        if name == EOS:
            m = table.copy()
        elif name == FLOOR:
            m = floored(symbols, table)
        elif not any(s in AFM_ELEMENTS for s in symbols):
            continue
        elif name == INPLANE_AFM:
            if signs is None:
                raise ValueError(f"policy {policy!r}: the {INPLANE_AFM} start needs the signs")
            m = signed(symbols, signs, floored(symbols, table))
        else:
            m = layer_alternating(symbols, tags, floored(symbols, table))
        same = next((s.name for s in out if same_start(s.magmoms, m)), None)
        out.append(Start(name, m, duplicate_of=same))
    return out


def signed(symbols: Sequence[str], signs, magmoms) -> np.ndarray:
    """``magmoms`` with every Cr/Mn atom at :math:`\\sigma_i |m_i|`, the other atoms unchanged."""
    afm = np.array([s in AFM_ELEMENTS for s in symbols], dtype=bool)
    m = np.asarray(magmoms, dtype=float)
    return np.where(afm, np.asarray(signs, dtype=float) * np.abs(m), m)


def starts(atoms, policy: str) -> list[Start]:
    """The starts ``policy`` gives ``atoms`` (whose initial moments are the table's), duplicates
    marked (:func:`policy_starts`)."""
    inplane = INPLANE_AFM in POLICY_STARTS[slab_policy(policy, atoms.get_chemical_symbols())]
    return policy_starts(
        atoms.get_chemical_symbols(),
        atoms.get_initial_magnetic_moments(),
        atoms.get_tags(),
        policy,
        signs=inplane_signs(atoms) if inplane else None,
    )


def n_runs(elements: Sequence[str], policy: str) -> int:
    """Starts the GPAW labeller runs, at most, for a slab holding ``elements`` (before the
    equation of state: table unknown): 1 without spin polarisation, else the starts of ``policy``
    that are no duplicates when every table moment is 0 (below every floor) and every element
    sits in two adjacent layers, two atoms of opposite in-plane sign in each. An upper bound when
    the table's moments are non-negative, as the cost model needs; the labeller itself
    deduplicates with the slab's real moments."""
    if not is_spin_polarised(elements):
        return 1
    symbols = [e for e in elements for _ in range(4)]
    tags = [1, 1, 2, 2] * len(elements)
    signs = [1, -1, 1, -1] * len(elements)
    found = policy_starts(symbols, np.zeros(len(symbols)), tags, policy, signs=signs)
    return sum(s.duplicate_of is None for s in found)


def plane_wave_start(start: Start) -> np.ndarray | None:
    """Initial moments of the plane-wave stage: ``start``'s again, or None after an ``eos``
    start (the LCAO stage's converged moments; ``start``'s own when ``dft.lcao`` is null)."""
    return None if start.name == EOS else start.magmoms
