r"""Benchmark of the training step: one epoch's throughput (graphs/s) of every architecture.

A synthetic training cache of ``--slabs`` (2,000) random 64/16-atom slabs with random moments
(:func:`graph_cache.synthetic_slabs`) is written at ``--cutoff`` (6 Å) by the workflow's own cache
builder (:func:`magmom.graphs.builder.build_caches`, per-atom cap ``graphs.max_neighbors``), or
reused from ``--workdir`` when a matching one is there. Each architecture is then built by
:func:`magmom.models.build_model` at the widths of ``config.yaml``'s ``models`` section and trained
with the workflow's own step, :meth:`magmom.training.trainer.Trainer.train_epoch` (AdamW, Huber
loss, gradient clipping), over the trainer's own loader
(:func:`~magmom.training.loader.graph_loader`: epoch-seeded shuffle, ``training.batch_size``),
with ``--threads`` applied as the ``train`` rule applies them (``threads`` intra-op threads,
``threads - 1`` loader workers). Validation and checkpoint writing are not part of the timing.

The reference, measured in the same run over whole epochs, is the floor of that loop: a
per-element-mean model (one trainable bias per element, initialised at the cache's per-element
mean) trained by the same ``train_epoch``, i.e. loading + collating + loss + optimiser step with
no message passing. Each row gives its throughput relative to ``cgconv`` (or to the first
architecture run) and the floor's share of its epoch time.

Budget. On a small CPU machine a full epoch of the heavy operators does not fit. Each architecture
trains for at most ``--budget`` seconds (wall clock, checked between steps, at least
``--min-batches`` steps). If its epoch(s) end within the budget the row is ``measured``; if not,
it is ``extrap.``: timed over the first batches of its epoch-1 order (a random mix of 64- and
16-atom slabs) and extrapolated linearly in atoms, since a step costs in proportion to atoms and
edges,

.. math:: t_\mathrm{epoch} = t_\mathrm{timed}\,
          N^\mathrm{atoms}_\mathrm{epoch} / N^\mathrm{atoms}_\mathrm{timed},
          \qquad \mathrm{graphs/s} = N^\mathrm{graphs}_\mathrm{epoch} / t_\mathrm{epoch}.

Memory. A step on 2 graphs (also the warm-up; not timed) measures the peak resident memory a step
adds per atom. When a ``training.batch_size`` batch of the largest slabs would need more than
``--max-memory-gb`` (nnconv's d×d per-edge weight matrices at r6), that architecture is timed at
the largest batch that fits, and its row says so.

Clocks: wall time, and CPU time of the training process (``time.process_time``). With the default
``--threads 1`` the CPU time is all of the work and it does not depend on what else runs on a
shared machine, so the ratios use it; with loader workers it misses their share and the ratios use
wall time.

    .venv/bin/python benchmarks/training_throughput.py          # r6, 2,000 slabs, all 16 models
    .venv/bin/python benchmarks/training_throughput.py --architectures cgconv dimenet \
        --cutoff 4 --slabs 500 --workdir /tmp/tt-bench --budget 60
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import os
import re
import shutil
import sys
import tempfile
import time
from pathlib import Path

import torch
from torch import nn

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(HERE))

from graph_cache import synthetic_slabs  # noqa: E402

from magmom.graphs import GraphCache  # noqa: E402
from magmom.graphs.builder import build_caches  # noqa: E402
from magmom.graphs.cache import CacheError  # noqa: E402
from magmom.models import ARCHITECTURES, build_model  # noqa: E402
from magmom.training.checkpoint import seed_everything  # noqa: E402
from magmom.training.cli import load_config  # noqa: E402
from magmom.training.device import configure_threads, loader_workers  # noqa: E402
from magmom.training.loader import graph_loader, set_loader_epoch  # noqa: E402
from magmom.training.settings import TrainingSettings  # noqa: E402
from magmom.training.trainer import Trainer  # noqa: E402

PROBE_BATCH = 2
FLOOR = "element-mean"


# ---- the cache -------------------------------------------------------------------------------


def cache_tag(n: int, seed: int) -> str:
    return f"synthetic-{n}-seed{seed}"


def training_cache(
    workdir: Path, n: int, cutoff: float, max_neighbors: int, processes: int, seed: int = 42
) -> GraphCache:
    """The synthetic training cache of ``n`` slabs at ``cutoff``, built unless a match exists."""
    path = workdir / f"graphs-r{cutoff:g}-{cache_tag(n, seed)}-train.lmdb"
    expect = {"cutoff": cutoff, "max_neighbors": max_neighbors, "dataset": cache_tag(n, seed)}
    if path.exists():
        try:
            cache = GraphCache(path, **expect)
            if len(cache) == n:
                print(f"reusing {path} ({n} graphs)")
                return cache
            print(f"{path} holds {len(cache)} graphs, not {n}: rebuilding")
        except CacheError as err:
            print(f"{err}: rebuilding")
    slabs = synthetic_slabs(n, seed=seed)
    t0 = time.perf_counter()
    build_caches(
        slabs,
        {s.slab_id: "train" for s in slabs},
        {"train": path},
        cutoff,
        max_neighbors,
        "abs",
        {"dataset": cache_tag(n, seed)},
        processes=processes,
    )
    print(f"built {path} ({n} graphs) in {time.perf_counter() - t0:.1f} s")
    return GraphCache(path, **expect)


# ---- memory ----------------------------------------------------------------------------------


def _status_mb(field: str) -> float:
    with open("/proc/self/status") as fh:
        return int(re.search(rf"{field}:\s+(\d+) kB", fh.read()).group(1)) / 1024


def rss_mb() -> float:
    """Resident memory of this process now (MiB)."""
    return _status_mb("VmRSS")


def reset_peak() -> None:
    """Restart the peak-RSS counter (``VmHWM``) of this process (Linux >= 4.0)."""
    with open("/proc/self/clear_refs", "w") as fh:
        fh.write("5")


def peak_mb() -> float:
    """Peak resident memory since the last :func:`reset_peak` (MiB)."""
    return _status_mb("VmHWM")


# ---- the runs --------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Plan:
    """How every model is timed (see the module docstring)."""

    epochs: int
    threads: int
    budget: float
    min_batches: int
    max_memory_gb: float
    epoch_atoms: int  # atoms in one epoch (the whole cache)
    max_atoms: int  # atoms of the largest graph


class ElementMeanModel(nn.Module):
    """The loop's floor: a trainable per-element bias, ``m̂_a = b[Z_a]`` (119 parameters)."""

    def __init__(self, element_mean: torch.Tensor):
        super().__init__()
        self.bias = nn.Embedding.from_pretrained(element_mean.float()[:, None], freeze=False)

    def forward(self, batch) -> torch.Tensor:
        return self.bias(batch.z).squeeze(-1)


