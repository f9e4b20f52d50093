r"""Periodic neighbour lists, and the rules that choose a graph's edges within the cutoff.

For atoms at :math:`\mathbf{r}_i` in a cell with rows :math:`\mathbf{a}_1, \mathbf{a}_2,
\mathbf{a}_3` (periodic along the directions flagged in ``pbc``; slabs use ``(T, T, F)``), an edge
is every ordered triple :math:`(i, j, \mathbf{S})` with integer cell offset
:math:`\mathbf{S} \in \mathbb{Z}^3` (zero along non-periodic directions) such that

.. math::
    \mathbf{D}_{ij\mathbf{S}} = \mathbf{r}_j + \mathbf{S} \cdot \mathbf{A} - \mathbf{r}_i,
    \qquad 0 < \lVert \mathbf{D}_{ij\mathbf{S}} \rVert < r_c ,

where :math:`\mathbf{A}` is the cell matrix. Images of an atom itself (:math:`i = j`,
:math:`\mathbf{S} \neq 0`) are edges; the atom itself (:math:`i = j`, :math:`\mathbf{S} = 0`) is
not. This is exactly the set of ``ase.neighborlist.neighbor_list('ijS', atoms, r_c)``; the fast
path uses `vesin <https://github.com/Luthaf/vesin>`_, and the tests check that both give the same
:math:`(i, j, \mathbf{S})` sets and distances to 1e-6 Å.

:math:`\mathbf{D}` and :math:`d = \lVert \mathbf{D} \rVert` are recomputed here in float64 from the
positions, the cell and :math:`\mathbf{S}` (not taken from the neighbour-list engine), so the
stored geometry does not depend on which engine found the pairs.

Rules (:data:`magmom.layout.NEIGHBOR_RULES`, config ``graphs.neighbor_rule``)
----------------------------------------------------------------------------------

``radius`` (the default): **every** edge within :math:`r_c`, no count cap. This is the rule under
which a model's predictions are continuous in the positions. Write the model as
:math:`f(R) = F\big(\mathcal{E}(R), \{d_e(R), \mathbf{D}_e(R)\}_{e \in \mathcal{E}(R)}\big)` with
:math:`\mathcal{E}(R) = \{e : d_e(R) < r_c\}`. Every :math:`d_e` is continuous (Lipschitz with
constant 2) in the positions :math:`R`, and every architecture's :math:`F` is continuous in the
edge features for a fixed edge set, so :math:`f` can jump only where :math:`\mathcal{E}` changes,
i.e. where some :math:`d_e = r_c` (a null set; and not even there for the enveloped SchNet and
DimeNet++ filters). For displacements :math:`\lVert\delta_a\rVert \le \varepsilon` the edge set
is unchanged whenever the gap :math:`g = \min_e |d_e - r_c| > 2\varepsilon`, and then
:math:`|f(R + \delta) - f(R)| \le L \cdot 2\varepsilon` with :math:`L` the model's Lipschitz
constant in the distances. Equivalent atoms of a symmetric slab have equal distance multisets, so
they get equal graphs with no tie-breaking anywhere.

Any count cap breaks this, and not on a null set but exactly at the geometries of interest: the
kept set of atom :math:`i` changes when its :math:`K`-th and :math:`(K{+}1)`-th distances swap,
and on an ideal slab a shell of equal distances straddles rank :math:`K` (a 4x4x4 fcc(111) slab
at 6-8 Å), so displacements of any size, however small, split the shell differently for
equivalent atoms and a summing operator jumps by a whole message. A *smooth* cap (edge weights
fading with rank through an envelope) would remove the jump, but it needs an edge weight in every
operator, and ``graphconv``, ``sageconv``, ``gcnconv`` and ``genconv`` take the study's inputs
without one: the study's operators would have to change. The radius graph changes only their input;
its price is more edges at large cutoffs (``benchmarks/graph_continuity.py`` measures it).

``shell_complete``: a per-atom cap at :math:`K` = ``max_neighbors``, never splitting a shell
(below); the default of cache schema 2, kept for comparison and strict reproductions.

``study_global``: the cap of the study's public code, global rather than per atom: all edges of
the graph sorted by distance, the :math:`K N` shortest kept (:math:`N` atoms). Ties at equal
distance (rounded to :data:`DISTANCE_RESOLUTION`) are broken by :math:`(i, j, \mathbf{S})`; the
study's own tie order (its neighbour list's) is not recorded, so on ideal slabs this rule may
differ from the original at the last tied shell. An atom may keep more or fewer than :math:`K`.

**Storage order and the shell-complete cap.** Edges are ordered by the key :math:`(i,\ \lfloor d /
\delta \rceil,\ j,\ S_1, S_2, S_3)` with :math:`\delta` = :data:`DISTANCE_RESOLUTION` = 1e-8 Å
(nearest first, then the lower neighbour index, then the lexicographically smaller offset) and
returned in that order, grouped by centre atom. The order only fixes how edges are stored; *which*
edges are kept depends on the geometry alone. Each centre :math:`i` keeps its :math:`K` =
``max_neighbors`` nearest edges **and every edge of the shell the** :math:`K`-**th one belongs to**:
with the distances of :math:`i` sorted, :math:`d_1 \le d_2 \le \dots \le d_n`, it keeps :math:`d_1
.. d_m` with

.. math::
    m = \min\{\, k \ge K : k = n \ \text{or}\ d_{k+1} - d_k > \tau \,\},
    \qquad \tau = \text{SHELL_TOLERANCE} = 10^{-4}\ \text{Å},

so a shell of neighbours whose distances are chained by gaps of at most :math:`\tau` is never
split, and an atom may get more than :math:`K` edges. The kept set is a function of the multiset
of distances of :math:`i` only: renumbering the atoms, taking an in-plane supercell or translating
(and wrapping) the slab leaves every atom's kept neighbours the same, which the earlier rule
(the :math:`K` nearest with ties broken by :math:`j`) did not: on an ideal slab it gave
symmetry-equivalent atoms different environments. :math:`\tau` lies far above the noise of
symmetry-equivalent distances (float64 arithmetic ~1e-14 Å; float32-stored coordinates ~1e-6 Å;
coordinates of symmetric slabs after a force relaxation, which keeps equivalent distances equal to
~1e-5 Å) and far below the separations of distinct shells that matter physically (≥ 1e-2 Å in
metal slabs); two genuinely different neighbours closer than :math:`\tau` are both kept, which
costs one edge and changes no symmetry. :attr:`Edges.degree_within_cutoff` counts each centre's
edges before the cap, so callers can tell which atoms the cap reached.

The capped edge set need not be symmetric: :math:`j` may be among the nearest of :math:`i` while
:math:`i` is not among those of :math:`j` (a per-atom cap, as the study's slides describe; its
public code capped globally, rule ``study_global``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from magmom.layout import NEIGHBOR_RULES

DEFAULT_RULE = NEIGHBOR_RULES[0]
"""``radius``: every edge within the cutoff (module docstring)."""
DISTANCE_RESOLUTION = 1e-8
"""Å: the storage order sorts distances rounded to this resolution (closer ones by j, then S)."""
SHELL_TOLERANCE = 1e-4
"""Å: neighbours whose distances are chained by gaps of at most this are one shell (never split)."""


@dataclass(frozen=True)
class Edges:
    """Edges of one structure, ordered by (centre i, distance, j, S)."""

    i: np.ndarray  # int64 (E,) centre atom (PyG target, edge_index row 1)
    j: np.ndarray  # int64 (E,) neighbour atom (PyG source, edge_index row 0)
    shift: np.ndarray  # int64 (E, 3) integer cell offset S
    vec: np.ndarray  # float64 (E, 3) D = r_j + S·cell − r_i
    dist: np.ndarray  # float64 (E,) |D|
    degree_within_cutoff: np.ndarray  # int64 (N,) edges of each centre within r_c, before the cap

    def __len__(self) -> int:
        return len(self.i)


_VESIN_LISTS: dict[float, object] = {}


def pairs_vesin(positions, cell, pbc, cutoff: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """All ordered pairs ``(i, j, S)`` within ``cutoff`` over periodic images, from vesin.

    vesin computes the half list (each unordered pair once, half the work); every pair
    :math:`(i, j, \\mathbf{S})` is then completed by its mirror :math:`(j, i, -\\mathbf{S})`.
    """
    from vesin import NeighborList

    nl = _VESIN_LISTS.get(float(cutoff))
    if nl is None:
        # one thread: the cache builder parallelises over slabs instead
        nl = _VESIN_LISTS[float(cutoff)] = NeighborList(
            cutoff=float(cutoff), full_list=False, n_threads=1
        )
    i, j, shift = nl.compute(
        np.asarray(positions, dtype=np.float64),
        np.asarray(cell, dtype=np.float64),
        np.asarray(pbc, dtype=bool),
        "ijS",
    )
    i, j, shift = i.astype(np.int64), j.astype(np.int64), shift.astype(np.int64)
    return np.concatenate([i, j]), np.concatenate([j, i]), np.concatenate([shift, -shift])


def pairs_ase(positions, cell, pbc, cutoff: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Same as :func:`pairs_vesin` with ``ase.neighborlist.primitive_neighbor_list`` (reference)."""
    from ase.neighborlist import primitive_neighbor_list

    i, j, shift = primitive_neighbor_list(
        "ijS",
        np.asarray(pbc, dtype=bool),
        np.asarray(cell, dtype=np.float64),
        np.asarray(positions, dtype=np.float64),
        float(cutoff),
        self_interaction=False,
    )
    return i.astype(np.int64), j.astype(np.int64), shift.astype(np.int64)


