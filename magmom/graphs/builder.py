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

Edges are grouped by centre atom and ordered nearest first; which edges within the cutoff are
kept is the neighbour rule's choice (``radius``: all of them, the default; ``shell_complete``,
``study_global``: capped; see :mod:`magmom.graphs.neighbours`).
"""

from __future__ import annotations

import hashlib
import multiprocessing
import os
from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import partial

import numpy as np
from tqdm.auto import tqdm

from magmom.graphs.cache import CacheWriter
from magmom.graphs.cap_stats import AtomEdgeCounts
from magmom.graphs.neighbours import neighbor_edges, resolve_rule
from magmom.graphs.record_format import encode
from magmom.layout import NUM_Z, TARGETS


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
    rule: str | None = None,
) -> dict[str, np.ndarray]:
    """The graph of one slab as named arrays in their stored dtypes (table in the module doc);
    ``rule``: the neighbour rule (None: ``shell_complete`` when ``max_neighbors`` is given, else
    ``radius``; :func:`magmom.graphs.neighbours.resolve_rule`)."""
    return graph_arrays_and_counts(slab, cutoff, max_neighbors, target, engine, rule)[0]


def graph_arrays_and_counts(
    slab: SlabInput,
    cutoff: float,
    max_neighbors: int | None,
    target: str = "abs",
    engine: str = "vesin",
    rule: str | None = None,
) -> tuple[dict[str, np.ndarray], AtomEdgeCounts]:
    """:func:`graph_arrays` and the per-atom edge counts the cache header summarises."""
    if target not in TARGETS:
        raise GraphBuildError(f"target {target!r} not allowed; allowed: {', '.join(TARGETS)}")
    numbers = np.asarray(slab.numbers)
    positions = np.asarray(slab.positions, dtype=np.float64)
    cell = np.asarray(slab.cell, dtype=np.float64)
    n = len(numbers)
    magmoms = np.asarray(slab.magmoms, dtype=np.float64)
    if magmoms.shape != (n,):
        raise GraphBuildError(
            f"slab {slab.slab_id}: {magmoms.shape} magnetic moments for {n} atoms"
        )
    if not (np.isfinite(magmoms).all() and np.isfinite(positions).all()):
        raise GraphBuildError(f"slab {slab.slab_id}: non-finite positions or magnetic moments")
    if n == 0 or not (0 < numbers.min() and numbers.max() < NUM_Z):
        raise GraphBuildError(f"slab {slab.slab_id}: no atoms or atomic numbers outside 1..118")
    try:
        edges = neighbor_edges(
            positions, cell, slab.pbc, cutoff, max_neighbors, engine=engine, rule=rule
        )
    except Exception as err:
        raise GraphBuildError(f"slab {slab.slab_id}: neighbour list failed: {err}") from err
    index = np.stack([edges.j, edges.i])
    y = np.abs(magmoms) if target == "abs" else magmoms
    counts = AtomEdgeCounts.from_edges(edges.i, edges.dist, n, edges.degree_within_cutoff)
    arrays = {
        "z": numbers.astype(np.uint8),
        "pos": positions.astype(np.float32),
        "cell": cell.astype(np.float32).reshape(1, 3, 3),
        "edge_index": index.astype(_smallest_int(index, ("u2", "i4"))),
        "edge_dist": edges.dist.astype(np.float32),
        "edge_vec": edges.vec.astype(np.float32),
        "cell_offset": edges.shift.astype(_smallest_int(edges.shift, ("i1", "i2", "i4"))),
        "y": y.astype(np.float32),
        "magmom": magmoms.astype(np.float32),
        "slab_id": np.frombuffer(slab.slab_id.encode(), dtype=np.uint8),
    }
    return arrays, counts


def encoded_graph(
    slab: SlabInput,
    cutoff: float,
    max_neighbors: int | None,
    target: str,
    engine: str = "vesin",
    rule: str | None = None,
) -> tuple[bytes, np.ndarray, np.ndarray, AtomEdgeCounts]:
    """(record bytes, z, y, edge counts) of one slab: the unit of work of a builder process."""
    arrays, counts = graph_arrays_and_counts(slab, cutoff, max_neighbors, target, engine, rule)
    return encode(arrays), arrays["z"], arrays["y"], counts


def file_sha256(path: str | os.PathLike, chunk: int = 1 << 22) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def slabs_sha256(slab_ids: Iterable[str]) -> str:
    """Hash of a split's slab list: sha256 of the sorted ids joined by newlines."""
    return hashlib.sha256("\n".join(sorted(slab_ids)).encode()).hexdigest()


def _encoded_batch(slabs, cutoff, max_neighbors, target, engine, rule):
    return [encoded_graph(s, cutoff, max_neighbors, target, engine, rule) for s in slabs]


