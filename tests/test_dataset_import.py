"""Import of existing datasets (study HDF5, ASE db, extxyz) into the dataset contract, lattice
inference from geometry, and bad records (error naming file and record, or skip and list)."""

from __future__ import annotations

import h5py
import numpy as np
import pytest
from ase.build import bcc110, fcc111, hcp0001

from magmom.data.dataset import DatasetError, iter_labelled_slabs, read_failures
from magmom.data.importers import comp_type_of, import_dataset, infer_lattice, read_source


def slabs():
    """(composition id, variant, atoms, signed moments) of three small slabs, one per lattice."""
    rng = np.random.default_rng(0)
    a = fcc111("Ni", size=(2, 2, 3), a=3.52, vacuum=8.0)
    a.symbols[[0, 5]] = "Fe"
    b = hcp0001("Co", size=(2, 2, 4), vacuum=8.0)
    c = bcc110("Fe", size=(2, 2, 3), vacuum=8.0)
    c.symbols[[1]] = "Cr"
    c.symbols[[2]] = "V"
    out = []
    for comp, variant, atoms in (
        ("fe017-ni083", 0, a),
        ("co100", 1, b),
        ("cr008-fe083-v008", 2, c),
    ):
        atoms.pbc = (True, True, False)
        out.append((comp, variant, atoms, rng.normal(0.5, 1.0, len(atoms))))
    return out


def write_h5(path, records, drop=None, nan=None, short=None):
    with h5py.File(path, "w") as fh:
        for comp, variant, atoms, m in records:
            g = fh.create_group(f"{comp}/{variant}")
            data = {
                "magmoms": m.copy(),
                "atomic_numbers": atoms.numbers,
                "positions": atoms.positions,
                "cell": np.asarray(atoms.cell),
                "tags": atoms.get_tags(),
                "pbc": np.asarray(atoms.pbc),
            }
            if comp == nan:
                data["magmoms"][1] = np.nan
            if comp == short:
                data["magmoms"] = data["magmoms"][:-1]
            if comp == drop:
                del data["positions"]
            for k, v in data.items():
                g.create_dataset(k, data=v)
            g.attrs.update(energy=-1.5 * len(atoms), work_function=4.8, fermi_level=-2.1,
                           spinpol=True)  # fmt: skip
        fh[f"{records[0][0]}/{records[0][1]}"].attrs["energy"] = np.nan  # unknown: omitted


def outputs(tmp_path, name="imp"):
    return {
        "db": tmp_path / f"{name}.db",
        "failures": tmp_path / f"{name}-failures.csv",
        "summary": tmp_path / f"{name}-summary.json",
    }


def check_roundtrip(db, records, keep=None):
    got = {s.meta["composition_id"]: s for s in iter_labelled_slabs(db)}
    assert set(got) == {r[0] for r in records}
    for comp, variant, atoms, m in records:
        slab = got[comp]
        assert np.allclose(slab.magmoms, m) and slab.magmoms.dtype == np.float64
        assert np.allclose(slab.atoms.positions, atoms.positions)
        assert list(slab.atoms.pbc) == [True, True, False]
        assert slab.meta["labeller"] == (keep or {}).get(comp, "imported")
        assert slab.meta["variant"] == variant
        assert slab.meta["comp_type"] == comp_type_of(comp)
    return got


