"""Rule slab_recipe's work on the tiny preset: manifest + initial db, resume, fallbacks."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest
import yaml
from ase.constraints import FixAtoms
from ase.db import connect
from snakemake.utils import update_config

from magmom.elements import is_spin_polarised
from magmom.recipe import slabs as slabs_module
from magmom.recipe.lattice_table import reference_lattice_table, write_lattice_table
from magmom.recipe.manifest import read_manifest
from magmom.recipe.slabs import build_slab
from magmom.recipe.stage import required_lattice_entries, run_slab_recipe

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def recipe() -> dict:
    config = yaml.safe_load((ROOT / "config.yaml").read_text())
    update_config(config, yaml.safe_load((ROOT / "presets" / "tiny.yaml").read_text()))
    config["recipe"]["max_slabs_per_type"] = 3
    return config["recipe"]


@pytest.fixture
def table_path(tmp_path, recipe) -> Path:
    path = tmp_path / "eos" / "lattice_table.json"
    write_lattice_table(
        path, reference_lattice_table(recipe["elements"], 1.0, c_over_a=recipe["hcp_c_over_a"])
    )
    return path


def run(recipe, table_path, out: Path, **kw):
    return run_slab_recipe(
        recipe, table_path, out / "slabs.csv", out / "initial_slabs.db", progress=False, **kw
    )


def test_manifest_and_db_agree(tmp_path, recipe, table_path):
    specs = run(recipe, table_path, tmp_path / "a")
    df = read_manifest(tmp_path / "a" / "slabs.csv")
    assert list(df["slab_id"]) == [s.slab_id for s in specs]
    assert df.groupby("type").size().max() == 3
    table = reference_lattice_table(recipe["elements"], 1.0, c_over_a=recipe["hcp_c_over_a"])
    db = connect(tmp_path / "a" / "initial_slabs.db")
    rows = {r.slab_id: r for r in db.select()}
    assert set(rows) == set(df["slab_id"])
    for rec in df.itertuples():
        row = rows[rec.slab_id]
        atoms = row.toatoms()
        assert row.natoms == rec.n_atoms
        assert row.comp_type == rec.type and row.lattice == rec.lattice
        assert row.placement == rec.placement and row.variant == rec.variant
        assert row.composition_id == rec.composition_id
        assert tuple(atoms.pbc) == (True, True, False)
        (fix,) = atoms.constraints
        assert isinstance(fix, FixAtoms)
        z = atoms.positions[:, 2]
        lowest = np.sort(np.unique(z.round(3)))[:2]
        assert set(fix.get_indices()) == set(np.flatnonzero(np.isin(z.round(3), lowest)))
        assert row.spinpol == is_spin_polarised(atoms.get_chemical_symbols())
        rebuilt = build_slab(df.loc[df["slab_id"] == rec.slab_id].iloc[0], recipe, table)
        assert rebuilt.get_chemical_symbols() == atoms.get_chemical_symbols()
        assert np.allclose(rebuilt.positions, atoms.positions)
        want = [table[s][rec.lattice]["magmom"] for s in atoms.get_chemical_symbols()]
        assert np.array_equal(atoms.get_initial_magnetic_moments(), want)


def test_two_runs_identical_manifest_and_structures(tmp_path, recipe, table_path):
    run(recipe, table_path, tmp_path / "a")
    run(recipe, table_path, tmp_path / "b")
    assert (tmp_path / "a" / "slabs.csv").read_bytes() == (
        tmp_path / "b" / "slabs.csv"
    ).read_bytes()
    a = {r.slab_id: r.toatoms() for r in connect(tmp_path / "a" / "initial_slabs.db").select()}
    b = {r.slab_id: r.toatoms() for r in connect(tmp_path / "b" / "initial_slabs.db").select()}
    assert a.keys() == b.keys()
    for k in a:
        assert a[k].get_chemical_symbols() == b[k].get_chemical_symbols()
        assert np.array_equal(a[k].positions, b[k].positions)


def test_killed_run_resumes(tmp_path, recipe, table_path, monkeypatch, caplog):
    out = tmp_path / "r"
    real = slabs_module.build_slab
    calls = {"n": 0}

    def dying(row, *args):
        calls["n"] += 1
        if calls["n"] == 10:
            raise KeyboardInterrupt("killed")
        return real(row, *args)

    monkeypatch.setattr(slabs_module, "build_slab", dying)
    with pytest.raises(KeyboardInterrupt):
        run(recipe, table_path, out, chunk=4)  # commits after slabs 4 and 8, dies at 10
    assert not (out / "initial_slabs.db").exists() and not (out / "slabs.csv").exists()
    partial = out / ".initial_slabs.db.partial.db"
    assert connect(partial).count() == 8
    calls["n"] = -(10**9)  # never dies again, still counts
    with caplog.at_level(logging.INFO):
        specs = run(recipe, table_path, out, chunk=4)
    assert any("8 of" in r.getMessage() for r in caplog.records)
    assert calls["n"] + 10**9 == len(specs) - 8  # only the missing slabs were built
    assert connect(out / "initial_slabs.db").count() == len(specs)
    assert not partial.exists()


def test_missing_table_entries_fall_back_with_a_warning(tmp_path, recipe, caplog):
    table = reference_lattice_table(recipe["elements"], 1.0, c_over_a=recipe["hcp_c_over_a"])
    del table["Pt"]["fcc"]
    path = tmp_path / "lattice_table.json"
    write_lattice_table(path, table)
    with caplog.at_level(logging.WARNING):
        specs = run(recipe, path, tmp_path / "o")
    if ("Pt", "fcc") in required_lattice_entries(specs):
        assert any("fallback for Pt fcc" in r.getMessage() for r in caplog.records)


def test_unreadable_table_names_the_file(tmp_path, recipe):
    path = tmp_path / "lattice_table.json"
    path.write_text("{not json")
    with pytest.raises(ValueError, match="lattice_table.json"):
        run(recipe, path, tmp_path / "o")