ENGINES = {"vesin": pairs_vesin, "ase": pairs_ase}


def displacements(positions, cell, i, j, shift) -> np.ndarray:
    """Displacements D = r_j + S·A − r_i of the edges (float64, one row per edge)."""
    pos = np.asarray(positions, dtype=np.float64)
    cell = np.asarray(cell, dtype=np.float64)
    return pos.take(j, axis=0) - pos.take(i, axis=0) + shift.astype(np.float64) @ cell


def nearest_order(i, j, shift, dist) -> np.ndarray:
    """Indices of all edges in storage order (i, round(d / DISTANCE_RESOLUTION), j, S1, S2, S3).

    Fast path: (i, rounded d, edge index) packed into one int64 and sorted by value; only when two
    edges of one centre have the same rounded distance is the full key sorted.
    """
    n_edges = len(i)
    if n_edges == 0:
        return np.zeros(0, dtype=np.int64)
    dkey = np.rint(np.asarray(dist) / DISTANCE_RESOLUTION).astype(np.int64)
    bits_e = int(n_edges - 1).bit_length()
    bits_d = int(dkey.max()).bit_length()
    bits_i = int(i.max()).bit_length()
    if bits_e + bits_d + bits_i <= 63:
        packed = np.sort((((i << bits_d) | dkey) << bits_e) | np.arange(n_edges))
        primary = packed >> bits_e
        if not np.any(primary[1:] == primary[:-1]):
            return packed & ((1 << bits_e) - 1)
    return np.lexsort((shift[:, 2], shift[:, 1], shift[:, 0], j, dkey, i))


