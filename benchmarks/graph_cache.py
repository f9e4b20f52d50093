"""Benchmark of the graph stage: the neighbour cap, neighbour lists, the full r8 cache build, loader
throughput.

0. What the per-atom cap (``max_neighbors`` = 50) does per cutoff, for the shell-complete rule of
   the cache (:mod:`magmom.graphs.neighbours`) and, for comparison, the rule before cache schema 2
   (:func:`index_tiebreak_cap`: the first 50 in (distance, atom index) order): mean and maximum
   edges per atom, fraction of capped atoms and median distance of the farthest kept neighbour
   (:mod:`magmom.graphs.cap_stats`), on ideal slabs (what a user holds before DFT) and on the
   rattled synthetic slabs below.
1. Build time per 64-atom 4x4x4 slab at each cutoff with the cache builder (vesin) against a
   reference builder that differs only in its neighbour list, ``ase.neighborlist`` (its
   ``primitive_neighbor_list``, the function behind ``neighbor_list``); same cap, same encoding,
   same run. Goal: >= 20x at r8.
2. Wall time to build the r8 caches (train/val/test) of a synthetic magmom21-sized dataset:
   19,651 slabs (17,131 with 64 atoms, 2,520 16-atom binary prototypes) on fcc(111), bcc(110) and
   hcp(0001), random elements, rattled, random moments; 80/10/10 random split; ``--processes``
   workers. Goal: <= 60 s on 2 cores. ``--n`` builds fewer slabs and extrapolates linearly.
   With ``--from-db`` the slabs are first written to a dataset file (ASE db, not timed) and the
   build reads it with ``magmom.data.dataset.iter_labelled_slabs`` while it builds, as the rule
   does.
3. Loader throughput (graphs/s) over the r8 train cache with ``make_loader`` (batch 32, shuffled),
   with 0 and 2 workers, against unpickling the same graphs as PyG ``Data`` objects (the format
   this cache replaces) from memory.

Run:  .venv/bin/python benchmarks/graph_cache.py [--n 19651] [--processes 2] [--from-db]
      [--cap-only]
"""

from __future__ import annotations

import argparse
import os
import pickle
import resource
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
from ase.build import bcc110, fcc111, hcp0001

from magmom.graphs.builder import SlabInput, build_caches, encoded_graph, graph_arrays_and_counts
from magmom.graphs.cap_stats import AtomEdgeCounts, CapStats

N_STUDY = 19_651
N_PROTOTYPES = 2_520
CUTOFFS = (3.0, 4.0, 6.0, 8.0)
METALS = (13, 22, 23, 24, 25, 26, 27, 28, 29, 30, 42, 44, 45, 46, 47, 74, 75, 76, 77, 78, 79)


def templates():
    return {
        (64, "fcc"): fcc111("Cu", size=(4, 4, 4), a=3.6, vacuum=10.0),
        (64, "bcc"): bcc110("Fe", size=(4, 4, 4), a=2.87, vacuum=10.0),
        (64, "hcp"): hcp0001("Co", size=(4, 4, 4), a=2.5, c=4.07, vacuum=10.0),
        (16, "fcc"): fcc111("Cu", size=(2, 2, 4), a=3.6, vacuum=10.0),
        (16, "bcc"): bcc110("Fe", size=(2, 2, 4), a=2.87, vacuum=10.0),
        (16, "hcp"): hcp0001("Co", size=(2, 2, 4), a=2.5, c=4.07, vacuum=10.0),
    }