def test_hdf5_study_layout(tmp_path):
    records = slabs()
    src = tmp_path / "magmom21.h5"
    write_h5(src, records)
    summary = import_dataset(src, outputs(tmp_path), "imp")
    got = check_roundtrip(outputs(tmp_path)["db"], records)
    assert {c: s.meta["lattice"] for c, s in got.items()} == {
        "fe017-ni083": "fcc", "co100": "hcp", "cr008-fe083-v008": "bcc",
    }  # fmt: skip
    assert got["co100"].meta["comp_type"] == "pure"
    assert got["cr008-fe083-v008"].meta["comp_type"] == "ternary"
    assert got["co100"].meta["slab_id"] == "co100-hcp-unknown-v1"
    assert got["co100"].meta["energy"] == pytest.approx(-1.5 * 16)
    assert got["co100"].meta["work_function"] == 4.8 and got["co100"].meta["fermi_level"] == -2.1
    assert "energy" not in got["fe017-ni083"].meta  # NaN energy is omitted, not stored
    assert np.array_equal(got["co100"].atoms.get_tags(), records[1][2].get_tags())
    assert summary["n_slabs"] == 3 and summary["format"] == "hdf5"
    assert summary["by_lattice"] == {"bcc": {"ok": 1}, "fcc": {"ok": 1}, "hcp": {"ok": 1}}
    assert read_failures(outputs(tmp_path)["failures"]) == []


def test_ase_db_with_key_value_pairs(tmp_path):
    from ase.db import connect

    records = slabs()
    src = tmp_path / "other.db"
    db = connect(str(src), type="db", append=False)
    for comp, variant, atoms, m in records:
        kvp = {"composition_id": comp, "variant": variant, "placement": "random"}
        if comp == "co100":
            kvp.update(comp_type="pure", lattice="hcp", slab_id="my-co-slab", labeller="chgnet")
        db.write(atoms, key_value_pairs=kvp, data={"magmoms": m})
    summary = import_dataset(src, outputs(tmp_path), "imp")
    got = check_roundtrip(outputs(tmp_path)["db"], records, keep={"co100": "chgnet"})
    assert summary["surrogate"] is True  # re-imported CHGNet labels stay marked
    assert got["co100"].meta["slab_id"] == "my-co-slab"
    assert got["fe017-ni083"].meta["placement"] == "random"
    assert got["fe017-ni083"].meta["slab_id"] == "fe017-ni083-fcc-random-v0"


def test_extxyz_with_per_atom_magmoms(tmp_path):
    from ase.io import write

    records = slabs()
    frames = []
    for _comp, variant, atoms, m in records:
        atoms = atoms.copy()
        atoms.new_array("magmoms", m)
        atoms.info.pop("adsorbate_info", None)  # ase.build's dict: not an extxyz info value
        atoms.info["variant"] = variant  # composition ids are derived from the structure
        frames.append(atoms)
    src = tmp_path / "slabs.extxyz"
    write(src, frames, format="extxyz")
    import_dataset(src, outputs(tmp_path), "imp")
    check_roundtrip(outputs(tmp_path)["db"], records)


@pytest.mark.parametrize(
    "bad,message",
    [
        ({"drop": "co100"}, r"record /co100/1: missing field\(s\) positions"),
        ({"nan": "co100"}, r"record /co100/1: non-finite magnetic moment\(s\) at atom\(s\) \[1\]"),
        ({"short": "co100"}, r"record /co100/1: 16 atomic numbers but 15 magnetic moments"),
    ],
)
def test_bad_records_are_errors_naming_file_and_record(tmp_path, bad, message):
    src = tmp_path / "bad.h5"
    write_h5(src, slabs(), **bad)
    with pytest.raises(DatasetError, match=message) as err:
        import_dataset(src, outputs(tmp_path), "imp")
    assert str(src) in str(err.value) and "on_bad_record: skip" in str(err.value)
    assert not outputs(tmp_path)["db"].exists()


def test_bad_records_are_skipped_and_listed_on_request(tmp_path):
    src = tmp_path / "bad.h5"
    write_h5(src, slabs(), nan="co100")
    summary = import_dataset(src, outputs(tmp_path), "imp", on_bad_record="skip")
    assert summary["n_slabs"] == 2 and summary["status"] == {"bad_record": 1, "ok": 2}
    (failure,) = read_failures(outputs(tmp_path)["failures"])
    assert failure["status"] == "bad_record" and failure["source"] == f"{src}:/co100/1"
    assert "non-finite" in failure["reason"]
    assert {s.meta["composition_id"] for s in iter_labelled_slabs(outputs(tmp_path)["db"])} == {
        "fe017-ni083", "cr008-fe083-v008",
    }  # fmt: skip


