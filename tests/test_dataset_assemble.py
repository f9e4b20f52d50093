"""Assembly of per-slab DFT records into the dataset: ok rows, failures, invalid records,
summary statistics, and the reader of the dataset contract."""

from __future__ import annotations

import numpy as np
import pytest
from dft_helpers import slab_meta, tiny_slab

from magmom.data.assemble import assemble_dataset
from magmom.data.dataset import (
    DatasetError,
    LabelledSlab,
    iter_labelled_slabs,
    read_failures,
    read_metadata,
    write_dataset,
)
from magmom.dft.record import new_record, set_moments, structure_dict, write_record


def ok_record(slab_id, magmoms, comp_type="pure", energy=-10.0, labeller="gpaw"):
    atoms = tiny_slab(("Fe", "Ni", "Ni")[: len(magmoms)])
    rec = new_record(slab_id, slab_meta(slab_id, comp_type=comp_type), labeller)
    rec.update(status="ok", reason=None, structure=structure_dict(atoms), spinpol=True,
               energy=energy, fermi_level=-3.0, work_function=5.1, ladder_level=0, relaxed=True,
               scf_iterations={"lcao": 20, "pw": 30}, wall_time={"total": 12.0})  # fmt: skip
    set_moments(rec, magmoms)
    return rec


def failed_record(slab_id, reason="pw: SCF did not converge at any ladder level"):
    rec = new_record(slab_id, slab_meta(slab_id, comp_type="binary"), "gpaw")
    rec.update(status="failed", reason=reason, structure=structure_dict(tiny_slab()))
    return rec


def files(tmp_path):
    return {
        "db": tmp_path / "ds.db",
        "failures": tmp_path / "ds-failures.csv",
        "summary": tmp_path / "ds-summary.json",
    }


def write_all(tmp_path, records):
    paths = []
    for rec in records:
        path = tmp_path / "dft" / f"{rec['slab_id']}.json"
        write_record(path, rec)
        paths.append(path)
    return paths


def test_ok_failed_and_invalid_records(tmp_path):
    invalid = ok_record("c", [0.5, 0.6, 0.6])
    invalid["meta"]["comp_type"] = "heptanary"  # breaks the dataset contract
    paths = write_all(
        tmp_path,
        [ok_record("a", [-0.3, 0.6, 2.5]), ok_record("b", [0.6, 0.7, 0.4], "binary", -11.0),
         invalid, failed_record("d")],
    )  # fmt: skip
    summary = assemble_dataset(paths, files(tmp_path), "ds", progress=False)
    slabs = list(iter_labelled_slabs(files(tmp_path)["db"]))
    assert [s.meta["slab_id"] for s in slabs] == ["a", "b"]
    a = slabs[0]
    assert a.magmoms.tolist() == [-0.3, 0.6, 2.5]  # signed moments (atoms bottom to top)
    assert a.atoms.get_chemical_symbols() == ["Ni", "Ni", "Fe"]
    assert a.meta["energy"] == -10.0 and a.meta["work_function"] == 5.1
    assert a.meta["fermi_level"] == -3.0 and a.meta["spinpol"] is True
    assert {k: a.meta[k] for k in ("composition_id", "comp_type", "lattice", "placement",
                                   "variant", "labeller")} == {
        "composition_id": "ni100", "comp_type": "pure", "lattice": "fcc", "placement": "pure",
        "variant": 0, "labeller": "gpaw",
    }  # fmt: skip
    assert list(a.atoms.pbc) == [True, True, False] and a.atoms.calc is None
    assert a.atoms.constraints  # FixAtoms kept
    failures = {f["slab_id"]: f for f in read_failures(files(tmp_path)["failures"])}
    assert failures["d"]["status"] == "failed" and "ladder" in failures["d"]["reason"]
    assert failures["c"]["status"] == "invalid" and "heptanary" in failures["c"]["reason"]
    assert summary["status"] == {"failed": 1, "invalid": 1, "ok": 2}
    assert summary["by_type"]["binary"] == {"failed": 1, "ok": 1}
    fe = summary["moments_by_element"]["Fe"]
    assert fe["abs"]["n_atoms"] == 2 and fe["abs"]["max"] == 2.5
    ni = summary["moments_by_element"]["Ni"]
    assert ni["negative_fraction"] == pytest.approx(1 / 4)
    assert ni["signed"]["min"] == -0.3 and ni["abs"]["min"] == 0.3
    assert summary["scf_iterations_total"] == 100 and summary["ladder_levels"] == {"0": 2}
    assert read_metadata(files(tmp_path)["db"])["labellers"] == {"gpaw": 2}