def synthetic_slabs(n: int, seed: int = 42) -> list[SlabInput]:
    """``n`` random labelled slabs with the study's mix of 64- and 16-atom slabs."""
    rng = np.random.default_rng(seed)
    tmpl = templates()
    n16 = round(n * N_PROTOTYPES / N_STUDY)
    slabs = []
    for k in range(n):
        size = 16 if k < n16 else 64
        atoms = tmpl[(size, ("fcc", "bcc", "hcp")[k % 3])]
        scale = rng.uniform(0.92, 1.08)  # lattice constants of the 21 metals differ by ~±8 %
        positions = atoms.positions * scale + rng.normal(0.0, 0.05, atoms.positions.shape)
        cell = atoms.cell[:] * scale
        elements = rng.choice(METALS, size=int(rng.integers(1, 7)), replace=False)
        slabs.append(
            SlabInput(
                slab_id=f"synthetic-{k:05d}",
                numbers=rng.choice(elements, size=size),
                positions=positions,
                cell=cell,
                pbc=np.array([True, True, False]),
                magmoms=rng.normal(0.0, 1.0, size),
            )
        )
    return slabs


def index_tiebreak_cap(arrays: dict[str, np.ndarray], max_neighbors: int) -> dict[str, np.ndarray]:
    """The cap before schema 2, for comparison only: the ``max_neighbors`` first edges per centre.

    ``arrays`` must be an *uncapped* graph (``graph_arrays(..., max_neighbors=None)``), whose
    edges are stored in the order (centre, distance, neighbour index j, offset S); the old rule
    kept the first ``max_neighbors`` of each centre, so equidistant neighbours beyond the cap were
    chosen by their atom index (a shell could be split, depending on the numbering).
    """
    centre = arrays["edge_index"][1].astype(np.int64)
    counts = np.bincount(centre)
    rank = np.arange(len(centre)) - (np.cumsum(counts) - counts)[centre]
    keep = rank < max_neighbors
    edge_fields = ("edge_index", "edge_dist", "edge_vec", "cell_offset")
    return {
        name: (value[..., keep] if name == "edge_index" else value[keep])
        if name in edge_fields
        else value
        for name, value in arrays.items()
    }


