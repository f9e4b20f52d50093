r"""Hand-built per-atom features for the linear and XGBoost baselines.

For atom :math:`i` with element :math:`Z_i`, incoming edges :math:`j \to i` of the cached graph
(row 1 of ``edge_index`` is the centre :math:`i`, row 0 the neighbour :math:`j`) and distances
:math:`d_{ji}`, over the element list :math:`e_1 \dots e_K` (``recipe.elements`` and any other
element of the dataset, :func:`feature_elements`):

.. math::
    \mathbf{x}_i = \big[\,\underbrace{\delta_{Z_i e_k}}_{k=1..K},\;
    \underbrace{\textstyle\sum_{j \to i} \delta_{Z_j e_k}}_{k=1..K},\;
    n_i,\; \bar d_i,\; \min_{j} d_{ji},\; \max_{j} d_{ji}\,\big]
    \in \mathbb{R}^{2K + 4},

the one-hot of the atom's own element, the counts of each neighbour element, the coordination number
:math:`n_i` (number of incoming edges, periodic images included) and the mean, minimum and maximum
neighbour distance in Å (all three 0 for an atom without neighbours). Everything is computed for a
whole batch of graphs at once with scatter operations; no Python loop runs over atoms.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
from ase.data import atomic_numbers, chemical_symbols
from tqdm import tqdm

from magmom.layout import NUM_Z
from magmom.predictions import predictions_frame


def element_lookup(elements: Sequence[str]) -> torch.Tensor:
    """Column of each atomic number in the one-hot over ``elements``: long (119,), -1 if absent."""
    lookup = torch.full((NUM_Z,), -1, dtype=torch.long)
    for k, symbol in enumerate(elements):
        lookup[atomic_numbers[symbol]] = k
    return lookup


def feature_elements(configured: Sequence[str], caches: Iterable) -> list[str]:
    """The elements of the feature one-hot: ``configured`` (``recipe.elements``, in its order),
    then every other element the graph ``caches`` hold, by atomic number.

    An imported dataset may hold elements outside ``recipe.elements`` (or outside the study's 21
    metals); they get their own columns instead of stopping the baseline. The caches answer from
    their header statistics (:meth:`magmom.graphs.GraphCache.element_stats`), without a scan.
    """
    out = list(configured)
    present: set[int] = set()
    for cache in caches:
        present |= {int(z) for z in np.flatnonzero(cache.element_stats().count > 0)}
    known = {atomic_numbers[el] for el in out}
    return out + [chemical_symbols[z] for z in sorted(present - known)]


def feature_names(elements: Sequence[str]) -> list[str]:
    """Names of the :math:`2K + 4` feature columns, in order."""
    return (
        [f"is_{el}" for el in elements]
        + [f"n_{el}" for el in elements]
        + ["coordination", "dist_mean", "dist_min", "dist_max"]
    )


def atom_features(
    z: torch.Tensor,
    edge_index: torch.Tensor,
    edge_dist: torch.Tensor,
    lookup: torch.Tensor,
) -> torch.Tensor:
    """Feature matrix float32 (N, 2K + 4) of N atoms (one graph or a batch of graphs).

    ``lookup`` comes from :func:`element_lookup`; an atom (or neighbour) whose element is not in
    the list raises ``ValueError`` naming the element.
    """
    n_el = int((lookup >= 0).sum())
    col = lookup[z]
    if (col < 0).any():
        bad = sorted({chemical_symbols[int(v)] for v in z[col < 0].unique()})
        raise ValueError(
            f"element(s) {', '.join(bad)} have no column in the feature one-hot, which covers "
            f"{', '.join(chemical_symbols[int(v)] for v in torch.nonzero(lookup >= 0).flatten())}"
            " (magmom.baselines.atom_features.feature_elements adds every element of the caches)"
        )
    n = z.numel()
    src, dst = edge_index[0], edge_index[1]
    dist = edge_dist.to(torch.float64)

    own = torch.zeros(n, n_el, dtype=torch.float64)
    own[torch.arange(n), col] = 1.0
    counts = torch.zeros(n * n_el, dtype=torch.float64)
    counts.index_add_(0, dst * n_el + col[src], torch.ones_like(dist))
    counts = counts.view(n, n_el)

    degree = torch.bincount(dst, minlength=n).to(torch.float64)
    has = degree > 0
    dsum = torch.zeros(n, dtype=torch.float64).index_add_(0, dst, dist)
    dmean = dsum / degree.clamp(min=1.0)
    dmin = torch.full((n,), torch.inf, dtype=torch.float64)
    dmin = dmin.scatter_reduce(0, dst, dist, reduce="amin", include_self=True)
    dmax = torch.zeros(n, dtype=torch.float64)
    dmax = dmax.scatter_reduce(0, dst, dist, reduce="amax", include_self=True)
    dmin = torch.where(has, dmin, torch.zeros_like(dmin))

    geo = torch.stack([degree, dmean, dmin, dmax], dim=1)
    return torch.cat([own, counts, geo], dim=1).to(torch.float32)


@dataclass
class AtomTable:
    """Features, targets and atom identities of every atom of one graph cache."""

    x: np.ndarray  # float32 (N, 2K + 4)
    y: np.ndarray  # float32 (N,) the cache's target
    atoms: pd.DataFrame  # slab_id, atom_index, element, z (rows aligned with x and y)

    def predictions(self, y_pred) -> pd.DataFrame:
        """The predictions contract's frame of these atoms with ``y_pred`` (aligned rows)."""
        a = self.atoms
        return predictions_frame(a["slab_id"], a["atom_index"], a["element"], self.y, y_pred)