def shell_complete_cap(i_sorted, dist_sorted, max_neighbors: int) -> np.ndarray:
    """Mask of the kept edges among edges sorted by (centre, distance): per centre the
    ``max_neighbors`` nearest plus the rest of the shell of the last one (module docstring).
    """
    n_edges = len(i_sorted)
    if n_edges == 0:
        return np.zeros(0, dtype=bool)
    counts = np.bincount(i_sorted)
    group_start = (np.cumsum(counts) - counts).take(i_sorted)
    rank = np.arange(n_edges) - group_start
    # a shell ends after edge k when the next edge of the same centre is more than tau farther
    gap = np.full(n_edges, np.inf)
    same_centre = i_sorted[1:] == i_sorted[:-1]
    gap[:-1][same_centre] = np.diff(dist_sorted)[same_centre]
    # shell ends at or after rank K-1, counted per centre up to (not including) each edge
    ends = (gap > SHELL_TOLERANCE) & (rank >= max_neighbors - 1)
    ends_before = np.cumsum(ends) - ends
    ends_before_group = (np.cumsum(ends) - ends).take(group_start)
    return (rank < max_neighbors) | (ends_before == ends_before_group)


def study_global_cap(i, j, shift, dist, n_atoms: int, max_neighbors: int) -> np.ndarray:
    """Mask of the ``max_neighbors * n_atoms`` shortest edges of the graph (ties by i, j, S)."""
    budget = int(max_neighbors) * int(n_atoms)
    keep = np.zeros(len(i), dtype=bool)
    if len(i) <= budget:
        keep[:] = True
        return keep
    dkey = np.rint(np.asarray(dist) / DISTANCE_RESOLUTION).astype(np.int64)
    order = np.lexsort((shift[:, 2], shift[:, 1], shift[:, 0], j, i, dkey))
    keep[order[:budget]] = True
    return keep


