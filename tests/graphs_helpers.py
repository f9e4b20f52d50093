"""Small structures for the graph tests: random periodic slabs and ASE-built metal slabs."""

from __future__ import annotations

import numpy as np
from ase import Atoms
from ase.build import bcc110, fcc111, hcp0001

from magmom.graphs.builder import SlabInput


def random_slab(rng: np.random.Generator, n_atoms: int, a: float, b: float, gamma: float) -> Atoms:
    """``n_atoms`` random atoms in a slanted in-plane cell (a, b, angle gamma), pbc (T, T, F).

    A few atoms are placed outside the cell so the neighbour lists must handle unwrapped positions.
    """
    g = np.radians(gamma)
    cell = np.array([[a, 0.0, 0.0], [b * np.cos(g), b * np.sin(g), 0.0], [0.0, 0.0, 20.0]])
    frac = rng.random((n_atoms, 3)) * [1.0, 1.0, 0.3] + [0.0, 0.0, 0.35]
    frac[: max(1, n_atoms // 5), :2] += rng.integers(-2, 3, size=(max(1, n_atoms // 5), 2))
    numbers = rng.choice([26, 27, 28, 29, 78], size=n_atoms)
    return Atoms(numbers=numbers, scaled_positions=frac, cell=cell, pbc=(True, True, False))


def metal_slabs() -> list[Atoms]:
    """Real facets of the study, from 1x1 columns (atoms see their own images) to 4x4 slabs."""
    slabs = [
        fcc111("Cu", size=(1, 1, 3), vacuum=10.0),
        fcc111("Pt", size=(2, 2, 4), vacuum=10.0),
        fcc111("Ni", size=(4, 4, 4), vacuum=10.0),
        bcc110("Fe", size=(1, 1, 4), vacuum=10.0),
        bcc110("W", size=(2, 2, 4), vacuum=10.0),
        hcp0001("Co", size=(1, 1, 4), vacuum=10.0),
        hcp0001("Ru", size=(2, 2, 4), vacuum=10.0),
    ]
    for k, atoms in enumerate(slabs):
        atoms.rattle(0.05, seed=k)
    return slabs


def slab_input(atoms: Atoms, slab_id: str, rng: np.random.Generator) -> SlabInput:
    """A labelled slab with random signed moments."""
    return SlabInput(
        slab_id=slab_id,
        numbers=atoms.numbers.copy(),
        positions=atoms.positions.copy(),
        cell=np.asarray(atoms.cell[:]),
        pbc=np.asarray(atoms.pbc),
        magmoms=rng.normal(0.0, 1.5, len(atoms)),
    )
