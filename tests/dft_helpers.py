"""Tiny slabs, initial-structure dbs and cheap DFT settings for the DFT and dataset tests."""

from __future__ import annotations

import copy
import os
import shutil
from pathlib import Path

import pytest
import yaml
from ase.build import fcc111

from magmom.dft.label import fix_bottom_layers

ROOT = Path(__file__).resolve().parents[1]

REQUIRE_MPI_ENV = "MAGMOM_REQUIRE_MPI"
"""Set to 1 (as .ci/run does) to make every MPI test must-run: where GPAW lacks MPI or no
``mpiexec`` is on PATH, those tests fail instead of skipping."""


def mpi_missing() -> str | None:
    """Why this host cannot run GPAW on MPI ranks, or None when it can."""
    from magmom.dft.parallel import gpaw_build

    if not gpaw_build()["mpi"]:
        return "GPAW was built without MPI (gpaw info: MPI enabled no)"
    if shutil.which("mpiexec") is None:
        return "no mpiexec on PATH"
    return None


def mpi_required() -> bool:
    return os.environ.get(REQUIRE_MPI_ENV) == "1"


def require_mpi() -> None:
    """Skip (or, with ``MAGMOM_REQUIRE_MPI=1``, fail) unless GPAW has MPI and mpiexec exists."""
    missing = mpi_missing()
    if missing is None:
        return
    if mpi_required():
        pytest.fail(f"{missing}, but {REQUIRE_MPI_ENV}=1: this host must run the MPI tests")
    pytest.skip(missing)


CHEAP_LADDER = [
    # level 0 cannot converge in one iteration: every GPAW stage has to climb to level 1, whose
    # smearing and criterion are level 0's (only the mixer differs), so energies at level 1 are
    # at the common level of magmom/dft/equal_settings.py and need no extra single point
    {"mixer": "pulay", "eigenstates": 1.0e-6, "smearing_width": 0.2, "maxiter": 1},
    {"mixer": "msr1", "eigenstates": 1.0e-6, "smearing_width": 0.2, "maxiter": 100},
]


def project_config() -> dict:
    with open(ROOT / "config.yaml") as fh:
        return yaml.safe_load(fh)


def cheap_config(labeller: str = "gpaw", ladder=None) -> dict:
    """config.yaml with the tiny DFT settings of the tests (same keys, same code path)."""
    cfg = copy.deepcopy(project_config())
    cfg["labeller"] = labeller
    dft = cfg["dft"]
    dft["prerelax"].update(model="chgnet", steps=2)
    dft["lcao"].update(h=0.35, steps=0)
    dft["planewave"].update(ecut=200.0, kpt_density=0.6)  # 2 x 2 x 1 for the 1 x 1 Ni(111) cell
    dft["relax"].update(steps=1, fmax=0.01)  # one real LBFGS step (fmax not reached)
    dft["scf_ladder"] = copy.deepcopy(CHEAP_LADDER if ladder is None else ladder)
    cfg["recipe"]["fixed_layers"] = 1
    # one start per slab keeps these tests' GPAW cost; test_dft_initial_moments.py runs the
    # multi-start policies (floor+eos and the default floor+eos+inplane_afm among them)
    dft["initial_moments"] = "floor"
    return cfg


def tiny_slab(symbols=("Ni", "Ni"), vacuum: float = 2.5, magmom: float = 0.6):
    """A 1 x 1 fcc(111) slab with one atom per layer (top first in ``symbols``), bottom layer
    fixed, tags = layer (1 = top), pbc (T, T, F) — the shape of a recipe db row."""
    atoms = fcc111("Ni", size=(1, 1, len(symbols)), a=3.52, vacuum=vacuum)
    by_layer = sorted(range(len(atoms)), key=lambda i: atoms.get_tags()[i])  # top first
    for sym, i in zip(symbols, by_layer, strict=True):
        atoms[i].symbol = sym
    atoms.set_initial_magnetic_moments([magmom] * len(atoms))
    fix_bottom_layers(atoms, 1)
    atoms.pbc = (True, True, False)
    return atoms


def slab_meta(slab_id: str, composition_id: str = "ni100", comp_type: str = "pure") -> dict:
    return {
        "slab_id": slab_id,
        "composition_id": composition_id,
        "comp_type": comp_type,
        "lattice": "fcc",
        "placement": "pure" if comp_type == "pure" else "random",
        "variant": 0,
        "spinpol": True,
    }


def write_slab_db(path, slabs) -> Path:
    """An initial-structure db like the recipe's: ``slabs`` = [(atoms, meta), ...]."""
    from ase.db import connect

    db = connect(str(path), type="db", append=False)
    for atoms, meta in slabs:
        db.write(atoms, key_value_pairs=meta)
    return Path(path)
