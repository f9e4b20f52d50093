"""Slab -> graph arrays, and the parallel build of the train/val/test caches of one cutoff.

A graph record holds these arrays (stored dtypes are the smallest that hold the values; the
reader converts to the contract dtypes of :mod:`magmom.graphs.dataset`):

============  ===========  ============  ====================================================
name          shape        stored dtype  meaning
============  ===========  ============  ====================================================
z             (N,)         u1            atomic numbers
pos           (N, 3)       f4            Cartesian positions, Å (as stored in the dataset)
cell          (1, 3, 3)    f4            cell vectors as rows, Å
edge_index    (2, E)       u2 or i4      row 0 neighbour j (source), row 1 centre i (target)
edge_dist     (E,)         f4            |D|, Å
edge_vec      (E, 3)       f4            D = r_j + S·cell − r_i, Å (computed in float64)
cell_offset   (E, 3)       i1, i2 or i4  integer cell offset S
y             (N,)         f4            target: |m| (``abs``) or m (``signed``), μB
magmom        (N,)         f4            signed moment m, μB
slab_id       (L,)         u1            UTF-8 bytes of the slab id
============  ===========  ============  ====================================================

Edges are grouped by centre atom and ordered nearest first (see :mod:`magmom.graphs.neighbours`).
"""

from __future__ import annotations

import hashlib
import multiprocessing
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import partial

import numpy as np
from tqdm.auto import tqdm

from magmom.graphs.cache import CacheWriter
from magmom.graphs.neighbours import neighbour_edges
from magmom.graphs.record_layout import encode

TARGETS = ("abs", "signed")


class GraphBuildError(ValueError):
    """A slab cannot be turned into a graph, or the dataset and the split disagree."""


@dataclass(frozen=True)
class SlabInput:
    """The plain arrays of one labelled slab (cheap to send to worker processes)."""

    slab_id: str
    numbers: np.ndarray
    positions: np.ndarray
    cell: np.ndarray
    pbc: np.ndarray
    magmoms: np.ndarray

    @classmethod
    def from_labelled(cls, slab) -> SlabInput:
        """From a :class:`magmom.data.dataset.LabelledSlab` (``atoms``, ``magmoms``, ``meta``)."""
        atoms = slab.atoms
        return cls(
            slab_id=str(slab.meta["slab_id"]),
            numbers=np.asarray(atoms.numbers),
            positions=np.asarray(atoms.positions, dtype=np.float64),
            cell=np.asarray(atoms.cell[:], dtype=np.float64),
            pbc=np.asarray(atoms.pbc, dtype=bool),
            magmoms=np.asarray(slab.magmoms, dtype=np.float64),
        )


def _smallest_int(values: np.ndarray, candidates: Sequence[str]) -> np.dtype:
    lo, hi = (int(values.min()), int(values.max())) if values.size else (0, 0)
    for name in candidates:
        info = np.iinfo(name)
        if info.min <= lo and hi <= info.max:
            return np.dtype(name)
    raise OverflowError(f"values in [{lo}, {hi}] fit none of {candidates}")


def graph_arrays(
    slab: SlabInput,
    cutoff: float,
    max_neighbors: int | None,
    target: str = "abs",
    engine: str = "vesin",
) -> dict[str, np.ndarray]:
    """The graph of one slab as named arrays in their stored dtypes (table in the module doc)."""
    if target not in TARGETS:
        raise GraphBuildError(f"target {target!r} not allowed; allowed: {', '.join(TARGETS)}")
    n = len(slab.numbers)
    magmoms = np.asarray(slab.magmoms, dtype=np.float64)
    if magmoms.shape != (n,):
        raise GraphBuildError(
            f"slab {slab.slab_id}: {magmoms.shape} magnetic moments for {n} atoms"
        )
    if not (np.isfinite(magmoms).all() and np.isfinite(slab.positions).all()):
        raise GraphBuildError(f"slab {slab.slab_id}: non-finite positions or magnetic moments")
    if n == 0 or not (0 < slab.numbers.min() and slab.numbers.max() < 119):
        raise GraphBuildError(f"slab {slab.slab_id}: no atoms or atomic numbers outside 1..118")
    try:
        edges = neighbour_edges(
            slab.positions, slab.cell, slab.pbc, cutoff, max_neighbors, engine=engine
        )
    except Exception as err:
        raise GraphBuildError(f"slab {slab.slab_id}: neighbour list failed: {err}") from err
    index = np.stack([edges.j, edges.i])
    y = np.abs(magmoms) if target == "abs" else magmoms
    return {
        "z": slab.numbers.astype(np.uint8),
        "pos": slab.positions.astype(np.float32),
        "cell": slab.cell.astype(np.float32).reshape(1, 3, 3),
        "edge_index": index.astype(_smallest_int(index, ("u2", "i4"))),
        "edge_dist": edges.dist.astype(np.float32),
        "edge_vec": edges.vec.astype(np.float32),
        "cell_offset": edges.shift.astype(_smallest_int(edges.shift, ("i1", "i2", "i4"))),
        "y": y.astype(np.float32),
        "magmom": magmoms.astype(np.float32),
        "slab_id": np.frombuffer(slab.slab_id.encode(), dtype=np.uint8),
    }