def resolve_rule(rule: str | None, max_neighbors: int | None) -> tuple[str, int | None]:
    """The checked ``(rule, max_neighbors)`` pair; ``rule=None`` keeps the calling convention of
    cache schema 2 (``max_neighbors`` None: ``radius``, else ``shell_complete``). ``radius``
    ignores ``max_neighbors`` (returned as None); the capped rules need one >= 1."""
    if rule is None:
        rule = "radius" if max_neighbors is None else "shell_complete"
    if rule not in NEIGHBOR_RULES:
        raise ValueError(
            f"unknown neighbour rule {rule!r} (config key graphs.neighbor_rule); "
            f"allowed: {', '.join(NEIGHBOR_RULES)}"
        )
    if rule == "radius":
        return rule, None
    if max_neighbors is None or int(max_neighbors) < 1:
        raise ValueError(
            f"neighbour rule {rule!r} needs max_neighbors >= 1 (config key graphs.max_neighbors), "
            f"got {max_neighbors!r}"
        )
    return rule, int(max_neighbors)


def neighbor_edges(
    positions,
    cell,
    pbc,
    cutoff: float,
    max_neighbors: int | None = None,
    engine: str = "vesin",
    rule: str | None = None,
) -> Edges:
    """Edges within ``cutoff`` (all periodic images) chosen by ``rule`` (module docstring; None:
    ``shell_complete`` when ``max_neighbors`` is given, else ``radius``), grouped by centre atom,
    nearest first."""
    if engine not in ENGINES:
        raise ValueError(f"unknown neighbour-list engine {engine!r}; allowed: {sorted(ENGINES)}")
    if max_neighbors is not None and max_neighbors < 1:
        raise ValueError(f"max_neighbors must be >= 1 or None, got {max_neighbors}")
    rule, max_neighbors = resolve_rule(rule, max_neighbors)
    i, j, shift = ENGINES[engine](positions, cell, pbc, cutoff)
    vec = displacements(positions, cell, i, j, shift)
    dist = np.sqrt(np.einsum("ij,ij->i", vec, vec))
    keep = nearest_order(i, j, shift, dist)
    degree = np.bincount(i, minlength=len(positions)).astype(np.int64)
    if rule == "shell_complete":
        keep = keep[shell_complete_cap(i.take(keep), dist.take(keep), max_neighbors)]
    elif rule == "study_global":
        kept = study_global_cap(i, j, shift, dist, len(positions), max_neighbors)
        keep = keep[kept.take(keep)]
    return Edges(
        i=i.take(keep),
        j=j.take(keep),
        shift=shift.take(keep, axis=0),
        vec=vec.take(keep, axis=0),
        dist=dist.take(keep),
        degree_within_cutoff=degree,
    )
