"""Benchmark of the tabular baselines' feature building and of the study-sized feature matrix.

1. Per-atom feature building (one-hot, neighbour-element counts, coordination, mean/min/max
   distance) for 64-atom r8 graphs: the vectorised scatter version used by the baselines
   (:func:`magmom.baselines.atom_features.atom_features`, one call per batch of graphs) against a
   per-atom Python loop over the same graphs (the obvious implementation), same run, same graphs.
   Goal: >= 50x.
2. Extrapolated wall time to build the features of the study's r8 training split (~15,700 slabs,
   ~0.94 M atoms) from the measured vectorised rate. Goal: <= 60 s on 2 cores.

Run:  .venv/bin/python benchmarks/baselines_features.py [--slabs 64] [--cutoff 8]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
from ase.build import fcc111
from torch_geometric.data import Batch

from magmom.baselines.atom_features import atom_features, element_lookup
from magmom.graphs.builder import SlabInput, graph_arrays
from magmom.graphs.dataset import arrays_to_data
from magmom.layout import ELEMENTS

STUDY_TRAIN_ATOMS = 940_000


def graphs(n: int, cutoff: float, seed: int = 0) -> list:
    rng = np.random.default_rng(seed)
    out = []
    for k in range(n):
        atoms = fcc111("Cu", size=(4, 4, 4), a=3.7, vacuum=10.0)
        atoms.set_chemical_symbols(rng.choice(ELEMENTS, len(atoms)).tolist())
        atoms.rattle(0.05, seed=k)
        slab = SlabInput(
            f"s{k}", atoms.numbers.copy(), atoms.positions.copy(), np.asarray(atoms.cell[:]),
            np.array([True, True, False]), np.zeros(len(atoms)),
        )  # fmt: skip
        out.append(arrays_to_data(graph_arrays(slab, cutoff, 50)))
    return out


def loop_features(data, lookup: torch.Tensor) -> np.ndarray:
    """Reference: one Python iteration per atom."""
    k = int((lookup >= 0).sum())
    z = data.z.numpy()
    src, dst = data.edge_index.numpy()
    d = data.edge_dist.numpy().astype(np.float64)
    col = lookup.numpy()
    out = np.zeros((len(z), 2 * k + 4))
    for i in range(len(z)):
        out[i, col[z[i]]] = 1.0
        mine = dst == i
        for j in src[mine]:
            out[i, k + col[z[j]]] += 1.0
        if mine.any():
            out[i, 2 * k :] = [mine.sum(), d[mine].mean(), d[mine].min(), d[mine].max()]
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--slabs", type=int, default=64)
    ap.add_argument("--cutoff", type=float, default=8.0)
    ap.add_argument("--threads", type=int, default=1, help="torch threads (the loop uses one)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    data = graphs(args.slabs, args.cutoff)
    lookup = element_lookup(ELEMENTS)
    batch = Batch.from_data_list(data)
    n_atoms = batch.num_nodes

    atom_features(batch.z, batch.edge_index, batch.edge_dist, lookup)  # warm-up
    t0 = time.perf_counter()
    fast = atom_features(batch.z, batch.edge_index, batch.edge_dist, lookup).numpy()
    t_fast = time.perf_counter() - t0
    t0 = time.perf_counter()
    slow = np.concatenate([loop_features(g, lookup) for g in data])
    t_slow = time.perf_counter() - t0
    assert np.allclose(fast, slow, rtol=1e-5, atol=1e-4), "vectorised and loop features differ"

    ratio = t_slow / t_fast
    study_s = STUDY_TRAIN_ATOMS / (n_atoms / t_fast)
    n_edges = batch.edge_index.shape[1]
    print(f"{args.slabs} slabs, {n_atoms} atoms, {n_edges} edges at r{args.cutoff:g}")
    print(f"vectorised: {t_fast * 1e3:8.1f} ms  ({n_atoms / t_fast:,.0f} atoms/s)")
    print(f"loop ref.:  {t_slow * 1e3:8.1f} ms  ({n_atoms / t_slow:,.0f} atoms/s)")
    verdict = "ok" if ratio >= 50 else "MISSED"
    print(f"speed-up vectorised / loop: {ratio:.0f}x  (goal >= 50x: {verdict})")
    print(
        f"study r8 train split (~{STUDY_TRAIN_ATOMS:,} atoms), features only: {study_s:.1f} s "
        f"(goal <= 60 s: {'ok' if study_s <= 60 else 'MISSED'})"
    )


if __name__ == "__main__":
    main()
