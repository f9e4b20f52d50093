"""`python -m magmom.predict`, MagmomCalculator and set_initial_magmoms on users' structure files.

A real cgconv model (hidden 8, two epochs) is trained on tiny Cu/Fe/Ni/Pt slab caches; its
predictions on structure files are compared with its predictions on the same slabs' graphs from
the training-cache builder (the workflow's own `predict` on the test cache).
"""

from __future__ import annotations

import logging
import subprocess
import sys

import ase.io
import numpy as np
import pandas as pd
import pytest
import torch
from ase import Atoms
from ase.build import bulk, fcc111
from training_helpers import REPO, tiny_slabs, train_tiny_model

from magmom.graphs import SCHEMA_VERSION
from magmom.layout import ModelSpec
from magmom.predict.cli import main
from magmom.predict.output import COLUMNS, FAILURE_COLUMNS
from magmom.predict.predictor import MomentPredictor
from magmom.predict.structures import FLAG_UNSEEN, FLAG_UNSEEN_NEIGHBOUR, StructureError
from magmom.training.checkpoint import load_checkpoint, save_checkpoint
from magmom.training.predict import predict_checkpoint

pytestmark = pytest.mark.usefixtures("single_thread")


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("predict-structures")
    out = root / "results" / "models" / "cgconv-r4"
    caches, best = train_tiny_model(root, out, ModelSpec("cgconv", 4.0), max_epochs=2, batch_size=8)
    reference = predict_checkpoint(best, caches["test"], root / "test.csv")
    return {"root": root, "best": best, "caches": caches, "reference": reference}


def held_out_slabs(trained) -> tuple[list[Atoms], list[str]]:
    """The test cache's slabs as ASE Atoms (tiny_caches: 24 train, 8 val, 8 test of seed 7)."""
    slabs = tiny_slabs(40, seed=7)[32:]
    return [
        Atoms(numbers=s.numbers, positions=s.positions, cell=s.cell, pbc=s.pbc) for s in slabs
    ], [s.slab_id for s in slabs]


def reference_moments(trained, slab_id):
    ref = trained["reference"]
    return ref.loc[ref["slab_id"] == slab_id, "y_pred"].to_numpy()


def test_checkpoint_carries_graph_settings_and_element_counts(trained):
    ckpt = load_checkpoint(trained["best"])
    assert ckpt["format_version"] == 2
    assert ckpt["graph"] == {
        "cutoff": 4.0,
        "neighbor_rule": "shell_complete",  # tiny_caches give a cap and no rule
        "max_neighbors": 50,
        "target": "abs",
        "schema_version": SCHEMA_VERSION,
    }
    counts = ckpt["element_counts"].numpy()
    stats = trained["caches"]["train"].element_stats().count
    np.testing.assert_array_equal(counts, stats)
    assert set(np.flatnonzero(counts)) == {26, 28, 29, 78}  # Fe, Ni, Cu, Pt


def test_cli_matches_the_workflow_graphs_for_every_format(trained, tmp_path):
    """CIF, POSCAR (fully periodic with vacuum), multi-frame extxyz and a trajectory: one CSV
    whose moments equal the model's on the training-cache graphs of the same slabs."""
    slabs, ids = held_out_slabs(trained)
    ase.io.write(tmp_path / "a.cif", slabs[0])
    poscar = slabs[1].copy()
    poscar.pbc = True  # POSCAR cannot say otherwise: 10 Å vacuum keeps it a slab
    ase.io.write(tmp_path / "POSCAR", poscar, format="vasp")
    ase.io.write(tmp_path / "many.extxyz", slabs[2:5])
    ase.io.write(tmp_path / "run.traj", slabs[5:8])
    files = [tmp_path / n for n in ("a.cif", "POSCAR", "many.extxyz", "run.traj")]
    out = tmp_path / "out" / "moments.csv"
    code = main(
        [str(trained["best"]), *map(str, files), "-o", str(out), "--batch-size", "3", "-q"]
        + ["--structures-out", str(tmp_path / "with_moments")]
    )
    assert code == 0
    table = pd.read_csv(out, keep_default_na=False)
    assert tuple(table.columns) == COLUMNS
    expected_frames = [(0, 0), (1, 0), (2, 0), (2, 1), (2, 2), (3, 0), (3, 1), (3, 2)]
    for k, (f, frame) in enumerate(expected_frames):
        rows = table[(table["file"] == str(files[f])) & (table["frame"] == frame)]
        assert rows["atom_index"].tolist() == list(range(len(slabs[k])))
        assert rows["element"].tolist() == slabs[k].get_chemical_symbols()
        assert (rows["flag"] == "").all()
        np.testing.assert_allclose(
            rows["moment"], reference_moments(trained, ids[k]), rtol=1e-4, atol=1e-5
        )
    failures = pd.read_csv(tmp_path / "out" / "moments-failures.csv")
    assert tuple(failures.columns) == FAILURE_COLUMNS and failures.empty
    back = ase.io.read(tmp_path / "with_moments" / "many.extxyz", index=":")
    assert len(back) == 3
    for k, atoms in enumerate(back):
        np.testing.assert_allclose(
            atoms.get_initial_magnetic_moments(),
            table[(table["file"] == str(files[2])) & (table["frame"] == k)]["moment"],
            rtol=1e-5,
        )
        assert atoms.info["source_frame"] == k


