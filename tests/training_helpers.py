"""Small fixtures for the training tests: contract graphs of tiny alloy slabs and a tiny GNN.

The slabs are real ASE fcc(111) slabs whose sites are filled with Cu/Ni/Fe/Pt by a seeded
generator; their moments are a made-up but environment-dependent rule (an element's base moment,
enhanced by Fe neighbours and at the surface) so that a model has something to learn. Graphs are
built by the workflow's own builder (``magmom.graphs``), so they follow the graph contract.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from ase.build import fcc111
from ase.neighborlist import neighbor_list
from torch import nn

from magmom.graphs.builder import SlabInput, build_caches, graph_arrays
from magmom.graphs.dataset import GraphCache, arrays_to_data
from magmom.layout import Layout, ModelSpec
from magmom.training.cli import load_config
from magmom.training.run import train_from_config

REPO = Path(__file__).resolve().parents[1]
TINY = Layout.of(load_config(REPO / "config.yaml", [REPO / "presets" / "tiny.yaml"]))
"""The tiny preset's results tree (paths relative to a workflow directory)."""
BASE_MOMENT = {"Cu": 0.0, "Ni": 0.6, "Fe": 2.4, "Pt": 0.2}


def tiny_slabs(n: int, seed: int = 0, size=(2, 2, 3)) -> list[SlabInput]:
    """``n`` random Cu/Ni/Fe/Pt fcc(111) slabs with environment-dependent moments."""
    rng = np.random.default_rng(seed)
    symbols = np.array(list(BASE_MOMENT))
    slabs = []
    for k in range(n):
        atoms = fcc111("Cu", size=size, vacuum=5.0, a=3.6)
        atoms.set_chemical_symbols(rng.choice(symbols, size=len(atoms)).tolist())
        atoms.rattle(0.02, seed=int(rng.integers(1 << 30)))
        i, j = neighbor_list("ij", atoms, 2.9)
        is_fe = np.array([s == "Fe" for s in atoms.get_chemical_symbols()])
        fe_neighbours = np.bincount(i, weights=is_fe[j], minlength=len(atoms))
        surface = atoms.get_tags() == 1
        base = np.array([BASE_MOMENT[s] for s in atoms.get_chemical_symbols()])
        moments = base * (1.0 + 0.08 * fe_neighbours + 0.15 * surface)
        moments *= np.where(rng.random(len(atoms)) < 0.5, 1.0, -1.0)  # signs do not matter (|m|)
        slabs.append(
            SlabInput(
                slab_id=f"slab-{seed:02d}-{k:03d}",
                numbers=atoms.numbers.copy(),
                positions=atoms.positions.copy(),
                cell=np.asarray(atoms.cell[:]),
                pbc=np.asarray(atoms.pbc),
                magmoms=moments,
            )
        )
    return slabs


def tiny_graphs(n: int, seed: int = 0, cutoff: float = 4.0) -> list:
    """In-memory contract ``Data`` objects of :func:`tiny_slabs`."""
    return [arrays_to_data(graph_arrays(s, cutoff, 50)) for s in tiny_slabs(n, seed)]


def tiny_caches(tmp_path: Path, cutoff: float = 4.0, counts=(24, 8, 8)) -> dict:
    """LMDB train/val/test caches in the tiny preset's layout under ``tmp_path``."""
    slabs = tiny_slabs(sum(counts), seed=7)
    splits = ["train"] * counts[0] + ["val"] * counts[1] + ["test"] * counts[2]
    split_of = {s.slab_id: split for s, split in zip(slabs, splits, strict=True)}
    outputs = {
        split: tmp_path / TINY.graph_cache(cutoff, split) for split in ("train", "val", "test")
    }
    build_caches(slabs, split_of, outputs, cutoff, 50, meta={"dataset": "tiny-test"})
    return outputs


def train_tiny_model(
    caches_dir: Path, out: Path, spec: ModelSpec, counts=(24, 8, 8), **training
) -> tuple[dict[str, GraphCache], Path]:
    """Train ``spec`` (the real model builder, ``tiny_config(**training)``) on :func:`tiny_caches`
    built under ``caches_dir``; returns the opened caches and the path of ``out/best.pt``."""
    paths = tiny_caches(caches_dir, spec.cutoff, counts)
    caches = {split: GraphCache(path) for split, path in paths.items()}
    config = tiny_config(**training)
    train_from_config(spec, config, caches["train"], caches["val"], out, progress=False)
    return caches, out / "best.pt"


class TinyGNN(nn.Module):
    """One distance-weighted message-passing step and a per-atom readout (test model)."""

    def __init__(self, cutoff: float, hidden: int = 8, element_mean=None):
        super().__init__()
        self.cutoff = float(cutoff)
        self.embedding = nn.Embedding(119, hidden)
        self.message = nn.Linear(hidden + 1, hidden)
        self.readout = nn.Sequential(nn.Linear(2 * hidden, hidden), nn.SiLU(), nn.Linear(hidden, 1))
        bias = torch.zeros(119) if element_mean is None else torch.as_tensor(element_mean).float()
        self.register_buffer("bias", bias)

    def forward(self, batch) -> torch.Tensor:
        h = self.embedding(batch.z)
        j, i = batch.edge_index
        m = self.message(torch.cat([h[j], batch.edge_dist[:, None] / self.cutoff], dim=1))
        agg = torch.zeros_like(h).index_add_(0, i, torch.relu(m))
        return self.readout(torch.cat([h, agg], dim=1)).squeeze(-1) + self.bias[batch.z]


class ConstantModel(nn.Module):
    """Predicts 0.5 μB everywhere; its one parameter gets no gradient (a validation plateau)."""

    def __init__(self):
        super().__init__()
        self.unused = nn.Parameter(torch.ones(1))

    def forward(self, batch) -> torch.Tensor:
        return torch.full_like(batch.y, 0.5) + 0.0 * self.unused


def tiny_factory(architecture, cutoff, models_cfg, element_mean=None) -> nn.Module:
    if architecture == "constant":
        return ConstantModel()
    return TinyGNN(cutoff, models_cfg.get("hidden", 8), element_mean)


def tiny_config(**training) -> dict:
    """The workflow config (config.yaml + presets/tiny.yaml) with ``training`` overrides."""
    from magmom.training.cli import load_config

    config = load_config(REPO / "config.yaml", [REPO / "presets" / "tiny.yaml"])
    config["models"]["hidden"] = 8
    config["training"].update(training)
    return config


def state_equal(a: dict, b: dict) -> bool:
    """Bitwise equality of two state dicts."""
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
