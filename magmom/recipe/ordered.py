"""Ordered structures of the magmom21 recipe: which exist, and how each decorates a slab.

Enumeration (full recipe: 1,080 + 2,520 + 2,015 = 5,615, the study's published rows exactly):

* ``dilute_1`` / ``dilute_2``: every strongly magnetic element (Co Cr Fe Mn Ni V) paired with every
  element outside that set, in both host/solute roles (the non-magnetic host first, as the study
  lists them), on the host's natural lattice; one solute atom at the top / sub-surface / middle
  layer, or two solute atoms as nearest neighbours in the top or sub-surface layer, or as far apart
  as the top layer allows: 6 × 15 × 2 × 6 = 1,080. "Middle" is layer ``(nz - 1) // 2`` counted
  from the bottom (for 4 layers the third from the top, one of the fixed layers), moved down when
  it would coincide with the sub-surface layer.
* ``binary_proto``: every pair (A, B alphabetical) × 12 placements = 2,520 (no size filter, as in
  the study): fcc L1_1 (alternating (111) planes; ``ab`` = A terminates), L1_0 (alternating (001)
  planes), L1_2 (A3B: B on one simple-cubic sublattice of the fcc); bcc B2 (CsCl), D0_3 (Fe3Al: B
  on one of the four fcc sublattices of the doubled cubic cell); hcp D0_19 (Ni3Sn: one B per 2×2
  basal net, stacked so that no two B atoms are nearest neighbours). ``ab``/``ba`` swap the
  species on the two sublattices, ``a3b``/``ab3`` the majority.

  Note: on fcc(111) L1_0 and on bcc(110) B2, ``ab`` and ``ba`` are related by an in-plane
  translation (every layer holds both sublattices), so they are the same structure; the study
  listed both and so does the recipe.
* ``ternary_proto`` (Heusler-type): X2YZ at fractions 1/2, 1/4, 1/4 on fcc(111), labelled fcc, for
  every element triple holding at least one strongly magnetic element (875 of the 1,330 triples; no
  size filter, as in the study): one ``heusler_l21`` row for each strongly magnetic element of the
  triple as X (1,140 rows), and one ``half_heusler`` row with the triple's alphabetically first
  element as X (875 rows); Y, Z are the other two, alphabetical. Two orderings of the four
  simple-cubic sublattices :math:`s_0 \\dots s_3` of the fcc lattice: ``heusler_l21``: X on
  :math:`s_0 \\cup s_1` (alternating (001) planes), Y on :math:`s_2`, Z on :math:`s_3`;
  ``half_heusler``: X on alternating (111) planes (X terminates), Y and Z on the two (001)-plane
  parities of the other (111) planes. (The study's names; both hold X2YZ, no vacancies.)

Decoration works in cubic coordinates: each slab site :math:`\\mathbf r` is mapped to
:math:`\\mathbf c = R(\\mathbf r - \\mathbf r_0)/a` with :math:`\\mathbf r_0` the first atom of the
top layer, and the sublattice read from the integers :math:`\\mathbf t = 2\\mathbf c`. A
decoration is accepted only if both in-plane cell vectors map every sublattice onto itself
(otherwise the slab's periodic images would break the order and the other cell shape is tried).
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from magmom.elements import NATURAL_LATTICE, STRONGLY_MAGNETIC

DILUTE_PLACEMENTS: dict[str, tuple[str, ...]] = {
    "dilute_1": ("dilute_1_top", "dilute_1_sub", "dilute_1_mid"),
    "dilute_2": ("dilute_2_nn_top", "dilute_2_nn_sub", "dilute_2_far_top"),
}
BINARY_PROTOTYPES: dict[str, str] = {
    "l1_1_ab": "fcc", "l1_1_ba": "fcc", "l1_0_ab": "fcc", "l1_0_ba": "fcc",
    "l1_2_a3b": "fcc", "l1_2_ab3": "fcc",
    "b2_ab": "bcc", "b2_ba": "bcc", "d0_3_a3b": "bcc", "d0_3_ab3": "bcc",
    "d0_19_a3b": "hcp", "d0_19_ab3": "hcp",
}  # fmt: skip
TERNARY_PROTOTYPES: tuple[str, ...] = ("heusler_l21", "half_heusler")
TERNARY_PROTO_LATTICE = "fcc"


class Incommensurate(ValueError):
    """The ordering does not fit the slab's in-plane cell."""


