r"""Per-element statistics of a per-atom target, and the per-element mean.

The one per-element mean of the workflow: the residual models' bias (:mod:`magmom.models.residual`),
the per-element-mean baseline (:mod:`magmom.baselines.element_mean`) and the graph caches' header
(:mod:`magmom.graphs.cache`) all use :meth:`ElementStats.mean`. For training atoms :math:`k` with
atomic number :math:`Z_k` and target :math:`y_k`,

.. math::
    \mu_Z = \begin{cases}
        \dfrac{\sum_{k: Z_k = Z} y_k}{|\{k : Z_k = Z\}|}
            & \text{if element } Z \text{ occurs,} \\[1ex]
        \bar y = \dfrac{\sum_k y_k}{N} & \text{otherwise (the global training mean).}
    \end{cases}

An element never seen in training is thus predicted as the best constant a model knows, not as 0
(which would claim a moment of 0 μB). :attr:`ElementStats.seen` tells which elements occurred.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from magmom.layout import NUM_Z


class ElementStats:
    """Running per-element count, sum and sum of squares of a per-atom target (float64, indexed
    by atomic number, length :data:`~magmom.layout.NUM_Z`)."""

    def __init__(self, count=None, total=None, sumsq=None):
        self.count = np.zeros(NUM_Z) if count is None else np.asarray(count, dtype=np.float64)
        self.sum = np.zeros(NUM_Z) if total is None else np.asarray(total, dtype=np.float64)
        self.sumsq = np.zeros(NUM_Z) if sumsq is None else np.asarray(sumsq, dtype=np.float64)

    @classmethod
    def of_graphs(cls, graphs: Iterable) -> ElementStats:
        """Statistics of ``y`` over graphs with ``z`` and ``y`` (tensors or arrays)."""
        stats = cls()
        for g in graphs:
            stats.add(np.asarray(g.z), np.asarray(g.y))
        return stats

    def add(self, z: np.ndarray, y: np.ndarray) -> None:
        z = np.asarray(z, dtype=np.int64)
        y = np.asarray(y, dtype=np.float64)
        self.count += np.bincount(z, minlength=NUM_Z)
        self.sum += np.bincount(z, weights=y, minlength=NUM_Z)
        self.sumsq += np.bincount(z, weights=y * y, minlength=NUM_Z)

    @property
    def seen(self) -> np.ndarray:
        """Bool per atomic number: the element occurs at least once."""
        return self.count > 0

    def global_mean(self) -> float:
        """Mean of ``y`` over every atom; :class:`ValueError` when there is none."""
        n = self.count.sum()
        if n <= 0:
            raise ValueError("no atoms: no per-element mean to compute")
        return float(self.sum.sum() / n)

    def mean(self) -> np.ndarray:
        """:math:`\\mu_Z` per atomic number (float64): the element's mean where it occurs, the
        global mean elsewhere (module docstring). :class:`ValueError` when there are no atoms."""
        fallback = np.full(NUM_Z, self.global_mean())
        return np.divide(self.sum, self.count, out=fallback, where=self.seen)
