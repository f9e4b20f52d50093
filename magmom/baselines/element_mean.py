r"""Per-element-mean baseline: the floor every model must beat.

Each test atom of element :math:`Z` is predicted as :math:`\mu_Z`, the mean target of the training
atoms of that element (:meth:`magmom.graphs.element_stats.ElementStats.mean`: the global training
mean for an element that never occurs in training; the log names such elements). The statistics
come from the training graph cache's header (identical at every cutoff, so one model serves them
all). It uses element identity only, no geometry.
"""

from __future__ import annotations

import logging

import numpy as np
from ase.data import chemical_symbols

from magmom.graphs.element_stats import ElementStats

log = logging.getLogger(__name__)


def predict(z: np.ndarray, stats: ElementStats) -> np.ndarray:
    r""":math:`\mu_Z` for every atomic number in ``z``; logs the elements unseen in training."""
    z = np.asarray(z, dtype=np.int64)
    unseen = ~stats.seen[z]
    if unseen.any():
        names = sorted({chemical_symbols[v] for v in np.unique(z[unseen])})
        log.warning(
            "%d test atom(s) of element(s) %s never occur in the training split; predicted as "
            "the global training mean %.4f",
            int(unseen.sum()),
            ", ".join(names),
            stats.global_mean(),
        )
    return stats.mean()[z]


def fit_predict(train_cache, test_table) -> np.ndarray:
    """Predictions for the atoms of ``test_table`` (an :class:`~.atom_features.AtomTable`)
    from the element statistics in the header of ``train_cache`` (a ``GraphCache``)."""
    stats = train_cache.element_stats()
    try:
        mean = stats.mean()
    except ValueError:
        raise ValueError("the training cache holds no atoms: no per-element mean to fit") from None
    for z in np.flatnonzero(stats.seen):
        log.info(
            "mean %s = %.4f over %d training atoms", chemical_symbols[z], mean[z], stats.count[z]
        )
    return predict(test_table.atoms["z"].to_numpy(), stats)
