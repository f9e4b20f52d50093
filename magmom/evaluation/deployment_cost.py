r"""Deployment cost of the trained GNNs: parameters, load time, inference time per 64-atom slab.

For every trained model (``<results_dir>/models/{model_id}/best.pt``):

* **parameters**: number of trainable and non-trainable parameter entries;
* **load time**: wall time from the checkpoint file to a model ready in eval mode
  (:func:`magmom.training.checkpoint.load_model`: ``torch.load`` + ``build_model`` +
  ``load_state_dict``). ``load_s`` is the first load in the benchmark process (it pays one-time
  costs such as basis construction of the first model of an architecture); ``load_warm_s`` is the
  median of further loads;
* **inference time**: median wall time of one forward pass over one 64-atom slab (a seeded random
  alloy of the configured elements on a 4x4x4 fcc(111) slab, 10 Å vacuum, pbc T,T,F, its graph
  built by :mod:`magmom.graphs.builder` at the model's cutoff) under ``torch.inference_mode``,
  after warm-up passes; on the CPU with the job's threads, and on CUDA (synchronised) when a GPU
  is present. Graph construction is not included, as for the study's numbers.

The pretrained CHGNet is timed the same way (CHGNet's own graph converter, task ``em``) as the
foundation-model reference.
"""

from __future__ import annotations

import logging
import math
import statistics
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import torch

log = logging.getLogger(__name__)

COLUMNS = (
    "model_id",
    "architecture",
    "cutoff",
    "residual",
    "parameters",
    "n_atoms",
    "n_edges",
    "load_s",
    "load_warm_s",
    "cpu_ms",
    "cuda_ms",
    "cpu_threads",
)


def synthetic_slab(elements: Sequence[str], seed: int = 0, size=(4, 4, 4), a: float = 3.7):
    """A seeded random alloy of ``elements`` on a ``size`` fcc(111) slab (64 atoms by default)."""
    from ase.build import fcc111

    atoms = fcc111("Cu", size=tuple(size), a=a, vacuum=10.0, orthogonal=False)
    rng = np.random.default_rng(seed)
    atoms.set_chemical_symbols(rng.choice(list(elements), size=len(atoms)).tolist())
    atoms.pbc = (True, True, False)
    return atoms


def slab_graph(atoms, graph: dict):
    """The graph-contract ``Data`` of ``atoms`` built as ``graph`` says (a checkpoint's
    :func:`~magmom.training.checkpoint.graph_settings`: cutoff, neighbour rule and cap; moments
    zero)."""
    from magmom.graphs.builder import SlabInput, graph_arrays
    from magmom.graphs.dataset import arrays_to_data

    slab = SlabInput(
        slab_id="benchmark",
        numbers=np.asarray(atoms.numbers),
        positions=np.asarray(atoms.positions, dtype=np.float64),
        cell=np.asarray(atoms.cell[:], dtype=np.float64),
        pbc=np.asarray(atoms.pbc, dtype=bool),
        magmoms=np.zeros(len(atoms)),
    )
    return arrays_to_data(
        graph_arrays(slab, graph["cutoff"], graph["max_neighbors"], rule=graph["neighbor_rule"])
    )


def time_call(
    fn: Callable[[], object],
    device: torch.device,
    warmup: int = 3,
    repeats: int = 20,
    budget_s: float = 5.0,
) -> float:
    """Median wall time of ``fn()`` in ms, after ``warmup`` calls; stops early after
    ``budget_s`` seconds (at least 3 timed calls)."""
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    for _ in range(warmup):
        fn()
    sync()
    times = []
    start = time.perf_counter()
    while len(times) < repeats and (len(times) < 3 or time.perf_counter() - start < budget_s):
        t0 = time.perf_counter()
        fn()
        sync()
        times.append(time.perf_counter() - t0)
    return 1e3 * statistics.median(times)


def timed_loads(load: Callable[[], object], repeats: int) -> tuple[object, float, float]:
    """``load()`` once (first-load seconds), then ``repeats`` more times (median seconds, NaN
    when ``repeats`` is 0); returns the first result with both times."""
    t0 = time.perf_counter()
    loaded = load()
    first = time.perf_counter() - t0
    warm = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        load()
        warm.append(time.perf_counter() - t0)
    return loaded, first, statistics.median(warm) if warm else math.nan