def cache_table(
    cache,
    elements: Sequence[str],
    batch_size: int = 256,
    with_features: bool = True,
    desc: str | None = None,
) -> AtomTable:
    """Per-atom features (optional), targets and identities of every graph of ``cache``.

    ``cache`` is a :class:`magmom.graphs.GraphCache` (any PyG dataset of the graph contract). Rows
    are ordered by (slab_id, atom_index). ``with_features=False`` skips the features (``x`` is then
    an empty (N, 0) array), which is all the per-element-mean baseline needs.
    """
    from torch_geometric.loader import DataLoader

    lookup = element_lookup(elements) if with_features else None
    xs, ys, zs, slabs, index = [], [], [], [], []
    loader = DataLoader(cache, batch_size=batch_size, shuffle=False)
    for batch in tqdm(loader, desc=desc or "atom features", unit="batch", mininterval=5):
        counts = torch.bincount(batch.batch, minlength=batch.num_graphs)
        if with_features:
            xs.append(atom_features(batch.z, batch.edge_index, batch.edge_dist, lookup).numpy())
        ys.append(batch.y.to(torch.float32).numpy())
        zs.append(batch.z.numpy())
        index.append((torch.arange(batch.num_nodes) - batch.ptr[batch.batch]).numpy())
        slabs.append(np.repeat(np.asarray(batch.slab_id, dtype=object), counts.numpy()))
    if not ys:
        raise ValueError(f"graph cache {getattr(cache, 'path', cache)} holds no graphs")
    z = np.concatenate(zs)
    atoms = pd.DataFrame(
        {
            "slab_id": np.concatenate(slabs).astype(str),
            "atom_index": np.concatenate(index).astype(np.int64),
            "element": np.asarray(chemical_symbols, dtype=object)[z],
            "z": z.astype(np.int64),
        }
    )
    y = np.concatenate(ys)
    x = np.concatenate(xs) if with_features else np.zeros((len(y), 0), dtype=np.float32)
    order = atoms.sort_values(["slab_id", "atom_index"], kind="stable").index.to_numpy()
    if not np.array_equal(order, np.arange(len(order))):
        atoms = atoms.iloc[order].reset_index(drop=True)
        x, y = x[order], y[order]
    return AtomTable(x=x, y=y, atoms=atoms)