@dataclass(frozen=True)
class OrderedStructure:
    """An ordered slab before geometry: ``elements`` in role order, atoms per element."""

    comp_type: str
    placement: str
    lattice: str
    elements: tuple[str, ...]
    counts: tuple[int, ...]


def _exact(n_atoms: int, num: int, den: int, what: str, size_key: str) -> int:
    if (n_atoms * num) % den:
        raise ValueError(
            f"{what} needs a number of atoms divisible by {den // np.gcd(num, den)}; "
            f"{size_key} gives {n_atoms}"
        )
    return n_atoms * num // den


def dilute_structures(elements: Sequence[str], n_atoms: int) -> list[OrderedStructure]:
    magnetic = [e for e in sorted(elements) if e in STRONGLY_MAGNETIC]
    others = [e for e in sorted(elements) if e not in STRONGLY_MAGNETIC]
    out = []
    for m, o in itertools.product(magnetic, others):
        for host, solute in ((o, m), (m, o)):
            for comp_type, placements in DILUTE_PLACEMENTS.items():
                k = 1 if comp_type == "dilute_1" else 2
                for placement in placements:
                    out.append(
                        OrderedStructure(
                            comp_type, placement, NATURAL_LATTICE[host], (host, solute),
                            (n_atoms - k, k),
                        )
                    )  # fmt: skip
    return out


def binary_prototype_structures(elements: Sequence[str], n_atoms: int) -> list[OrderedStructure]:
    key = "recipe.ordered.binary_prototypes.size"
    out = []
    for a, b in itertools.combinations(sorted(elements), 2):
        for placement, lattice in BINARY_PROTOTYPES.items():
            if placement.endswith("_a3b"):
                n_b = _exact(n_atoms, 1, 4, placement, key)
                counts = (n_atoms - n_b, n_b)
            elif placement.endswith("_ab3"):
                n_a = _exact(n_atoms, 1, 4, placement, key)
                counts = (n_a, n_atoms - n_a)
            else:
                n_a = _exact(n_atoms, 1, 2, placement, key)
                counts = (n_a, n_atoms - n_a)
            out.append(OrderedStructure("binary_proto", placement, lattice, (a, b), counts))
    return out


def ternary_prototype_structures(elements: Sequence[str], n_atoms: int) -> list[OrderedStructure]:
    """The Heusler-type rows (the rule in the module docstring), in the study's order."""
    key = "recipe.ordered.ternary_prototypes.size"
    n_y = _exact(n_atoms, 1, 4, "X2YZ", key)
    counts = (n_atoms - 2 * n_y, n_y, n_y)
    out = []
    for triple in itertools.combinations(sorted(elements), 3):
        magnetic = [e for e in triple if e in STRONGLY_MAGNETIC]
        if not magnetic:
            continue
        for placement, x in [("heusler_l21", m) for m in magnetic] + [("half_heusler", triple[0])]:
            y, z = (e for e in triple if e != x)
            out.append(
                OrderedStructure(
                    "ternary_proto", placement, TERNARY_PROTO_LATTICE, (x, y, z), counts
                )
            )
    return out


def ordered_structures(recipe: Mapping, sizes: Mapping[str, int]) -> list[OrderedStructure]:
    """All ordered structures of ``recipe``, in the study's listing order.

    ``sizes`` maps comp type -> atoms per slab.
    """
    elements = recipe["elements"]
    out = dilute_structures(elements, sizes["dilute_1"])
    out += binary_prototype_structures(elements, sizes["binary_proto"])
    out += ternary_prototype_structures(elements, sizes["ternary_proto"])
    return out


# ---- decoration --------------------------------------------------------------------------------
_NORMAL = {"fcc": (1, 1, 1), "bcc": (1, 1, 0)}


