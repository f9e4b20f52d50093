"""How much a trained model's predictions depend on atom numbering and supercell, per cap rule.

Demo-like setup, small enough for a laptop: random alloys of Cr Mn Fe Co Ni Pd Pt on ideal
2x2x4 fcc(111), bcc(110) and hcp(0001) slabs (the geometry a user holds before DFT), labelled with
CHGNet 0.4.2's per-atom |m| (``magmom.chgnet.energy_and_magmoms``, the surrogate labeller's
prediction, here without its pre-relaxation so the slabs stay ideal). For each architecture at
r6 (cap 50) one model is trained on graphs of the old cap (first 50 by distance, ties by atom
index; ``graph_cache.index_tiebreak_cap``) and one on graphs of the shell-complete cap of the
cache, same seed and settings; each is then applied, with its own cap, to held-out ideal slabs,
their random renumbering and their 2x2 and 3x1 in-plane supercells. Printed: test MAE against
the labels and the maximum |Δm| of any atom between a slab and its renumbered/supercell copy.

Run:  .venv/bin/python benchmarks/cap_invariance.py [--slabs 150] [--epochs 60]
      [--architectures cgconv transformerconv]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch
from torch_geometric.data import Batch

from magmom.chgnet import energy_and_magmoms
from magmom.graphs.builder import SlabInput, graph_arrays
from magmom.graphs.dataset import arrays_to_data
from magmom.models import build_model
from magmom.recipe.slabs import base_slab

sys.path.insert(0, str(Path(__file__).resolve().parent))
from graph_cache import index_tiebreak_cap  # noqa: E402

CUTOFF, CAP = 6.0, 50
ELEMENTS = ("Cr", "Mn", "Fe", "Co", "Ni", "Pd", "Pt")
LATTICE_A = {"fcc": 3.70, "bcc": 2.90, "hcp": 2.60}
MODEL = {"hidden": 64, "layers": 3, "readout_hidden_layers": 1}


def ideal_slabs(n: int, seed: int):
    rng = np.random.default_rng(seed)
    out = []
    for k in range(n):
        lattice = ("fcc", "bcc", "hcp")[k % 3]
        atoms = base_slab(lattice, (2, 2, 4), LATTICE_A[lattice], 1.633, 10.0, False)
        pool = rng.choice(ELEMENTS, size=int(rng.integers(2, 5)), replace=False)
        atoms.symbols = rng.choice(pool, size=len(atoms))
        out.append(atoms)
    return out


def graph(atoms, magmoms, old: bool):
    slab = SlabInput("s", atoms.numbers, atoms.positions, atoms.cell[:], atoms.pbc, magmoms)
    if old:
        return arrays_to_data(index_tiebreak_cap(graph_arrays(slab, CUTOFF, None), CAP))
    return arrays_to_data(graph_arrays(slab, CUTOFF, CAP))


def train(architecture: str, graphs, epochs: int, seed: int = 0):
    torch.manual_seed(seed)
    model = build_model(architecture, CUTOFF, MODEL)
    opt = torch.optim.Adam(model.parameters(), lr=2e-3)
    rng = np.random.default_rng(seed)
    for _ in range(epochs):
        model.train()
        order = rng.permutation(len(graphs))
        for start in range(0, len(order), 16):
            batch = Batch.from_data_list([graphs[k] for k in order[start : start + 16]])
            loss = (model(batch) - batch.y).abs().mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
    return model.eval()


def max_change(model, atoms, old: bool, rng) -> dict[str, float]:
    """Max |Δm| between the slab and each copy, per case (atoms mapped back to the original)."""
    n = len(atoms)
    perm = rng.permutation(n)
    cases = {
        "renumbered": (atoms[perm], perm),
        "2x2": (atoms.repeat((2, 2, 1)), np.tile(np.arange(n), 4)),
        "3x1": (atoms.repeat((3, 1, 1)), np.tile(np.arange(n), 3)),
    }
    with torch.no_grad():
        base = model(Batch.from_data_list([graph(atoms, np.zeros(n), old)]))
        return {
            case: float(
                (model(Batch.from_data_list([graph(a, np.zeros(len(a)), old)])) - base[src])
                .abs()
                .max()
            )
            for case, (a, src) in cases.items()
        }


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--slabs", type=int, default=150, help="labelled slabs (80 %% train)")
    parser.add_argument("--epochs", type=int, default=60)
    parser.add_argument("--architectures", nargs="+", default=["cgconv", "transformerconv"])
    args = parser.parse_args()
    torch.set_num_threads(1)
    t0 = time.perf_counter()
    slabs = ideal_slabs(args.slabs, seed=1)
    labels = [energy_and_magmoms(a)[1] for a in slabs]
    n_train = int(0.8 * len(slabs))
    print(
        f"{len(slabs)} ideal 2x2x4 slabs labelled by CHGNet in {time.perf_counter() - t0:.0f} s; "
        f"train {n_train}, test {len(slabs) - n_train}; r{CUTOFF:g}, cap {CAP}, "
        f"{args.epochs} epochs, {MODEL}"
    )
    print(
        f"{'model':>16} {'cap rule':>15} {'test MAE':>9} "
        f"{'max |Δm| renumbered':>20} {'2x2':>8} {'3x1':>8}  (μB, over test slabs)"
    )
    for arch in args.architectures:
        for old in (True, False):
            graphs = [graph(a, m, old) for a, m in zip(slabs, labels, strict=True)]
            model = train(arch, graphs[:n_train], args.epochs)
            with torch.no_grad():
                test = Batch.from_data_list(graphs[n_train:])
                mae = float((model(test) - test.y).abs().mean())
            rng = np.random.default_rng(3)
            worst = {"renumbered": 0.0, "2x2": 0.0, "3x1": 0.0}
            for atoms in slabs[n_train:]:
                for case, value in max_change(model, atoms, old, rng).items():
                    worst[case] = max(worst[case], value)
            rule = "old (index)" if old else "shell-complete"
            print(
                f"{arch:>16} {rule:>15} {mae:9.4f} {worst['renumbered']:20.2e} "
                f"{worst['2x2']:8.2e} {worst['3x1']:8.2e}"
            )


if __name__ == "__main__":
    main()