class Budgeted:
    """The batches of ``loader``'s current epoch, as an iterable for ``train_epoch``, stopping
    (between steps) once ``deadline`` (``perf_counter``) has passed and ``min_batches`` were
    given; counts the batches, graphs and atoms it gave and whether the epoch was exhausted."""

    def __init__(self, loader, deadline: float, min_batches: int):
        self.loader, self.deadline, self.min_batches = loader, deadline, min_batches
        self.batches = self.graphs = self.atoms = 0

    def __iter__(self):
        for batch in self.loader:
            self.batches += 1
            self.graphs += batch.num_graphs
            self.atoms += batch.num_nodes
            yield batch
            if self.batches >= self.min_batches and time.perf_counter() > self.deadline:
                return

    @property
    def complete(self) -> bool:
        """Whether the whole epoch was given."""
        return self.batches >= len(self.loader)


def train_batches(trainer: Trainer, loader, epoch: int, deadline: float, min_batches: int):
    """``trainer.train_epoch`` over epoch ``epoch`` of ``loader``, stopping after ``deadline``:
    (the :class:`Budgeted` iterable, wall s, CPU s)."""
    set_loader_epoch(loader, trainer.settings.seed, epoch)
    batches = Budgeted(loader, deadline, min_batches)
    wall, cpu = time.perf_counter(), time.process_time()
    trainer.train_epoch(batches)
    return batches, time.perf_counter() - wall, time.process_time() - cpu