def n_parameters(model: torch.nn.Module) -> int:
    return int(sum(p.numel() for p in model.parameters()))


def benchmark_checkpoint(
    path: str | Path,
    atoms,
    devices: Sequence[torch.device],
    load_repeats: int = 3,
    repeats: int = 20,
    budget_s: float = 5.0,
) -> dict:
    """One row of the cost table for the GNN checkpoint at ``path`` (its input graph built as it
    was trained: cutoff, neighbour rule and cap from the checkpoint)."""
    from torch_geometric.data import Batch

    from magmom.training.checkpoint import graph_settings, load_model

    (model, ckpt), load_s, load_warm_s = timed_loads(
        lambda: load_model(path, device="cpu"), load_repeats
    )
    data = slab_graph(atoms, graph_settings(ckpt))
    row = {
        "model_id": ckpt["model_id"],
        "architecture": ckpt["architecture"],
        "cutoff": float(ckpt["cutoff"]),
        "residual": bool(ckpt["residual"]),
        "parameters": n_parameters(model),
        "n_atoms": int(data.num_nodes),
        "n_edges": int(data.edge_index.shape[1]),
        "load_s": load_s,
        "load_warm_s": load_warm_s,
        "cpu_ms": math.nan,
        "cuda_ms": math.nan,
        "cpu_threads": torch.get_num_threads(),
    }
    for device in devices:
        m = model.to(device).eval()
        batch = Batch.from_data_list([data]).to(device)

        def forward(m=m, batch=batch):
            with torch.inference_mode():
                return m(batch)

        row[f"{device.type}_ms"] = time_call(forward, device, repeats=repeats, budget_s=budget_s)
    log.info("%s: %s", row["model_id"], row)
    return row


def benchmark_chgnet(
    atoms,
    devices: Sequence[torch.device],
    load_repeats: int = 3,
    repeats: int = 20,
    budget_s: float = 5.0,
) -> dict:
    """The cost row of the pretrained CHGNet (reference foundation model)."""
    from pymatgen.io.ase import AseAtomsAdaptor

    from magmom.chgnet import load_pretrained

    model, load_s, load_warm_s = timed_loads(lambda: load_pretrained("cpu"), load_repeats)
    graph = model.graph_converter(AseAtomsAdaptor.get_structure(atoms), graph_id="benchmark")
    row = {
        "model_id": "chgnet-pretrained",
        "architecture": "chgnet",
        "cutoff": float(model.graph_converter.atom_graph_cutoff),
        "residual": False,
        "parameters": n_parameters(model),
        "n_atoms": len(atoms),
        "n_edges": int(graph.atom_graph.shape[0]),
        "load_s": load_s,
        "load_warm_s": load_warm_s,
        "cpu_ms": math.nan,
        "cuda_ms": math.nan,
        "cpu_threads": torch.get_num_threads(),
    }
    for device in devices:
        m = model.to(device).eval()
        g = graph.to(device)

        def forward(m=m, g=g):
            with torch.no_grad():
                return m([g], task="em")

        row[f"{device.type}_ms"] = time_call(forward, device, repeats=repeats, budget_s=budget_s)
    log.info("chgnet: %s", row)
    return row


def benchmark(
    checkpoints: Sequence[str | Path],
    elements: Sequence[str],
    include_chgnet: bool = True,
    seed: int = 0,
    load_repeats: int = 3,
    repeats: int = 20,
    budget_s: float = 5.0,
) -> pd.DataFrame:
    """The cost table of ``checkpoints`` (and the pretrained CHGNet) on one synthetic slab.

    ``load_repeats`` warm loads, and up to ``repeats`` timed forward passes (at most ``budget_s``
    seconds, at least 3) per model and device.
    """
    from tqdm import tqdm

    devices = [torch.device("cpu")]
    if torch.cuda.is_available():
        devices.append(torch.device("cuda"))
    atoms = synthetic_slab(elements, seed=seed)
    timing = {"load_repeats": load_repeats, "repeats": repeats, "budget_s": budget_s}
    rows = [
        benchmark_checkpoint(p, atoms, devices, **timing)
        for p in tqdm(checkpoints, desc="deployment cost", unit="model")
    ]
    if include_chgnet:
        rows.append(benchmark_chgnet(atoms, devices, **timing))
    return pd.DataFrame(rows, columns=list(COLUMNS))
