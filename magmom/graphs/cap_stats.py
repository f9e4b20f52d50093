r"""What the per-atom neighbour cap did to a set of graphs: edges per atom, capped atoms, reach.

For every atom :math:`a` of every graph let :math:`n_a` be its edges within the cutoff, :math:`k_a`
the edges the cap kept (:mod:`magmom.graphs.neighbours`: the ``max_neighbors`` nearest plus the
rest of the last shell) and :math:`\rho_a = \max d` over its kept edges, the distance of its
farthest kept neighbour. :class:`CapStats` accumulates

* ``atoms``, ``edges`` :math:`= \sum_a k_a`, ``edges_per_atom_max`` :math:`= \max_a k_a`;
* ``capped_atoms`` :math:`= |\{a : k_a < n_a\}|`, the atoms that lost an edge to the cap;
* a histogram of :math:`\rho_a` in bins of :data:`REACH_BIN` = 1e-3 Å (atoms without an edge
  have no :math:`\rho` and are left out), from which the median is read to within half a bin.

A cache writer keeps one per cache file and stores it in the header (:meth:`header_meta` in the
JSON metadata under ``"cap"``, the histogram as the header array ``cap_reach_hist``), so
:mod:`magmom.graphs.cap_report` reports a whole cutoff (train + val + test) from the headers
alone, without reading a single graph. Caches written without the per-atom counts
within the cutoff (e.g. by :meth:`~magmom.graphs.cache.CacheWriter.add` from bare arrays) report
``capped_atoms`` as unknown (``None``), never as zero.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

REACH_BIN = 1e-3
"""Å: bin width of the histogram of farthest-kept-neighbour distances."""
HEADER_ARRAY = "cap_reach_hist"
"""Name of the histogram array in a cache header record."""


@dataclass(frozen=True)
class AtomEdgeCounts:
    """Per-atom counts of one graph: kept edges, edges within the cutoff (None: unknown), reach."""

    kept: np.ndarray  # int (N,) edges kept by the cap
    within_cutoff: np.ndarray | None  # int (N,) edges within the cutoff before the cap
    reach: np.ndarray  # float (N,) distance of the farthest kept neighbour, NaN without edges

    @classmethod
    def from_edges(cls, centre, dist, n_atoms: int, within_cutoff=None) -> AtomEdgeCounts:
        """From the kept edges' centre atoms and distances (any order)."""
        centre = np.asarray(centre, dtype=np.int64)
        reach = np.full(n_atoms, -np.inf)
        np.maximum.at(reach, centre, np.asarray(dist, dtype=np.float64))
        reach[np.isneginf(reach)] = np.nan
        within = None if within_cutoff is None else np.asarray(within_cutoff, dtype=np.int64)
        return cls(np.bincount(centre, minlength=n_atoms), within, reach)

    @classmethod
    def from_arrays(cls, arrays) -> AtomEdgeCounts:
        """From a graph's stored arrays; the counts within the cutoff are unknown there."""
        n_atoms = len(arrays["z"])
        if "edge_index" not in arrays:
            return cls.from_edges(np.zeros(0, np.int64), np.zeros(0), n_atoms)
        return cls.from_edges(arrays["edge_index"][1], arrays["edge_dist"], n_atoms)


class CapStats:
    """Running summary of :class:`AtomEdgeCounts` (module docstring); mergeable."""

    def __init__(self):
        self.atoms = 0
        self.edges = 0
        self.edges_per_atom_max = 0
        self.capped_atoms: int | None = 0
        self.reach_hist = np.zeros(0, dtype=np.int64)

    def add(self, counts: AtomEdgeCounts) -> None:
        kept = np.asarray(counts.kept, dtype=np.int64)
        self.atoms += len(kept)
        self.edges += int(kept.sum())
        if len(kept):
            self.edges_per_atom_max = max(self.edges_per_atom_max, int(kept.max()))
        if counts.within_cutoff is None or self.capped_atoms is None:
            self.capped_atoms = None
        else:
            self.capped_atoms += int(np.count_nonzero(kept < counts.within_cutoff))
        reach = counts.reach[np.isfinite(counts.reach)]
        self._add_hist(np.bincount(np.floor(reach / REACH_BIN).astype(np.int64)))

    def _add_hist(self, hist: np.ndarray) -> None:
        if len(hist) > len(self.reach_hist):
            self.reach_hist = np.pad(self.reach_hist, (0, len(hist) - len(self.reach_hist)))
        self.reach_hist[: len(hist)] += hist

    def merge(self, other: CapStats) -> CapStats:
        """Add ``other``'s atoms to this summary (e.g. val and test onto train); returns self."""
        self.atoms += other.atoms
        self.edges += other.edges
        self.edges_per_atom_max = max(self.edges_per_atom_max, other.edges_per_atom_max)
        if self.capped_atoms is None or other.capped_atoms is None:
            self.capped_atoms = None
        else:
            self.capped_atoms += other.capped_atoms
        self._add_hist(other.reach_hist)
        return self

    @property
    def edges_per_atom_mean(self) -> float | None:
        return self.edges / self.atoms if self.atoms else None

    @property
    def capped_fraction(self) -> float | None:
        """Fraction of atoms that lost at least one edge to the cap (None: unknown or no atoms)."""
        if self.capped_atoms is None or not self.atoms:
            return None
        return self.capped_atoms / self.atoms

    @property
    def reach_median(self) -> float | None:
        """Median distance of the farthest kept neighbour, Å (centre of its 1e-3 Å bin)."""
        total = int(self.reach_hist.sum())
        if not total:
            return None
        k = int(np.searchsorted(np.cumsum(self.reach_hist), (total + 1) / 2))
        return (k + 0.5) * REACH_BIN

    @property
    def reach_max(self) -> float | None:
        """Farthest kept neighbour of any atom, Å (upper edge of its 1e-3 Å bin): the effective
        radius, the largest distance a message comes from."""
        nonzero = np.flatnonzero(self.reach_hist)
        return None if not len(nonzero) else (int(nonzero[-1]) + 1) * REACH_BIN

    def header_meta(self) -> dict:
        """JSON-ready raw counts and summary values (the ``"cap"`` entry of a cache header)."""
        mean, frac, median = self.edges_per_atom_mean, self.capped_fraction, self.reach_median
        return {
            "atoms": self.atoms,
            "edges": self.edges,
            "edges_per_atom_mean": None if mean is None else round(mean, 4),
            "edges_per_atom_max": self.edges_per_atom_max,
            "capped_atoms": self.capped_atoms,
            "capped_atom_fraction": None if frac is None else round(frac, 6),
            "reach_median": None if median is None else round(median, 4),
        }

    @classmethod
    def from_header(cls, meta: dict, reach_hist: np.ndarray) -> CapStats:
        """Rebuild from a cache header's ``"cap"`` entry and histogram array."""
        stats = cls()
        stats.atoms = int(meta["atoms"])
        stats.edges = int(meta["edges"])
        stats.edges_per_atom_max = int(meta["edges_per_atom_max"])
        capped = meta["capped_atoms"]
        stats.capped_atoms = None if capped is None else int(capped)
        stats.reach_hist = np.asarray(reach_hist, dtype=np.int64).copy()
        return stats