def bench_one(name: str, build, cache, settings: TrainingSettings, plan: Plan, workdir) -> dict:
    """Probe (and warm up), then time one model; return its row of the table."""
    workers = loader_workers(plan.threads)
    seed_everything(settings.seed)
    model = build()
    params = sum(p.numel() for p in model.parameters())
    trainer = Trainer(
        model,
        settings,
        workdir / "unused-model-dir",  # train_epoch writes no files
        identity={"model_id": name},
        device="cpu",
        num_workers=workers,
        progress=False,
    )
    batch, note = settings.batch_size, ""

    # memory probe, also the warm-up: one step on PROBE_BATCH graphs
    probe_loader = graph_loader(cache, PROBE_BATCH, shuffle=True, seed=settings.seed)
    base = rss_mb()
    reset_peak()
    probe, _, _ = train_batches(trainer, probe_loader, 0, -math.inf, 1)
    per_graph = max(peak_mb() - base, 1.0) / probe.atoms * plan.max_atoms
    need_gb = (base + per_graph * batch) / 1024
    if need_gb > plan.max_memory_gb:
        fits = int((plan.max_memory_gb * 1024 - base) / per_graph)
        batch = max(PROBE_BATCH, min(batch, fits))
        note = f"batch {settings.batch_size} needs ~{need_gb:.0f} GB"

    trainer.settings = dataclasses.replace(settings, batch_size=batch)
    loader = graph_loader(cache, batch, shuffle=True, num_workers=workers, seed=settings.seed)
    reset_peak()
    deadline = time.perf_counter() + plan.budget
    graphs = atoms = timed_batches = 0
    wall = cpu = 0.0
    basis = "measured"
    for epoch in range(1, plan.epochs + 1):
        done, w, c = train_batches(trainer, loader, epoch, deadline, plan.min_batches)
        graphs, atoms, timed_batches = graphs + done.graphs, atoms + done.atoms, timed_batches
        timed_batches += done.batches
        wall, cpu = wall + w, cpu + c
        if not done.complete:
            basis = "extrap."
            break
    peak_gb = peak_mb() / 1024
    scale = plan.epoch_atoms / atoms  # timed -> one epoch
    row = {
        "name": name,
        "params": params,
        "basis": basis,
        "batch": batch,
        "batches": timed_batches,
        "graphs": graphs,
        "epoch_wall": wall * scale,
        "epoch_cpu": cpu * scale,
        "peak_gb": peak_gb,
        "note": note,
    }
    print(
        f"  {name:<18} {basis:<8} {graphs:>5} graphs ({atoms} atoms, {timed_batches} batches "
        f"of {batch}) in {wall:6.1f} s wall, {cpu:6.1f} s CPU -> epoch {row['epoch_wall']:.0f} s "
        f"wall, {row['epoch_cpu']:.0f} s CPU; peak RSS {peak_gb:.1f} GB"
        + (f" ({note})" if note else ""),
        flush=True,
    )
    return row


# ---- report ----------------------------------------------------------------------------------


