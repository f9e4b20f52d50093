"""Tiny labelled slabs, datasets and graph caches for the baseline, evaluation and report tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from ase import Atoms
from ase.build import fcc111

from magmom.graphs.builder import SlabInput, build_caches

ELEMENTS = ["Cu", "Fe", "Mn", "Ni", "Pt"]
BASE_MOMENT = {"Cu": 0.0, "Fe": 2.6, "Mn": 3.0, "Ni": 0.6, "Pt": 0.2}


def toy_slab(rng: np.random.Generator, size=(2, 2, 3)) -> tuple[Atoms, np.ndarray]:
    """A random Cu/Fe/Mn/Ni/Pt alloy on an fcc(111) slab and signed moments that depend on the
    element and on the number of Fe/Ni atoms in the slab (so geometry-aware models can learn);
    half of the Mn atoms are quenched (moment ~0), as in the study's V/Cr/Mn."""
    atoms = fcc111("Cu", size=size, a=3.6, vacuum=10.0)
    atoms.set_chemical_symbols(rng.choice(ELEMENTS, size=len(atoms)).tolist())
    atoms.rattle(0.02, seed=int(rng.integers(1 << 30)))
    atoms.pbc = (True, True, False)
    symbols = atoms.get_chemical_symbols()
    magnetic = sum(s in ("Fe", "Ni") for s in symbols) / len(symbols)
    base = np.array([BASE_MOMENT[s] for s in symbols])
    m = base * (0.7 + 0.6 * magnetic) + rng.normal(0.0, 0.02, len(atoms))
    is_mn = np.array([s == "Mn" for s in symbols])
    m = np.where(is_mn & (rng.random(len(atoms)) < 0.5), rng.normal(0.0, 0.02, len(atoms)), m)
    m *= np.where(rng.random(len(atoms)) < 0.1, -1.0, 1.0)  # a few antiparallel atoms
    return atoms, m


def toy_dataset(n_slabs: int, seed: int = 0, size=(2, 2, 3)) -> list[tuple[str, Atoms, np.ndarray]]:
    rng = np.random.default_rng(seed)
    return [(f"slab-{k:03d}", *toy_slab(rng, size)) for k in range(n_slabs)]


def toy_split(slab_ids, fractions=(0.6, 0.2, 0.2)) -> dict[str, str]:
    n = len(slab_ids)
    n_train, n_val = int(round(fractions[0] * n)), int(round(fractions[1] * n))
    names = ["train"] * n_train + ["val"] * n_val + ["test"] * (n - n_train - n_val)
    return dict(zip(slab_ids, names, strict=True))


def write_split(path: Path, split_of: dict[str, str]) -> Path:
    lines = ["slab_id,composition_id,type,split"]
    lines += [f"{s},comp-{s},binary,{sp}" for s, sp in sorted(split_of.items())]
    path.write_text("\n".join(lines) + "\n")
    return path


def write_dataset_db(path: Path, dataset, labeller: str = "chgnet") -> Path:
    """The dataset db of ``dataset``, written by the workflow's own writer (dataset contract)."""
    from magmom.data.dataset import LabelledSlab, write_dataset

    slabs = [
        LabelledSlab(
            atoms=atoms,
            magmoms=np.asarray(m, dtype=np.float64),
            meta={
                "slab_id": slab_id,
                "composition_id": f"comp-{slab_id}",
                "comp_type": "binary",
                "lattice": "fcc",
                "placement": "random",
                "variant": 0,
                "labeller": labeller,
                "spinpol": True,
                "energy": -3.5 * len(atoms),
            },
        )
        for slab_id, atoms, m in dataset
    ]
    write_dataset(path, slabs, name="toy", progress=False)
    return path


def write_caches(directory: Path, dataset, split_of, cutoff: float, target: str = "abs"):
    """Graph caches (train/val/test) at ``cutoff`` built by magmom.graphs; ``{split: path}``."""
    slabs = [
        SlabInput(
            slab_id,
            atoms.numbers.copy(),
            atoms.positions.copy(),
            np.asarray(atoms.cell[:]),
            np.asarray(atoms.pbc),
            np.asarray(m),
        )
        for slab_id, atoms, m in dataset
    ]
    outputs = {s: directory / f"graphs-r{cutoff:g}-toy-{s}.lmdb" for s in ("train", "val", "test")}
    build_caches(
        slabs, split_of, outputs, cutoff, max_neighbors=50, target=target, meta={"dataset": "toy"}
    )
    return outputs