def test_malformed_records_are_errors_naming_the_file(tmp_path):
    bad = ok_record("a", [0.1, 0.2, 0.3])
    path = tmp_path / "dft" / "a.json"
    path.parent.mkdir()
    path.write_text("{not json")
    with pytest.raises(ValueError, match=r"a\.json: not valid JSON"):
        assemble_dataset([path], files(tmp_path), "ds", progress=False)
    (other,) = write_all(tmp_path, [bad])
    renamed = other.with_name("z.json")
    other.rename(renamed)
    with pytest.raises(ValueError, match=r"z\.json: holds slab 'a', not 'z'"):
        assemble_dataset([renamed], files(tmp_path), "ds", progress=False)
    with pytest.raises(ValueError, match="3 atoms but 2 moments"):
        bad["magmoms"] = [0.1, 0.2]
        write_record(tmp_path / "x.json", bad)


def test_a_dataset_without_a_single_slab_is_an_error(tmp_path):
    paths = write_all(tmp_path, [failed_record("d", reason="GPAW raised RuntimeError")])
    with pytest.raises(DatasetError, match="no slab made it.*d: GPAW raised RuntimeError"):
        assemble_dataset(paths, files(tmp_path), "ds", progress=False)


def test_writer_checks_the_contract(tmp_path):
    atoms = tiny_slab()
    meta = {**slab_meta("s"), "labeller": "gpaw"}
    with pytest.raises(DatasetError, match="2 atoms but magmoms of shape"):
        write_dataset(tmp_path / "x.db", [LabelledSlab(atoms, np.zeros(3), meta)], "x")
    with pytest.raises(DatasetError, match="non-finite magnetic"):
        write_dataset(tmp_path / "x.db", [LabelledSlab(atoms, np.array([0, np.nan]), meta)], "x")
    with pytest.raises(DatasetError, match=r"missing key\(s\) comp_type"):
        m = {k: v for k, v in meta.items() if k != "comp_type"}
        write_dataset(tmp_path / "x.db", [LabelledSlab(atoms, np.zeros(2), m)], "x")
    with pytest.raises(DatasetError, match="energy is nan"):
        bad = {**meta, "energy": float("nan")}
        write_dataset(tmp_path / "x.db", [LabelledSlab(atoms, np.zeros(2), bad)], "x")
    with pytest.raises(DatasetError, match="occurs twice"):
        ok = LabelledSlab(atoms, np.zeros(2), meta)
        write_dataset(tmp_path / "x.db", [ok, ok], "x", progress=False)
    assert not (tmp_path / "x.db").exists()  # atomic: nothing half-written is left
    with pytest.raises(FileNotFoundError, match="does not exist"):
        list(iter_labelled_slabs(tmp_path / "x.db"))


def test_published_files_are_not_older_than_any_staged_file(tmp_path):
    """Hard links share their staged file's mtime; the staged files are written one after the
    other, so publishing must give every output one common time or Snakemake rejects the job
    (an output older than one of its inputs)."""
    import os

    from magmom.data.dataset import publish_dataset

    staged = {k: tmp_path / "staged" / f"imp-{k}" for k in ("db", "failures", "summary")}
    outputs = {k: tmp_path / f"imp-{k}" for k in staged}
    staged["db"].parent.mkdir()
    for n, path in enumerate(staged.values()):
        path.write_text(path.name)
        os.utime(path, ns=(n * 10**9, (1_000 + n) * 10**9))  # written one after the other
    publish_dataset(staged, outputs)
    newest_input = max(p.stat().st_mtime_ns for p in staged.values())
    mtimes = {p.stat().st_mtime_ns for p in outputs.values()}
    assert len(mtimes) == 1 and mtimes.pop() >= newest_input
    assert all(outputs[k].read_text() == staged[k].name for k in staged)
