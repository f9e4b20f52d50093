"""The CHGNet surrogate labeller, the pre-relaxation, and the UMA option without fairchem."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest
from dft_helpers import cheap_config, slab_meta, tiny_slab, write_slab_db

from magmom.data.assemble import assemble_dataset
from magmom.data.dataset import iter_labelled_slabs, read_metadata
from magmom.dft.label import LabelSettings, label_slab_from_db, read_initial_slab
from magmom.dft.prerelax import PrerelaxConfigError, check_prerelax_config, prerelax
from magmom.dft.record import atoms_from_structure, read_record
from magmom.dft.settings import Prerelax

SLAB_ID = "fe033-ni067-fcc-random-v0"


pytestmark = pytest.mark.usefixtures("single_thread")


@pytest.fixture(scope="module")
def surrogate_run(tmp_path_factory, single_thread):
    tmp = tmp_path_factory.mktemp("surrogate")
    slab = tiny_slab(("Fe", "Ni", "Ni"), vacuum=5.0)
    meta = slab_meta(SLAB_ID, composition_id="fe033-ni067", comp_type="binary")
    db = write_slab_db(tmp / "initial_slabs.db", [(slab, meta)])
    cfg = cheap_config(labeller="chgnet")
    cfg["dft"]["prerelax"]["steps"] = 5
    out = tmp / "dft" / f"{SLAB_ID}.json"
    record = label_slab_from_db(db, SLAB_ID, LabelSettings.of(cfg), tmp / "work", out)
    return {"tmp": tmp, "slab": slab, "out": out, "record": record, "db": db}


def test_surrogate_record_is_marked_and_holds_chgnet_moments(surrogate_run):
    rec = read_record(surrogate_run["out"])
    assert rec["status"] == "ok"
    assert rec["labeller"] == "chgnet" and rec["surrogate"] is True
    assert rec["parameters"]["labeller"] == "chgnet"
    m = np.asarray(rec["magmoms"])
    assert m.shape == (3,) and np.all(m >= 0) and np.allclose(rec["abs_magmoms"], m)
    top_fe = int(np.argmax(np.asarray(rec["structure"]["tags"]) == 1))
    assert rec["structure"]["numbers"][top_fe] == 26 and m[top_fe] > 1.0  # Fe carries a moment
    assert np.isfinite(rec["energy"])
    assert rec["stages"]["prerelax"]["model"] == "chgnet"
    assert rec["meta"]["composition_id"] == "fe033-ni067"
    atoms = atoms_from_structure(rec["structure"])
    assert list(atoms.pbc) == [True, True, False]
    fixed = rec["structure"]["fixed"]
    assert fixed == [0]
    assert np.allclose(atoms.positions[fixed], surrogate_run["slab"].positions[fixed])


def test_surrogate_labels_assemble_into_a_surrogate_dataset(surrogate_run):
    tmp = surrogate_run["tmp"]
    outputs = {k: tmp / f"ds.{k}" for k in ("failures", "summary")}
    outputs["db"] = tmp / "ds.db"
    summary = assemble_dataset([surrogate_run["out"]], outputs, "ds", progress=False)
    (slab,) = list(iter_labelled_slabs(outputs["db"]))
    assert slab.meta["labeller"] == "chgnet"
    assert slab.meta["comp_type"] == "binary" and slab.meta["lattice"] == "fcc"
    assert np.allclose(slab.magmoms, surrogate_run["record"]["magmoms"])
    assert summary["surrogate"] is True and read_metadata(outputs["db"])["surrogate"] is True
    assert set(summary["moments_by_element"]) == {"Fe", "Ni"}


def test_prerelax_keeps_fixed_atoms_and_restores_slab_pbc():
    slab = tiny_slab(("Ni", "Ni", "Ni"), vacuum=5.0)
    slab.positions[2, 2] += 0.3  # push the top atom away so the relaxation moves it
    res = prerelax(slab, Prerelax(model="chgnet", fmax=0.05, steps=10))
    assert res.steps > 0
    assert list(res.atoms.pbc) == [True, True, False]
    assert np.allclose(res.atoms.positions[0], slab.positions[0])  # fixed bottom layer
    assert not np.allclose(res.atoms.positions[2], slab.positions[2])
    assert list(slab.pbc) == [True, True, False]  # the input is untouched
    none = prerelax(slab, Prerelax(model="none", fmax=0.05, steps=10))
    assert np.allclose(none.atoms.positions, slab.positions) and none.steps == 0


@pytest.mark.skipif(importlib.util.find_spec("fairchem") is not None, reason="fairchem installed")
def test_uma_without_fairchem_is_an_error_naming_the_key(tmp_path, surrogate_run):
    with pytest.raises(PrerelaxConfigError, match="uma_checkpoint"):
        check_prerelax_config(Prerelax(model="uma", fmax=0.1, steps=1, uma_checkpoint=None))
    ckpt = tmp_path / "uma-s-1p2.pt"
    ckpt.write_bytes(b"not a real checkpoint")
    with pytest.raises(PrerelaxConfigError, match=r"dft.prerelax.model.*fairchem"):
        check_prerelax_config(Prerelax(model="uma", fmax=0.1, steps=1, uma_checkpoint=str(ckpt)))
    cfg = cheap_config(labeller="gpaw")
    cfg["dft"]["prerelax"].update(model="uma", uma_checkpoint=str(ckpt))
    with pytest.raises(PrerelaxConfigError):  # the job fails instead of writing a record
        label_slab_from_db(
            surrogate_run["db"], SLAB_ID, LabelSettings.of(cfg), tmp_path / "w", tmp_path / "r.json"
        )
    assert not (tmp_path / "r.json").exists()


def test_reading_a_slab_the_db_does_not_hold_names_it(surrogate_run):
    with pytest.raises(KeyError, match="no-such-slab"):
        read_initial_slab(surrogate_run["db"], "no-such-slab")
