"""PyG view of a graph cache: :class:`GraphCache` (a ``Dataset``) and :func:`make_loader`.

Item ``k`` is a :class:`torch_geometric.data.Data` with

============  ===========  =======  ==========================================================
field         shape        dtype    meaning
============  ===========  =======  ==========================================================
z             (N,)         long     atomic numbers (the only node feature)
pos           (N, 3)       float32  positions, Å
edge_index    (2, E)       long     row 0 neighbour j (source), row 1 centre i (target)
edge_dist     (E,)         float32  |D|, Å
edge_vec      (E, 3)       float32  D = r_j + S·cell − r_i, Å
cell_offset   (E, 3)       long     integer cell offset S
cell          (1, 3, 3)    float32  cell vectors as rows (batches to (B, 3, 3))
y             (N,)         float32  target: |m| or signed m (header ``target``), μB
magmom        (N,)         float32  signed moment m, μB
slab_id       str                   slab id (batches to a list)
natoms        int                   N (batches to a (B,) tensor)
============  ===========  =======  ==========================================================

The per-element statistics of ``y`` over the whole cache are read from the header, so residual
models and baselines get them without a pass over the graphs:
:math:`\\bar y_Z = \\sum_{a: Z_a = Z} y_a / n_Z` (0 for unseen elements).
"""

from __future__ import annotations

import os

import numpy as np
import torch
from torch_geometric.data import Data, Dataset
from torch_geometric.loader import DataLoader

from magmom.graphs.cache import CacheReader
from magmom.graphs.element_stats import ElementStats


def arrays_to_data(arrays: dict[str, np.ndarray]) -> Data:
    """Stored arrays of one graph -> ``Data`` with the contract dtypes."""

    def t(name, dtype):
        value = arrays[name]
        if value.dtype != dtype:
            value = value.astype(dtype)
        return torch.from_numpy(value)

    z = t("z", np.int64)
    return Data(
        z=z,
        pos=t("pos", np.float32),
        edge_index=t("edge_index", np.int64),
        edge_dist=t("edge_dist", np.float32),
        edge_vec=t("edge_vec", np.float32),
        cell_offset=t("cell_offset", np.int64),
        cell=t("cell", np.float32),
        y=t("y", np.float32),
        magmom=t("magmom", np.float32),
        slab_id=arrays["slab_id"].tobytes().decode(),
        natoms=int(z.shape[0]),
    )


class GraphCache(Dataset):
    """The graphs of one cache file (``<results_dir>/graphs/graphs-r{c}-{name}-{split}.lmdb``).

    ``expect`` are header values to insist on, e.g. ``GraphCache(path, cutoff=8, target="abs")``;
    a mismatch, a missing header, a truncated or corrupted file raise
    :class:`magmom.graphs.cache.CacheError` naming the file. The LMDB file is opened lazily in
    each process that reads, so the dataset can be used with ``num_workers > 0``.
    """

    def __init__(self, path: str | os.PathLike, **expect):
        self.reader = CacheReader(path, **expect)
        super().__init__(root=None, transform=None, log=False)

    @property
    def path(self):
        return self.reader.path

    @property
    def header(self) -> dict:
        """Schema version, cutoff, neighbor_rule, max_neighbors, count, target, hashes, split."""
        return dict(self.reader.header)

    def len(self) -> int:
        return len(self.reader)

    def get(self, idx: int) -> Data:
        return arrays_to_data(self.reader.arrays(int(idx)))

    def element_stats(self) -> ElementStats:
        """Count, sum and sum of squares of ``y`` per atomic number (a copy of the header's)."""
        s = self.reader.stats
        return ElementStats(s.count.copy(), s.sum.copy(), s.sumsq.copy())

    def element_mean(self) -> torch.Tensor:
        """:meth:`ElementStats.mean` of this cache, float32 ``(NUM_Z,)``: per-element mean of
        ``y``, the global mean for elements that never occur."""
        return torch.from_numpy(self.reader.stats.mean().astype(np.float32))

    def __repr__(self) -> str:
        h = self.reader.header
        return f"GraphCache({str(self.path)!r}, count={h['count']}, cutoff={h['cutoff']:g})"


def make_loader(
    cache: Dataset,
    batch_size: int,
    shuffle: bool = False,
    num_workers: int = 0,
    seed: int = 0,
    **kwargs,
) -> DataLoader:
    """A PyG ``DataLoader`` over ``cache``; the shuffle order depends only on ``seed`` and epoch.

    Workers are persistent (one LMDB handle each, opened on first use). Extra keyword arguments go
    to ``DataLoader`` (e.g. ``drop_last``, ``pin_memory``).
    """
    generator = torch.Generator()
    generator.manual_seed(int(seed))
    if num_workers > 0:
        kwargs.setdefault("persistent_workers", True)
    return DataLoader(
        cache,
        batch_size=batch_size,
        shuffle=shuffle,
        num_workers=num_workers,
        generator=generator,
        **kwargs,
    )