def _on_lattice(t: np.ndarray, lattice: str) -> bool:
    """``t`` = 2·(cubic coordinates / a): integer rows that are fcc (even sum) or bcc sites."""
    ti = np.rint(t)
    if not np.allclose(t, ti, atol=1e-4):
        return False
    ti = ti.astype(np.int64)
    if lattice == "fcc":
        return bool(np.all(ti.sum(axis=1) % 2 == 0))
    parity = ti % 2
    return bool(np.all(parity == parity[:, :1]))


def cubic_coordinates(atoms, lattice: str, a: float, origin: int) -> tuple[np.ndarray, np.ndarray]:
    """Integer ``t = 2 c`` of every site and of the two in-plane cell vectors.

    The rotation from the slab frame (x along the first cell vector, z along the surface normal)
    to the cubic frame is found by trying the in-plane cubic directions perpendicular to the
    surface normal ([111] for fcc, [110] for bcc) until every site lands on the lattice.
    """
    normal = np.array(_NORMAL[lattice], dtype=float)
    normal /= np.linalg.norm(normal)
    rel = atoms.positions - atoms.positions[origin]
    cands = [
        np.array(v, dtype=float)
        for v in itertools.product(range(-2, 3), repeat=3)
        if any(v) and np.dot(v, _NORMAL[lattice]) == 0
    ]
    cands.sort(key=lambda v: (np.dot(v, v), tuple(-v)))
    for v in cands:
        x = v / np.linalg.norm(v)
        rot = np.array([x, np.cross(normal, x), normal])  # rows: cubic axes of slab x, y, z
        t = 2.0 * rel @ rot / a
        cell_t = 2.0 * np.asarray(atoms.cell[:2]) @ rot / a
        if _on_lattice(t, lattice) and _on_lattice(cell_t, lattice):
            return np.rint(t).astype(np.int64), np.rint(cell_t).astype(np.int64)
    raise RuntimeError(f"no cubic frame maps this {lattice} slab onto the {lattice} lattice")