def cpu_seconds() -> float:
    """User + system CPU time of this process and its finished children."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def per_slab(slabs, cutoff, engine, repeat=1):
    """CPU seconds per slab (process time: robust to other jobs on a shared machine)."""
    start = time.process_time()
    for _ in range(repeat):
        for slab in slabs:
            encoded_graph(slab, cutoff, 50, "abs", engine)
    return (time.process_time() - start) / (repeat * len(slabs))


def ideal_slabs(seed: int = 5) -> list[SlabInput]:
    """The six templates unrattled (the geometry before DFT), random elements, zero moments."""
    rng = np.random.default_rng(seed)
    out = []
    for (size, lattice), atoms in templates().items():
        out.append(
            SlabInput(
                slab_id=f"ideal-{lattice}-{size}",
                numbers=rng.choice(METALS, size=size),
                positions=atoms.positions,
                cell=atoms.cell[:],
                pbc=np.array([True, True, False]),
                magmoms=np.zeros(size),
            )
        )
    return out


def cap_stats_old_and_new(slabs, cutoff: float, max_neighbors: int = 50):
    """CapStats of the shell-complete cap and of the index tie-break cap on the same slabs."""
    new, old = CapStats(), CapStats()
    for slab in slabs:
        _, counts = graph_arrays_and_counts(slab, cutoff, max_neighbors)
        uncapped, full = graph_arrays_and_counts(slab, cutoff, None)
        new.add(counts)
        kept = AtomEdgeCounts.from_arrays(index_tiebreak_cap(uncapped, max_neighbors))
        old.add(AtomEdgeCounts(kept.kept, full.kept, kept.reach))
    return old, new


def bench_cap(n_synthetic: int = 300) -> None:
    sets = {
        "ideal slabs (6: 4x4x4 + 2x2x4 on fcc/bcc/hcp)": ideal_slabs(),
        f"rattled synthetic slabs ({n_synthetic})": synthetic_slabs(n_synthetic, seed=2),
    }
    print("0. per-atom cap 50: old rule (ties by atom index) -> shell-complete rule (this cache)")
    for label, slabs in sets.items():
        print(f"   {label}")
        print(
            f"   {'cutoff':>6} {'edges/atom mean':>17} {'edges/atom max':>15} "
            f"{'capped atoms':>15} {'median farthest kept, Å':>24}"
        )
        for cutoff in CUTOFFS:
            old, new = cap_stats_old_and_new(slabs, cutoff)
            print(
                f"   r{cutoff:<5g} {old.edges_per_atom_mean:7.2f} -> {new.edges_per_atom_mean:6.2f}"
                f" {old.edges_per_atom_max:6d} -> {new.edges_per_atom_max:5d}"
                f" {old.capped_fraction:6.1%} -> {new.capped_fraction:6.1%}"
                f" {old.reach_median:11.3f} -> {new.reach_median:9.3f}"
            )


def bench_neighbours() -> dict[float, float]:
    slabs = [s for s in synthetic_slabs(400, seed=1) if len(s.numbers) == 64][:24]
    ratios = {}
    print("1. build time per 64-atom slab (neighbour list + cap 50 + encoding), CPU time")
    print(f"   {'cutoff':>6} {'vesin ms':>9} {'ASE ms':>9} {'ratio':>7}  record size")
    for cutoff in CUTOFFS:
        per_slab(slabs[:2], cutoff, "vesin")  # warm-up
        fast = per_slab(slabs, cutoff, "vesin", repeat=5)
        ref = per_slab(slabs[:6], cutoff, "ase")
        edges = np.mean([len(encoded_graph(s, cutoff, 50, "abs")[0]) for s in slabs[:4]])
        ratios[cutoff] = ref / fast
        print(
            f"   r{cutoff:<5g} {fast * 1e3:9.2f} {ref * 1e3:9.2f} {ref / fast:6.1f}x"
            f"  ({edges / 1024:.0f} KiB/record)"
        )
    goal = "met" if ratios[8.0] >= 20 else "NOT met"
    print(f"   goal >= 20x at r8: {ratios[8.0]:.1f}x ({goal})")
    return ratios


def write_dataset_db(slabs: list[SlabInput], path: Path) -> None:
    """The synthetic slabs as a dataset file of the contract (ASE db), as the rule reads it."""
    from ase import Atoms

    from magmom.data.dataset import LabelledSlab, write_dataset

    rows = (
        LabelledSlab(
            Atoms(numbers=s.numbers, positions=s.positions, cell=s.cell, pbc=s.pbc),
            s.magmoms,
            {
                "slab_id": s.slab_id,
                "composition_id": s.slab_id,
                "comp_type": "binary",
                "lattice": "fcc",
                "placement": "random",
                "variant": 0,
                "labeller": "gpaw",
                "spinpol": True,
            },
        )
        for s in slabs
    )
    write_dataset(path, rows, "bench", progress=False)


def bench_full_build(n: int, processes: int, out: Path, from_db: bool) -> dict[str, Path]:
    source = "a dataset db, read while building" if from_db else "memory"
    print(f"\n2. r8 caches of {n:,} synthetic slabs from {source}, {processes} worker processes")
    t0 = time.perf_counter()
    slabs = synthetic_slabs(n)
    rng = np.random.default_rng(0)
    split_of = {
        s.slab_id: str(rng.choice(["train", "val", "test"], p=[0.8, 0.1, 0.1])) for s in slabs
    }
    if from_db:
        from magmom.data.dataset import iter_labelled_slabs

        db = out / "bench.db"
        write_dataset_db(slabs, db)
        del slabs
        stream = (SlabInput.from_labelled(s) for s in iter_labelled_slabs(db))
    else:
        stream = slabs
    print(f"   synthesised slabs in {time.perf_counter() - t0:.1f} s (not counted)")
    paths = {split: out / f"graphs-r8-bench-{split}.lmdb" for split in ("train", "val", "test")}
    load = os.getloadavg()[0]
    cpu0 = cpu_seconds()
    t0 = time.perf_counter()
    counts = build_caches(stream, split_of, paths, 8.0, 50, "abs", {}, processes=processes)
    elapsed = time.perf_counter() - t0
    cpu = cpu_seconds() - cpu0
    size = sum(p.stat().st_size for p in paths.values())
    print(
        f"   built {counts} in {elapsed:.1f} s ({n / elapsed:.0f} slabs/s), {size / 2**30:.2f} GiB"
    )
    print(
        f"   CPU time of builder + workers: {cpu:.1f} s; machine load average at start {load:.1f} "
        f"(other jobs share the cores); on {processes} idle cores: >= {cpu / processes:.1f} s"
    )
    full, idle = elapsed * N_STUDY / n, cpu / processes * N_STUDY / n
    if n != N_STUDY:
        print(
            f"   extrapolated to {N_STUDY:,} slabs: {full:.1f} s wall, {idle:.1f} s on idle cores"
        )
    for label, t in (("wall time", full), ("CPU time / cores", idle)):
        goal = "met" if t <= 60 else "NOT met"
        print(f"   goal <= 60 s, {label}: {t:.1f} s = {60 / t:.2f}x the budget ({goal})")
    return paths


def bench_loader(path: Path, max_graphs: int = 4000) -> None:
    import torch
    from torch_geometric.data import Batch

    from magmom.graphs import GraphCache, make_loader

    torch.set_num_threads(1)
    cache = GraphCache(path, cutoff=8.0)
    n_batches = max(1, min(len(cache), max_graphs) // 32)
    print(f"\n3. loader throughput over {n_batches * 32} graphs of {path.name}, batch 32")
    rates = {}
    for workers in (0, 2):
        loader = make_loader(cache, batch_size=32, shuffle=True, num_workers=workers, seed=0)
        it = iter(loader)
        next(it)  # start-up (worker fork) not counted
        t0, c0 = time.perf_counter(), time.process_time()
        seen = 0
        for _ in range(n_batches - 1):
            seen += next(it).num_graphs
        rates[workers] = seen / (time.perf_counter() - t0)
        cpu = f", {seen / (time.process_time() - c0):.0f} per CPU second" if not workers else ""
        print(
            f"   GraphCache + make_loader, {workers} workers: {rates[workers]:8.0f} graphs/s{cpu}"
        )
        del it, loader
    blobs = [pickle.dumps(cache[k]) for k in range(min(len(cache), 32 * n_batches))]
    t0, c0 = time.perf_counter(), time.process_time()
    for k in range(0, len(blobs), 32):
        Batch.from_data_list([pickle.loads(b) for b in blobs[k : k + 32]])
    ref = len(blobs) / (time.perf_counter() - t0)
    ref_cpu = len(blobs) / (time.process_time() - c0)
    print(
        f"   reference, unpickle PyG Data from memory + collate: {ref:8.0f} graphs/s, "
        f"{ref_cpu:.0f} per CPU second"
    )
    print(
        f"   ratio (0 workers / reference): {rates[0] / ref:.2f}x; 2 workers: {rates[2] / ref:.2f}x"
    )


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=N_STUDY, help="slabs in the full-build test")
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--keep", type=Path, help="directory to keep the caches in")
    parser.add_argument(
        "--from-db",
        action="store_true",
        help="write the slabs to a dataset db first (not counted) and time the rule's path: "
        "reading the db with magmom.data.dataset while the workers build",
    )
    parser.add_argument("--cap-only", action="store_true", help="run section 0 only")
    args = parser.parse_args()
    bench_cap()
    if args.cap_only:
        return
    bench_neighbours()
    out = args.keep or Path(tempfile.mkdtemp(prefix="magmom-bench-"))
    out.mkdir(parents=True, exist_ok=True)
    try:
        paths = bench_full_build(args.n, args.processes, out, args.from_db)
        bench_loader(paths["train"])
    finally:
        if args.keep is None:
            shutil.rmtree(out)


if __name__ == "__main__":
    main()