def test_module_runs_as_a_cold_process(trained, tmp_path):
    slabs, ids = held_out_slabs(trained)
    ase.io.write(tmp_path / "s.extxyz", slabs[0])
    run = subprocess.run(
        [sys.executable, "-m", "magmom.predict", "cgconv-r4", "s.extxyz", "--device", "cpu"]
        + ["--results-dir", str(trained["root"] / "results"), "-q"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"},
        timeout=300,
    )
    assert run.returncode == 0, run.stderr
    table = pd.read_csv(tmp_path / "moments.csv")
    np.testing.assert_allclose(
        table["moment"], reference_moments(trained, ids[0]), rtol=1e-4, atol=1e-5
    )
    settings = "cutoff 4 Å, neighbour rule shell_complete (cap 50), target abs, device cpu"
    assert settings in run.stderr


def test_bad_inputs_are_reported_and_cost_only_themselves(trained, tmp_path, caplog):
    slabs, ids = held_out_slabs(trained)
    (tmp_path / "empty.cif").write_text("")
    (tmp_path / "junk.cif").write_text("this is not a crystal\n")
    nan = slabs[1].copy()
    nan.positions[2, 0] = np.nan
    molecule = Atoms("Ni2", positions=[[0, 0, 0], [0, 0, 2.2]])
    copper = bulk("Cu", "fcc", a=3.6, cubic=True)
    gold = fcc111("Au", size=(2, 2, 3), vacuum=5.0, a=4.08)
    gold[0].symbol = "Ni"
    dummy = slabs[2].copy()
    dummy[0].symbol = "X"
    frames = [slabs[0], Atoms(cell=slabs[0].cell, pbc=True), nan, molecule, copper, gold, dummy]
    frames.append(slabs[3])
    ase.io.write(tmp_path / "mixed.extxyz", frames)
    files = [tmp_path / n for n in ("empty.cif", "junk.cif", "missing.cif", "mixed.extxyz")]
    out = tmp_path / "moments.csv"
    with caplog.at_level(logging.WARNING):
        code = main([str(trained["best"]), *map(str, files), "-o", str(out), "-q"])
    assert code == 1
    failures = pd.read_csv(tmp_path / "moments-failures.csv")
    keys = zip(failures["file"], failures["frame"].fillna(-1), strict=True)
    reasons = dict(zip(keys, failures["error"], strict=True))
    mixed = str(files[3])
    assert set(reasons) == {
        (str(files[0]), -1),
        (str(files[1]), -1),
        (str(files[2]), -1),
        (mixed, 1),
        (mixed, 2),
        (mixed, 3),
        (mixed, 4),
        (mixed, 6),
    }
    assert "empty" in reasons[(str(files[0]), -1)]
    assert "ASE cannot read it" in reasons[(str(files[1]), -1)]
    assert "no such file" in reasons[(str(files[2]), -1)]
    assert reasons[(mixed, 1)] == f"{mixed} frame 1: the structure has no atoms"
    assert "atom 2 has a NaN" in reasons[(mixed, 2)]
    assert "molecule" in reasons[(mixed, 3)]
    assert "fully periodic bulk" in reasons[(mixed, 4)]
    assert "atomic number 0" in reasons[(mixed, 6)]
    for error in failures["error"]:
        assert error.startswith(tuple(map(str, files)))
    table = pd.read_csv(out, keep_default_na=False)
    assert sorted(set(table["frame"])) == [0, 5, 7]
    np.testing.assert_allclose(
        table[table["frame"] == 0]["moment"], reference_moments(trained, ids[0]), rtol=1e-4
    )
    np.testing.assert_allclose(
        table[table["frame"] == 7]["moment"], reference_moments(trained, ids[3]), rtol=1e-4
    )
    gold_rows = table[table["frame"] == 5]
    expected = np.where(gold_rows["element"] == "Au", FLAG_UNSEEN, FLAG_UNSEEN_NEIGHBOUR)
    assert gold_rows["flag"].tolist() == expected.tolist()
    assert (gold_rows["element"] == "Au").sum() == 11
    assert f"{mixed} frame 5: element(s) Au never occurred" in caplog.text
    args = [str(trained["best"]), *map(str, files), "-o", str(out), "-q"]
    assert main([*args, "--allow-failures"]) == 0
    assert main([str(trained["best"]), str(files[0]), "-o", str(out), "-q"]) == 2


def test_checkpoint_versions(trained, tmp_path, caplog):
    """A format-1 checkpoint (no graph settings, no element counts) still predicts the same; a
    newer format is refused with a message naming the file."""
    slabs, ids = held_out_slabs(trained)
    ckpt = load_checkpoint(trained["best"])
    old = {k: v for k, v in ckpt.items() if k not in ("graph", "element_counts")}
    save_checkpoint(tmp_path / "v1.pt", {**old, "format_version": 1})
    with caplog.at_level(logging.WARNING):
        moments = MomentPredictor(tmp_path / "v1.pt", device="cpu").predict_atoms(slabs[0])
    assert "without per-element training counts" in caplog.text
    np.testing.assert_allclose(moments, reference_moments(trained, ids[0]), rtol=1e-4, atol=1e-5)
    save_checkpoint(tmp_path / "v99.pt", {**ckpt, "format_version": 99})
    ase.io.write(tmp_path / "s.extxyz", slabs[0])
    with caplog.at_level(logging.ERROR):
        code = main([str(tmp_path / "v99.pt"), str(tmp_path / "s.extxyz"), "-q"])
    assert code == 2
    assert f"{tmp_path / 'v99.pt'} has checkpoint format 99" in caplog.text
    assert main(["no-such-model", str(tmp_path / "s.extxyz"), "-q"]) == 2


def test_calculator_and_initial_moments_helper(trained):
    import magmom

    slabs, ids = held_out_slabs(trained)
    atoms = slabs[0].copy()
    atoms.calc = magmom.MagmomCalculator(trained["best"], device="cpu")
    first = atoms.get_magnetic_moments()
    np.testing.assert_allclose(first, reference_moments(trained, ids[0]), rtol=1e-4, atol=1e-5)
    assert atoms.get_magnetic_moment() == pytest.approx(first.sum(), rel=1e-6)
    atoms.set_chemical_symbols(slabs[1].get_chemical_symbols())
    atoms.positions = slabs[1].positions
    np.testing.assert_allclose(
        atoms.get_magnetic_moments(), reference_moments(trained, ids[1]), rtol=1e-4, atol=1e-5
    )
    start = slabs[2].copy()
    assert magmom.set_initial_magmoms(start, atoms.calc) is start
    np.testing.assert_allclose(
        start.get_initial_magnetic_moments(), reference_moments(trained, ids[2]), rtol=1e-4
    )
    molecule = Atoms("Fe2", positions=[[0, 0, 0], [0, 0, 2.0]])
    molecule.calc = atoms.calc
    with pytest.raises(StructureError, match="molecule"):
        molecule.get_magnetic_moments()


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_matches_cpu(trained):
    slabs, _ = held_out_slabs(trained)
    cpu = MomentPredictor(trained["best"], device="cpu").predict_atoms(slabs[0])
    gpu = MomentPredictor(trained["best"], device="cuda").predict_atoms(slabs[0])
    np.testing.assert_allclose(gpu, cpu, rtol=1e-3, atol=1e-4)