def print_table(rows: list[dict], floor: dict, ref: dict, use_cpu: bool, n: int) -> None:
    key = "epoch_cpu" if use_cpu else "epoch_wall"
    clock = "CPU" if use_cpu else "wall"
    print(
        f"\nOne training epoch over {n} graphs: graphs/s = {n} / epoch wall time, graphs/CPU-s "
        f"= {n} / epoch CPU time; ratios on {clock} time. basis: 'measured' = whole epoch(s) "
        f"timed, 'extrap.' = first batches timed, epoch extrapolated by atoms."
    )
    header = (
        f"{'architecture':<18} {'params':>9} {'graphs/s':>9} {'graphs/CPU-s':>12} "
        f"{'vs ' + ref['name']:>11} {'floor share':>11}  {'basis':<8} {'timed':>17} "
        f"{'peak GB':>7}  note"
    )
    print(header)
    print("-" * len(header))
    for row in [floor, *rows]:
        timed = f"{row['graphs']} g/{row['batches']} b@{row['batch']}"
        print(
            f"{row['name']:<18} {row['params']:>9,} {n / row['epoch_wall']:>9.2f} "
            f"{n / row['epoch_cpu']:>12.2f} {ref[key] / row[key]:>10.3f}x "
            f"{floor[key] / row[key]:>11.2%}  {row['basis']:<8} {timed:>17} "
            f"{row['peak_gb']:>7.1f}  {row['note']}"
        )
    print(
        f"\nvs {ref['name']}: throughput relative to {ref['name']} (>1 = faster). floor share: "
        f"the epoch time of the floor ({FLOOR}: load, collate, loss, step) as a fraction of the "
        f"model's. timed: g = graphs, b = batches, @ = batch size. peak GB: peak resident memory "
        f"of the process while timed."
    )


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cutoff", type=float, default=6.0, help="graph cutoff, Å (default 6)")
    parser.add_argument("--slabs", type=int, default=2000, help="graphs in the training cache")
    parser.add_argument(
        "--architectures", nargs="+", default=list(ARCHITECTURES), choices=ARCHITECTURES
    )
    parser.add_argument("--epochs", type=int, default=1, help="epochs per architecture")
    parser.add_argument(
        "--threads", type=int, default=1,
        help="cores, as in the train rule: intra-op threads, threads-1 loader workers (default 1)",
    )  # fmt: skip
    parser.add_argument(
        "--budget", type=float, default=25.0,
        help="seconds of timed training per architecture before extrapolating (default 25)",
    )  # fmt: skip
    parser.add_argument("--min-batches", type=int, default=2, help="fewest batches timed")
    parser.add_argument(
        "--max-memory-gb", type=float, default=6.0,
        help="peak resident memory allowed for a step; larger batches are shrunk (default 6)",
    )  # fmt: skip
    parser.add_argument("--workdir", type=Path, help="keep (and reuse) the cache here")
    parser.add_argument("--config", type=Path, default=ROOT / "config.yaml")
    parser.add_argument("--processes", type=int, default=2, help="cache-build worker processes")
    args = parser.parse_args()
    if args.epochs < 1 or args.slabs < 1 or args.min_batches < 1:
        parser.error("--epochs, --slabs and --min-batches must be >= 1")

    config = load_config(args.config)
    settings = TrainingSettings.from_config(config["training"])
    max_neighbors = config["graphs"]["max_neighbors"]
    configure_threads(args.threads)
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="magmom-train-bench-"))
    workdir.mkdir(parents=True, exist_ok=True)
    load = os.getloadavg()[0]
    start = time.perf_counter()
    try:
        cache = training_cache(workdir, args.slabs, args.cutoff, max_neighbors, args.processes)
        sizes = [(g.natoms, g.edge_index.shape[1]) for g in (cache[k] for k in range(len(cache)))]
        atoms, edges = (sum(col) for col in zip(*sizes, strict=True))
        plan = Plan(
            epochs=args.epochs,
            threads=args.threads,
            budget=args.budget,
            min_batches=args.min_batches,
            max_memory_gb=args.max_memory_gb,
            epoch_atoms=atoms,
            max_atoms=max(n for n, _ in sizes),
        )
        print(
            f"cache: {len(cache)} graphs, {atoms} atoms, {edges / len(cache):.0f} edges/graph at "
            f"r{args.cutoff:g} (cap {max_neighbors}); batch {settings.batch_size}, "
            f"{args.threads} thread(s), {loader_workers(args.threads)} loader worker(s), "
            f"budget {args.budget:g} s per model; load average {load:.1f}",
            flush=True,
        )
        floor = bench_one(
            FLOOR,
            lambda: ElementMeanModel(cache.element_mean()),
            cache,
            settings,
            dataclasses.replace(plan, budget=math.inf),  # always whole epochs
            workdir,
        )
        rows = [
            bench_one(
                arch,
                lambda arch=arch: build_model(arch, args.cutoff, config["models"]),
                cache,
                settings,
                plan,
                workdir,
            )
            for arch in args.architectures
        ]
        ref = next((r for r in rows if r["name"] == "cgconv"), rows[0])
        print_table(rows, floor, ref, args.threads == 1, len(cache))
        print(
            f"\ntotal {time.perf_counter() - start:.0f} s wall; load average at start {load:.1f}, "
            f"at end {os.getloadavg()[0]:.1f} ({os.cpu_count()} cores, shared)"
        )
    finally:
        if args.workdir is None:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