def test_source_errors_are_actionable(tmp_path):
    with pytest.raises(DatasetError, match="dataset.source.*does not exist"):
        read_source(tmp_path / "missing.h5")
    (tmp_path / "x.csv").write_text("a,b\n")
    with pytest.raises(DatasetError, match="unknown suffix '.csv'"):
        read_source(tmp_path / "x.csv")
    (tmp_path / "broken.h5").write_text("not hdf5")
    with pytest.raises(DatasetError, match="broken.h5: cannot read it as hdf5"):
        read_source(tmp_path / "broken.h5")
    with pytest.raises(ValueError, match="on_bad_record"):
        read_source(tmp_path / "broken.h5", on_bad_record="ignore")


@pytest.mark.parametrize(
    "atoms,lattice",
    [
        (fcc111("Pt", size=(3, 3, 4), vacuum=8.0), "fcc"),
        (fcc111("Pt", size=(2, 2, 4), vacuum=8.0, orthogonal=True), "fcc"),
        (fcc111("Cu", size=(1, 1, 3), vacuum=8.0), "fcc"),
        (hcp0001("Ru", size=(2, 2, 4), vacuum=8.0), "hcp"),
        (hcp0001("Ru", size=(1, 1, 3), vacuum=8.0), "hcp"),
        (bcc110("W", size=(2, 2, 4), vacuum=8.0), "bcc"),
        (bcc110("W", size=(4, 4, 4), vacuum=8.0, orthogonal=True), "bcc"),
        (fcc111("Pt", size=(2, 2, 2), vacuum=8.0), "unknown"),  # two close-packed layers
    ],
)
def test_lattice_inferred_from_geometry(atoms, lattice):
    atoms.pbc = (True, True, False)
    atoms.rattle(0.03, seed=1)
    assert infer_lattice(atoms) == lattice
    atoms.set_tags(0)  # without tags: layers from z gaps
    assert infer_lattice(atoms) == lattice


def test_comp_type_from_element_count():
    assert [comp_type_of(c) for c in ("ni100", "ag012-au088", "a033-b033-c034")] == [
        "pure", "binary", "ternary",
    ]  # fmt: skip
    with pytest.raises(ValueError, match="7 elements"):
        comp_type_of("-".join(f"x{k}014" for k in range(7)))


def test_failed_import_keeps_the_previous_dataset_and_says_so(tmp_path):
    """Every record bad (skip) or an empty file: the error names the source file and its config
    key, and the dataset files written before are byte-for-byte what they were."""
    good = tmp_path / "good.h5"
    write_h5(good, slabs())
    import_dataset(good, outputs(tmp_path), "imp")
    before = {k: p.read_bytes() for k, p in outputs(tmp_path).items()}
    all_bad = tmp_path / "all-bad.h5"
    write_h5(all_bad, slabs()[:1], drop="fe017-ni083")
    empty = tmp_path / "empty.extxyz"
    empty.write_text("")
    for source, why in ((all_bad, "no slab made it into the dataset"), (empty, "holds no records")):
        with pytest.raises(DatasetError) as err:
            import_dataset(source, outputs(tmp_path), "imp", on_bad_record="skip")
        message = str(err.value)
        assert message.startswith(f"config key 'dataset.source' ({source}): ")
        assert why in message
        assert message.endswith(f"the previous dataset {outputs(tmp_path)['db']} (with its "
                                "failures and summary files) is left as it was")  # fmt: skip
        assert {k: p.read_bytes() for k, p in outputs(tmp_path).items()} == before
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []


def test_failed_first_import_says_no_dataset_was_written(tmp_path):
    (tmp_path / "broken.db").write_text("not a database")
    with pytest.raises(DatasetError, match=r"\(.*broken.db\): .*no dataset was written") as err:
        import_dataset(tmp_path / "broken.db", outputs(tmp_path), "imp")
    assert "config key 'dataset.source'" in str(err.value)
    assert not any(tmp_path.glob("imp*"))