def _cubic_labels(placement: str, t: np.ndarray) -> np.ndarray:
    """Sublattice label of each site (0 = the top-layer reference atom's sublattice)."""
    even = (t % 2) == 0
    plane111 = (t.sum(axis=1) // 2) % 2  # (111)-plane parity relative to the top layer
    if placement.startswith("l1_1"):
        return plane111
    if placement.startswith("l1_0"):
        return (t[:, 2] % 2).astype(np.int64)
    if placement.startswith("l1_2"):
        return np.where(even.all(axis=1), 0, 1)
    if placement.startswith("b2"):
        return (t[:, 0] % 2).astype(np.int64)
    if placement.startswith("d0_3"):
        corner = even.all(axis=1)
        return np.where(corner & ((t.sum(axis=1) // 2) % 2 == 0), 0, 1)
    if placement == "heusler_l21":
        return np.where(even[:, 2], 0, np.where(even[:, 0], 1, 2))
    if placement == "half_heusler":
        return np.where(plane111 == 0, 0, np.where(even[:, 2], 1, 2))
    raise ValueError(f"unknown cubic placement {placement!r}")


def _species_of(placement: str, labels: np.ndarray, elements: Sequence[str]) -> list[str]:
    if placement in TERNARY_PROTOTYPES:
        return [elements[i] for i in labels]
    a, b = elements
    if placement.endswith("_ab"):
        order = (a, b)
    elif placement.endswith("_ba"):
        order = (b, a)
    elif placement.endswith("_a3b"):
        order = (b, a)  # label 0 is the minority sublattice
    elif placement.endswith("_ab3"):
        order = (a, b)
    else:
        raise ValueError(f"unknown placement {placement!r}")
    return [order[i] for i in labels]


def _layers(atoms) -> dict[int, np.ndarray]:
    """Atom indices per layer, keyed by ASE's tag (1 = top layer)."""
    tags = atoms.get_tags()
    return {int(t): np.flatnonzero(tags == t) for t in np.unique(tags)}


def _inplane_distances(atoms, i: int, js: np.ndarray) -> np.ndarray:
    """Minimum-image in-plane distances from atom ``i`` to atoms ``js``."""
    from ase.geometry import find_mic

    d = atoms.positions[js] - atoms.positions[i]
    d[:, 2] = 0.0
    _, dist = find_mic(d, atoms.cell, pbc=(True, True, False))
    return dist


def _hcp_d0_19_labels(atoms, a: float) -> np.ndarray:
    """0 on the minority sites of D0_19, 1 elsewhere; top layer first, then downwards."""
    a1 = np.array([a, 0.0])
    a2 = np.array([a / 2.0, a * np.sqrt(3.0) / 2.0])
    basis_inv = np.linalg.inv(np.array([a1, a2]).T)
    cell_uv = np.asarray(atoms.cell[:2, :2]) @ basis_inv.T
    if not (
        np.allclose(cell_uv, np.rint(cell_uv), atol=1e-4) and np.all(np.rint(cell_uv) % 2 == 0)
    ):
        raise Incommensurate("D0_19 needs in-plane cell vectors on the 2x2 superlattice")
    labels = np.ones(len(atoms), dtype=np.int64)
    layers = _layers(atoms)
    above: np.ndarray | None = None
    for tag in sorted(layers):
        idx = layers[tag]
        uv = (atoms.positions[idx, :2] - atoms.positions[idx[0], :2]) @ basis_inv.T
        cls = (np.rint(uv).astype(np.int64) % 2) @ np.array([1, 2])
        if above is None:
            chosen = 0
        else:
            best = -1.0
            for c in range(4):  # the class with no minority atom directly above it
                members = idx[cls == c]
                d = min(float(_inplane_distances(atoms, j, above).min()) for j in members)
                if d > best + 1e-6:
                    best, chosen = d, c
        labels[idx[cls == chosen]] = 0
        above = idx[cls == chosen]
    return labels


def _check_periodic(labels_fn, t: np.ndarray, cell_t: np.ndarray) -> None:
    base = labels_fn(t)
    for shift in cell_t:
        if not np.array_equal(labels_fn(t + shift), base):
            raise Incommensurate("the ordering is not periodic in this in-plane cell")


def decorate_ordered(atoms, placement: str, elements: Sequence[str], lattice: str, a: float):
    """Species per site of the prototype ``placement`` on the base slab ``atoms``.

    Raises :class:`Incommensurate` when the slab's in-plane cell does not fit the ordering.
    """
    if lattice == "hcp":
        labels = _hcp_d0_19_labels(atoms, a)
        return _species_of(placement, labels, elements)
    top = _layers(atoms)[1]
    t, cell_t = cubic_coordinates(atoms, lattice, a, origin=int(top[0]))
    _check_periodic(lambda tt: _cubic_labels(placement, tt), t, cell_t)
    return _species_of(placement, _cubic_labels(placement, t), elements)


def decorate_dilute(atoms, placement: str, elements: Sequence[str]) -> list[str]:
    """Host everywhere, one or two solute atoms at the named layer positions."""
    host, solute = elements
    layers = _layers(atoms)
    nz = len(layers)
    if nz < 3:
        raise ValueError(f"dilute placements need at least 3 layers, got {nz}")
    mid_from_bottom = (nz - 1) // 2
    if mid_from_bottom >= nz - 2:  # would coincide with the sub-surface layer
        mid_from_bottom = max(0, nz - 3)
    layer_tag = {"top": 1, "sub": 2, "mid": nz - mid_from_bottom}
    symbols = [host] * len(atoms)
    where = placement.rsplit("_", 1)[1]
    idx = layers[layer_tag[where]]
    i = int(idx[0])
    sites = [i]
    if placement.startswith("dilute_2"):
        others = idx[1:]
        dist = _inplane_distances(atoms, i, others)
        if "_far_" in placement:
            j = others[int(np.argmax(dist.round(6)))]
        else:
            j = others[int(np.argmin(dist.round(6)))]
        sites.append(int(j))
    for s in sites:
        symbols[s] = solute
    return symbols
