"""Periodic slab graphs for the model tests, built with the project's graph builder.

Graphs follow the graph contract of ``docs/architecture.md`` (``magmom.graphs.builder``
+ ``arrays_to_data``); ``y`` is a smooth function of the element and the coordination number,
so every model, including the distance-blind operators, can fit it.
"""

from __future__ import annotations

import numpy as np
from ase import Atoms
from ase.build import fcc111
from torch_geometric.data import Batch, Data

from magmom.graphs.builder import SlabInput, graph_arrays
from magmom.graphs.dataset import arrays_to_data

ALLOY_ELEMENTS = (26, 27, 28, 46, 78)  # Fe Co Ni Pd Pt
SMALL_MODELS = {
    "hidden": 16,
    "layers": 2,
    "readout_hidden_layers": 1,
    "dimenet": {
        "hidden_channels": 16,
        "num_blocks": 2,
        "int_emb_size": 8,
        "basis_emb_size": 4,
        "out_emb_channels": 16,
        "num_spherical": 7,
        "num_radial": 6,
        "envelope_exponent": 5,
        "num_before_skip": 1,
        "num_after_skip": 2,
    },
}


def alloy_slab(seed: int, size=(3, 3, 3), symbol: str = "Ni", rattle: float = 0.08) -> Atoms:
    """A rattled fcc(111) random alloy slab, pbc (T, T, F), 10 Å vacuum."""
    rng = np.random.default_rng(seed)
    atoms = fcc111(symbol, size=size, vacuum=10.0)
    atoms.numbers = rng.choice(ALLOY_ELEMENTS, size=len(atoms))
    atoms.rattle(rattle, seed=seed)
    return atoms


def target_moments(atoms: Atoms, cutoff: float = 3.0) -> np.ndarray:
    """A learnable per-atom target: an element property averaged over the atom and its shell.

    Averages over the closed first shell are within reach of every operator, including the
    smoothing ones (GCN) that cannot single out an atom's own element.
    """
    from ase.neighborlist import neighbor_list

    base = {26: 2.5, 27: 1.6, 28: 0.6, 46: 0.3, 78: 0.2}
    value = np.array([base.get(int(z), 0.01 * z) for z in atoms.numbers])
    i, j = neighbor_list("ij", atoms, cutoff)
    total = value + np.bincount(i, weights=value[j], minlength=len(atoms))
    return total / (1 + np.bincount(i, minlength=len(atoms)))


def graph(atoms: Atoms, cutoff: float, max_neighbors: int | None = None, slab_id="s") -> Data:
    """The contract ``Data`` of one slab (labels from :func:`target_moments`)."""
    slab = SlabInput(
        slab_id=slab_id,
        numbers=atoms.numbers.copy(),
        positions=atoms.positions.copy(),
        cell=np.asarray(atoms.cell[:]),
        pbc=np.asarray(atoms.pbc),
        magmoms=target_moments(atoms),
    )
    return arrays_to_data(graph_arrays(slab, cutoff, max_neighbors, "abs", engine="ase"))


def batch(structures: list[Atoms], cutoff: float, max_neighbors: int | None = None) -> Batch:
    return Batch.from_data_list(
        [graph(a, cutoff, max_neighbors, f"s{k}") for k, a in enumerate(structures)]
    )


def translated(atoms: Atoms, shift, wrap: bool = True) -> Atoms:
    """A copy moved by ``shift`` (Å) and wrapped back into the periodic directions of the cell."""
    moved = atoms.copy()
    moved.positions += np.asarray(shift, dtype=float)
    if wrap:
        moved.wrap()
    return moved