def _batches(items: Iterable, size: int):
    batch = []
    for item in items:
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


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
    batch_size: int = 16,
    progress: bool = True,
    rule: str | None = None,
) -> dict[str, int]:
    """Build one cache per split in ``outputs`` (``{split: path}``); return graphs per split.

    ``slabs`` may be a generator (e.g. over the dataset file): it is consumed once, in the calling
    process, while ``processes`` worker processes compute neighbour lists and encode records in
    batches of ``batch_size`` slabs; the calling process writes. Reading, building and writing
    thus overlap, and memory holds only the batches in flight. Graph ``k`` of a split is the
    ``k``-th of its slab ids in sorted order, whatever order the slabs arrive in; the split
    table fixes those positions before the first slab is read.

    The slabs must be exactly those of ``split_of``: a slab missing from it (a stale split), a
    slab of the split missing from ``slabs`` and duplicates are errors. ``meta`` (e.g. dataset
    and split hashes) goes into every header beside cutoff, the neighbour rule (``neighbor_rule``,
    :func:`~magmom.graphs.neighbours.resolve_rule`) and its cap, target, split name, the hash
    of the split's slab list and the summary of what the cap did
    (:mod:`magmom.graphs.cap_stats`). A split without slabs gives an empty cache. An error while
    reading or building leaves no file at any output path.
    """
    dataset = (meta or {}).get("dataset", "the dataset")
    rule, max_neighbors = resolve_rule(rule, max_neighbors)
    members, position = _split_positions(split_of, outputs)
    work = partial(
        _encoded_batch,
        cutoff=float(cutoff),
        max_neighbors=max_neighbors,
        target=target,
        engine=engine,
        rule=rule,
    )
    # import the neighbour-list library (vesin imports torch: seconds) once, before forking
    neighbor_edges(np.zeros((1, 3)), np.eye(3), np.zeros(3, bool), 1.0, engine=engine)
    pool = multiprocessing.get_context("fork").Pool(processes) if processes > 1 else None
    writers: dict[str, CacheWriter] = {}
    bar = tqdm(
        total=len(position),
        desc=f"graphs r{cutoff:g}",
        unit="slab",
        mininterval=2.0,
        disable=not progress,
    )

    def write(batch, results):
        for slab, (record, z, y, counts) in zip(batch, results, strict=True):
            split, index = position[slab.slab_id]
            writers[split].add_record(record, z, y, index, counts)
        bar.update(len(batch))

    header = {
        **(meta or {}),
        "cutoff": float(cutoff),
        "neighbor_rule": rule,
        "max_neighbors": max_neighbors,
        "target": target,
    }
    try:
        for split, path in outputs.items():  # (in the try: a failed open aborts the others)
            split_header = {**header, "split": split, "slabs_sha256": slabs_sha256(members[split])}
            writers[split] = CacheWriter(path, split_header)
        batches = _batches(_checked(slabs, position, dataset), batch_size)
        _run_batches(batches, work, write, pool, max_in_flight=4 * processes)
        for writer in writers.values():
            writer.close()
    except BaseException as err:
        for writer in writers.values():
            writer.abort((type(err), err, err.__traceback__))
        raise
    finally:
        bar.close()
        if pool is not None:
            pool.terminate()
            pool.join()
    return {split: writer.count for split, writer in writers.items()}


def _split_positions(
    split_of: Mapping[str, str], outputs: Mapping[str, str | os.PathLike]
) -> tuple[dict[str, list[str]], dict[str, tuple[str, int]]]:
    """``({split: sorted slab ids}, {slab id: (split, index in its cache)})``."""
    members: dict[str, list[str]] = {split: [] for split in outputs}
    for slab_id, split in split_of.items():
        if split not in members:
            raise GraphBuildError(f"split {split!r} of slab {slab_id!r} has no output path")
        members[split].append(slab_id)
    position = {}
    for split, ids in members.items():
        ids.sort()
        position.update({slab_id: (split, k) for k, slab_id in enumerate(ids)})
    return members, position


def _checked(stream: Iterable[SlabInput], position: Mapping[str, tuple], dataset: str):
    """``stream`` as it comes, refusing duplicates and slabs outside the split; at its end, the
    split's slabs it lacked."""
    seen = set()
    for slab in stream:
        if slab.slab_id in seen:
            raise GraphBuildError(f"{dataset}: slab {slab.slab_id!r} occurs twice")
        if slab.slab_id not in position:
            raise GraphBuildError(
                f"slab {slab.slab_id!r} of {dataset} is not in the split file: the split is "
                f"older than the dataset; rerun the split rule"
            )
        seen.add(slab.slab_id)
        yield slab
    missing = sorted(set(position) - seen)
    if missing:
        raise GraphBuildError(
            f"{len(missing)} slab(s) of the split file are not in {dataset} (first: "
            f"{missing[0]!r}); rerun the split rule"
        )


def _run_batches(batches: Iterable[list], work, write, pool, max_in_flight: int) -> None:
    """``write(batch, work(batch))`` for every batch, in order: in this process without a
    ``pool``, else with the work in the pool's processes, at most ``max_in_flight`` batches
    pending (every worker busy, the memory held by results in flight bounded)."""
    if pool is None:
        for batch in batches:
            write(batch, work(batch))
        return
    pending: deque = deque()
    for batch in batches:
        pending.append((batch, pool.apply_async(work, (batch,))))
        while pending and (len(pending) > max_in_flight or pending[0][1].ready()):
            done, result = pending.popleft()
            write(done, result.get())
    while pending:
        done, result = pending.popleft()
        write(done, result.get())