def encoded_graph(
    slab: SlabInput, cutoff: float, max_neighbors: int | None, target: str, engine: str = "vesin"
) -> tuple[bytes, np.ndarray, np.ndarray]:
    """(record bytes, z, y) of one slab: the unit of work of a builder process."""
    arrays = graph_arrays(slab, cutoff, max_neighbors, target, engine)
    return encode(arrays), arrays["z"], arrays["y"]


def file_sha256(path: str | os.PathLike, chunk: int = 1 << 22) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def slabs_sha256(slab_ids: Iterable[str]) -> str:
    """Hash of a split's slab list: sha256 of the sorted ids joined by newlines."""
    return hashlib.sha256("\n".join(sorted(slab_ids)).encode()).hexdigest()


def partition(
    slabs: Iterable[SlabInput], split_of: Mapping[str, str], dataset: str = "the dataset"
) -> dict[str, list[SlabInput]]:
    """Slabs per split, each sorted by slab id; dataset and split must hold the same ids."""
    out: dict[str, list[SlabInput]] = {}
    seen = set()
    for slab in slabs:
        if slab.slab_id in seen:
            raise GraphBuildError(f"{dataset}: slab {slab.slab_id!r} occurs twice")
        seen.add(slab.slab_id)
        if slab.slab_id not in split_of:
            raise GraphBuildError(
                f"slab {slab.slab_id!r} of {dataset} is not in the split file: the split is older "
                f"than the dataset; rerun the split rule"
            )
        out.setdefault(split_of[slab.slab_id], []).append(slab)
    missing = sorted(set(split_of) - seen)
    if missing:
        raise GraphBuildError(
            f"{len(missing)} slab(s) of the split file are not in {dataset} (first: "
            f"{missing[0]!r}); rerun the split rule"
        )
    return {split: sorted(group, key=lambda s: s.slab_id) for split, group in out.items()}


def build_caches(
    slabs: Iterable[SlabInput],
    split_of: Mapping[str, str],
    outputs: Mapping[str, str | os.PathLike],
    cutoff: float,
    max_neighbors: int | None,
    target: str = "abs",
    meta: Mapping | None = None,
    processes: int = 1,
    engine: str = "vesin",
    chunksize: int = 8,
) -> dict[str, int]:
    """Build one cache per split in ``outputs`` (``{split: path}``); return graphs per split.

    Neighbour lists and encoding run in ``processes`` worker processes; the main process writes.
    ``meta`` (e.g. dataset and split hashes) goes into every header next to cutoff, cap, target,
    split name and the hash of the split's slab list. An empty split gives an empty cache.
    """
    groups = partition(slabs, split_of, dataset=(meta or {}).get("dataset", "the dataset"))
    unknown = set(groups) - set(outputs)
    if unknown:
        raise GraphBuildError(f"split(s) {sorted(unknown)} in the split file have no output path")
    work = partial(
        encoded_graph,
        cutoff=float(cutoff),
        max_neighbors=max_neighbors,
        target=target,
        engine=engine,
    )
    pool = multiprocessing.get_context("fork").Pool(processes) if processes > 1 else None
    counts = {}
    try:
        for split, path in outputs.items():
            group = groups.get(split, [])
            header = {
                **(meta or {}),
                "cutoff": float(cutoff),
                "max_neighbors": max_neighbors,
                "target": target,
                "split": split,
                "slabs_sha256": slabs_sha256(s.slab_id for s in group),
            }
            results = pool.imap(work, group, chunksize) if pool else map(work, group)
            with CacheWriter(path, header) as writer:
                for record, z, y in tqdm(
                    results,
                    total=len(group),
                    desc=f"graphs r{cutoff:g} {split}",
                    unit="slab",
                    mininterval=2.0,
                ):
                    writer.add_record(record, z, y)
            counts[split] = writer.count
    finally:
        if pool is not None:
            pool.terminate()
            pool.join()
    return counts
