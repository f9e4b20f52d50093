r"""Per-element-mean baseline: the floor every model must beat.

Each test atom of element :math:`Z` is predicted as the mean target of the training atoms of that
element,

.. math::
    \hat y_i = \mu_{Z_i} = \frac{\sum_{k \in \mathrm{train},\, Z_k = Z_i} y_k}
                               {|\{k \in \mathrm{train} : Z_k = Z_i\}|},

read from the per-element sums and counts in the training graph cache's header (identical at every
cutoff, so one model serves them all). It uses element identity only, no geometry. An element that
never occurs in training is predicted as the mean over all training atoms, and the log says so.
"""

from __future__ import annotations

import logging

import numpy as np
import torch
from ase.data import chemical_symbols

log = logging.getLogger(__name__)


def element_means(count: torch.Tensor, total: torch.Tensor) -> tuple[np.ndarray, np.ndarray, float]:
    """``(mean (119,), seen (119,) bool, global mean)`` from per-Z counts and sums of ``y``."""
    count = count.to(torch.float64).numpy()
    total = total.to(torch.float64).numpy()
    if count.sum() <= 0:
        raise ValueError("the training cache holds no atoms: no per-element mean to fit")
    seen = count > 0
    mean = np.zeros(count.shape, dtype=np.float64)
    mean[seen] = total[seen] / count[seen]
    return mean, seen, float(total.sum() / count.sum())


def predict(z: np.ndarray, mean: np.ndarray, seen: np.ndarray, fallback: float) -> np.ndarray:
    """:math:`\\mu_{Z}` for every atomic number in ``z``; ``fallback`` for unseen elements."""
    z = np.asarray(z, dtype=np.int64)
    unseen = ~seen[z]
    if unseen.any():
        names = sorted({chemical_symbols[v] for v in np.unique(z[unseen])})
        log.warning(
            "%d test atom(s) of element(s) %s never occur in the training split; predicted as "
            "the global training mean %.4f",
            int(unseen.sum()),
            ", ".join(names),
            fallback,
        )
    return np.where(unseen, fallback, mean[z])


def fit_predict(train_cache, test_table) -> np.ndarray:
    """Predictions for the atoms of ``test_table`` (an :class:`~.atom_features.AtomTable`)
    from the element statistics in the header of ``train_cache`` (a ``GraphCache``)."""
    count, total, _ = train_cache.element_stats()
    mean, seen, fallback = element_means(count, total)
    for z in np.flatnonzero(seen):
        log.info(
            "mean %s = %.4f over %d training atoms", chemical_symbols[z], mean[z], int(count[z])
        )
    return predict(test_table.atoms["z"].to_numpy(), mean, seen, fallback)
