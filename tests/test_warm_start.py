"""The DFT warm-start experiment: slab selection and starts, real GPAW runs, the report page.

GPAW runs on a 2-atom Fe(111) slab with the tests' cheap settings (tests/dft_helpers.py: 200 eV,
2 x 2 x 1 k-points, a ladder whose level 0 cannot converge), through the experiment's own code:
once from a CHGNet-labelled slab (the reference SCF gives the converged start), once from a slab
the GPAW labeller labelled (its label is the converged start) on 2 MPI ranks as the rule runs it.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from dft_helpers import cheap_config, mpi_missing, require_mpi, slab_meta, tiny_slab, write_slab_db
from training_helpers import train_tiny_model

from magmom.data.assemble import labelled_slab_from_record
from magmom.data.dataset import LabelledSlab, write_dataset
from magmom.data.split import format_split_csv
from magmom.dft.label import LabelSettings, label_slab_job
from magmom.dft.record import structure_dict
from magmom.dft.settings import DftSettings
from magmom.evaluation.report.warm_start import COLUMNS, START_LABELS, write_page
from magmom.io import write_json
from magmom.layout import ModelSpec
from magmom.predict.predictor import MomentPredictor
from magmom.warm_start import STARTS
from magmom.warm_start import scf as scf_module
from magmom.warm_start.scf import run_slab, run_slab_job
from magmom.warm_start.starts import warm_start_starts

SAME = {"max_abs_dm": 0.1, "max_abs_de": 0.01}


@pytest.fixture(scope="module")
def model(tmp_path_factory, single_thread):
    root = tmp_path_factory.mktemp("warm-start-model")
    spec = ModelSpec("cgconv", 4.0)
    _, best = train_tiny_model(
        root, root / "cgconv-r4", spec, counts=(12, 4, 4), max_epochs=1, batch_size=4
    )
    return best


def labelled(symbols, slab_id, labeller, moments):
    atoms = tiny_slab(symbols, vacuum=5.0)
    meta = {**slab_meta(slab_id), "labeller": labeller, "composition_id": slab_id.split("-")[0]}
    return LabelledSlab(atoms=atoms, magmoms=np.asarray(moments, dtype=float), meta=meta)


def test_starts_pick_spin_polarised_test_slabs_smallest_first(model, tmp_path, caplog):
    slabs = [
        labelled(("Ni", "Ni", "Ni"), "ni100-fcc-pure-v0", "chgnet", [0.7, 0.6, 0.7]),
        labelled(("Cu", "Cu"), "cu100-fcc-pure-v0", "chgnet", [0.0, 0.0]),
        labelled(("Fe", "Fe"), "fe100-fcc-pure-v0", "gpaw", [2.8, -2.6]),
        labelled(("Ni", "Ni"), "ni100-fcc-pure-v1", "chgnet", [0.6, 0.6]),
    ]
    write_dataset(tmp_path / "d.db", slabs, "d", progress=False)
    split_csv(tmp_path / "split.csv", slabs, ["test", "test", "test", "train"])
    table = {"Fe": {"bcc": {"magmom": 2.2}, "fcc": {"magmom": 2.3}}, "Ni": {"fcc": {"magmom": 0.6}}}
    (tmp_path / "lattice_table.json").write_text(json.dumps(table))
    settings = {"slabs": 5, "uniform_magmom": 1.5}
    starts = warm_start_starts(
        tmp_path / "d.db", tmp_path / "split.csv", tmp_path / "lattice_table.json", model, settings
    )
    assert "only 2 slabs with Co, Cr, Fe, Mn, Ni or V" in caplog.text
    assert list(starts["slabs"]) == ["fe100-fcc-pure-v0", "ni100-fcc-pure-v0"]
    fe, ni = starts["slabs"].values()
    assert fe["converged_source"] == "dft_label" and fe["starts"]["converged"] == [2.8, -2.6]
    assert ni["converged_source"] == "reference_scf" and ni["starts"]["converged"] is None
    # the slabs are fcc: the fcc entries of the table, as the recipe would have set them
    assert fe["starts"]["eos"] == [2.3, 2.3] and ni["starts"]["eos"] == [0.6] * 3
    assert ni["starts"]["uniform"] == [1.5] * 3
    predictor = MomentPredictor(model, device="cpu")
    np.testing.assert_allclose(
        ni["starts"]["model"], predictor.predict_atoms(slabs[0].atoms), rtol=1e-6
    )
    assert starts["model_id"] == "cgconv-r4" and starts["model_target"] == "abs"
    json.dumps(starts, allow_nan=False)  # the checkpoint output is plain JSON


FE_CO_PT_CR = {"Fe": 2.5, "Co": 1.7, "Pt": 0.0, "Cr": 0.0}
"""fcc table moments of the elements of a 4-atom test slab (Cr's bulk moment is 0)."""
FLOOR_FE_CO_PT_CR = {"Fe": 3.0, "Co": 2.0, "Pt": 0.0, "Cr": 3.0}
MP_FE_CO_PT_CR = {"Fe": 5.0, "Co": 0.6, "Pt": 0.6, "Cr": 5.0}


def test_every_start_on_a_slab_of_fe_co_pt_cr(model, tmp_path):
    """The six starts of one slab, in STARTS order: the table's, the floor start (Fe 3, Co 2,
    Cr 3; Pt keeps the table's 0), the Materials Project default (5 for Fe and Cr, 0.6 for Co
    and Pt), 1 μB, the model's (its prediction time recorded) and the label."""
    slab = labelled(("Fe", "Co", "Pt", "Cr"), "cocrfept-fcc-pure-v0", "gpaw", [2.6, 1.6, 0.3, 0.9])
    write_dataset(tmp_path / "d.db", [slab], "d", progress=False)
    split_csv(tmp_path / "split.csv", [slab], ["test"])
    table = {el: {"fcc": {"magmom": m}} for el, m in FE_CO_PT_CR.items()}
    (tmp_path / "lattice_table.json").write_text(json.dumps(table))
    starts = warm_start_starts(
        tmp_path / "d.db", tmp_path / "split.csv", tmp_path / "lattice_table.json", model,
        {"slabs": 1, "uniform_magmom": 1.0},
    )  # fmt: skip
    entry = starts["slabs"]["cocrfept-fcc-pure-v0"]
    assert list(entry["starts"]) == list(STARTS)
    symbols = slab.atoms.get_chemical_symbols()
    expected = {
        "eos": FE_CO_PT_CR,
        "floor": FLOOR_FE_CO_PT_CR,
        "materials_project": MP_FE_CO_PT_CR,
        "uniform": dict.fromkeys(FE_CO_PT_CR, 1.0),
    }
    for name, by_element in expected.items():
        assert entry["starts"][name] == [by_element[s] for s in symbols], name
    assert entry["starts"]["converged"] == [2.6, 1.6, 0.3, 0.9]
    assert len(entry["starts"]["model"]) == 4
    assert 0 < entry["start_time"]["model"] < 60 and starts["model_load_time"] > 0
    json.dumps(starts, allow_nan=False)


def test_an_older_starts_entry_gets_the_floor_and_materials_project_starts():
    """A ``starts.json`` entry written before the two starts existed is completed from its
    elements and ``eos`` moments, as the new file would hold them."""
    from magmom.warm_start import complete_starts

    atoms = tiny_slab(("Fe", "Co", "Pt", "Cr"))
    symbols = atoms.get_chemical_symbols()
    eos = [FE_CO_PT_CR[s] for s in symbols]
    old = {"structure": structure_dict(atoms), "starts": {"eos": eos, "model": [1.0] * 4}}
    old["starts"] |= {"uniform": [1.0] * 4, "converged": None}
    done = complete_starts(old, "starts.json: slab x")
    assert done["starts"]["floor"] == [FLOOR_FE_CO_PT_CR[s] for s in symbols]
    assert done["starts"]["materials_project"] == [MP_FE_CO_PT_CR[s] for s in symbols]
    assert "floor" not in old["starts"]  # the input is untouched
    assert complete_starts(done, "x") == done  # nothing missing: unchanged
    with pytest.raises(ValueError, match="starts.json: slab x: 3 'eos' moments for 4 atoms"):
        complete_starts({**old, "starts": {"eos": eos[:3]}}, "starts.json: slab x")


def test_a_start_reuses_only_a_run_of_the_same_moments_sign_included():
    from magmom.warm_start.scf import same_moments_run

    runs = {"eos": {"initial_magmoms": [3.0, 3.0]}, "converged": {"status": "failed"}}
    assert same_moments_run([3.0, 3.0 + 1e-9], runs) == "eos"
    assert same_moments_run([3.0, 3.0 + 1e-6], runs) is None
    assert same_moments_run([-3.0, -3.0], runs) is None  # a flip ends in flipped moments


@pytest.fixture(scope="module")
def gpaw_record(tmp_path_factory, single_thread):
    tmp = tmp_path_factory.mktemp("warm-start-gpaw")
    atoms = tiny_slab(("Fe", "Fe"), magmom=3.0)
    entry = {
        "n_atoms": 2,
        "formula": "Fe2",
        "labeller": "chgnet",
        "converged_source": "reference_scf",
        "structure": structure_dict(atoms),
        # a table moment at Fe's floor: the floor start is the eos start, run once
        "starts": {"eos": [3.0, 3.0], "floor": [3.0, 3.0], "materials_project": [5.0, 5.0]}
        | {"uniform": [1.0, 1.0], "model": [2.6, 2.4], "converged": None},
    }
    dft = DftSettings.from_config(cheap_config()["dft"])
    settings = {"same_state": SAME, "planewave": {"ecut": 220.0}}
    record = run_slab("fe100-fcc-pure-v0", entry, dft, settings, tmp / "work")
    print(
        "\nwarm start, 2-atom Fe slab (cheap settings): "
        + "; ".join(
            f"{k}: {r['total_scf_iterations']} it, {r['wall_time']:.1f} s"
            for k, r in record["runs"].items()
        )
    )
    return {"record": record, "entry": entry, "dft": dft, "settings": settings, "tmp": tmp}


@pytest.mark.slow
def test_every_start_runs_the_same_gpaw_single_point(gpaw_record):
    record = gpaw_record["record"]
    runs = record["runs"]
    assert list(runs) == list(STARTS)
    assert record["gpaw"]["mode"] == {"name": "pw", "ecut": 220.0}  # the override applied
    assert record["gpaw"]["spinpol"] is True
    eos = runs["eos"]
    # the reference SCF: the converged start is the EOS-table run's converged moments
    assert runs["converged"]["initial_magmoms"] == eos["final_magmoms"]
    for name, run in runs.items():
        assert run["status"] == "ok", name
        assert run["initial_magmoms"] == pytest.approx(
            gpaw_record["entry"]["starts"][name] or eos["final_magmoms"]
        )
        # ladder level 0 (maxiter 1) cannot converge: level 1 did, level 0 counted at maxiter
        assert run["ladder_level"] == 1 and run["attempts"][0]["outcome"] == "scf_failed"
        assert run["total_scf_iterations"] == run["scf_iterations"] + 1
        assert run["scf_iterations"] > 1 and run["wall_time"] > 0
        assert len(run["final_magmoms"]) == 2 and np.isfinite(run["energy"])
        de_own = run["energy"] - runs["converged"]["energy"]
        assert run["de_own_level"] == pytest.approx(de_own, abs=1e-12)
        # level 1 has level 0's smearing and criterion: its energy is at the common level
        same, best = run["equal_settings"], runs["converged"]["equal_settings"]
        assert same["source"] == "own" and same["energy"] == run["energy"]
        assert run["de"] == pytest.approx(same["energy"] - best["energy"], abs=1e-12)
        dm = np.abs(np.subtract(same["magmoms"], best["magmoms"]))
        assert run["max_abs_dm"] == pytest.approx(dm.max())
        assert run["same_state"] == (dm.max() <= 0.1 and abs(run["de"]) <= 0.01)
    assert runs["converged"]["same_state"] is True
    assert runs["eos"]["same_state"] is True  # the state its own moments start from
    assert min(runs["eos"]["final_magmoms"]) > 1.5  # ferromagnetic Fe, not a collapse
    # floor == eos here: the eos run stands for both, and the record says so
    assert runs["floor"]["duplicate_of"] == "eos"
    assert {k: v for k, v in runs["floor"].items() if k != "duplicate_of"} == runs["eos"]
    assert not (gpaw_record["tmp"] / "work" / "floor.json").exists()
    assert (gpaw_record["tmp"] / "work" / "materials_project.json").is_file()
    assert all("duplicate_of" not in r for k, r in runs.items() if k != "floor")
    assert runs["materials_project"]["initial_magmoms"] == [5.0, 5.0]
    # no prediction time in this hand-written entry: unknown for the model, 0 for the others
    assert all(r["start_time"] == (None if k == "model" else 0.0) for k, r in runs.items())
    assert all(r["state"] == ("same" if r["same_state"] else r["state"]) for r in runs.values())


@pytest.mark.slow
def test_rerun_resumes_without_gpaw(gpaw_record, monkeypatch):
    def no_gpaw(*args, **kwargs):
        raise AssertionError("GPAW ran again although every start was done")

    monkeypatch.setattr(scf_module, "_run_one", no_gpaw)
    again = run_slab(
        "fe100-fcc-pure-v0",
        gpaw_record["entry"],
        gpaw_record["dft"],
        gpaw_record["settings"],
        gpaw_record["tmp"] / "work",
    )
    assert again == json.loads(json.dumps(gpaw_record["record"]))


@pytest.mark.slow
def test_an_older_job_runs_only_the_new_starts(gpaw_record, tmp_path, monkeypatch):
    """A slab's work directory and ``starts.json`` entry from before ``floor`` and
    ``materials_project``: the kept runs resume, GPAW runs the Materials Project start only
    (floor equals eos here), and the record is the one a fresh job gives."""
    import shutil

    ran = []

    def counted(atoms, moments, *args, **kwargs):
        ran.append([float(m) for m in moments])
        return real(atoms, moments, *args, **kwargs)

    real = scf_module._run_one
    work = tmp_path / "work"
    shutil.copytree(gpaw_record["tmp"] / "work", work)
    for new in work.glob("materials_project*"):
        new.unlink()
    entry = json.loads(json.dumps(gpaw_record["entry"]))
    for name in ("floor", "materials_project"):
        del entry["starts"][name]
    monkeypatch.setattr(scf_module, "_run_one", counted)
    again = run_slab("fe100-fcc-pure-v0", entry, gpaw_record["dft"], gpaw_record["settings"], work)
    assert ran == [[5.0, 5.0]]
    fresh = json.loads(json.dumps(gpaw_record["record"]))
    assert list(again["runs"]) == list(STARTS)
    for name in STARTS:
        if name != "materials_project":  # resumed (or reused) as kept
            assert again["runs"][name] == fresh["runs"][name], name
    new, old = again["runs"]["materials_project"], fresh["runs"]["materials_project"]
    for key in ("status", "ladder_level", "scf_iterations", "total_scf_iterations", "state"):
        assert new[key] == old[key], key
    assert new["energy"] == pytest.approx(old["energy"], abs=1e-6)
    assert new["final_magmoms"] == pytest.approx(old["final_magmoms"], abs=1e-4)


@pytest.mark.slow
def test_a_kept_run_from_other_moments_runs_again(gpaw_record, tmp_path, monkeypatch):
    """A model retrained under the same id predicts other moments: its kept run is not reused
    (the other kept runs are)."""
    import shutil

    ran = []

    def fake(atoms, moments, *args, **kwargs):  # no GPAW: the run is only counted
        ran.append([float(m) for m in moments])
        return {"status": "failed", "initial_magmoms": ran[-1], "attempts": []}

    work = tmp_path / "work"
    shutil.copytree(gpaw_record["tmp"] / "work", work)
    entry = json.loads(json.dumps(gpaw_record["entry"]))
    entry["starts"]["model"] = [1.25, 1.25]
    monkeypatch.setattr(scf_module, "_run_one", fake)
    again = run_slab("fe100-fcc-pure-v0", entry, gpaw_record["dft"], gpaw_record["settings"], work)
    assert ran == [[1.25, 1.25]]
    assert again["runs"]["model"]["status"] == "failed"
    fresh = gpaw_record["record"]["runs"]
    assert again["runs"]["eos"]["energy"] == fresh["eos"]["energy"]


@pytest.mark.slow
def test_report_page(gpaw_record, tmp_path):
    record = gpaw_record["record"]
    other = json.loads(json.dumps(record))
    other["slab_id"] = "fe100-fcc-pure-v1"
    other["runs"]["uniform"].update(status="failed", same_state=None)
    paths = []
    for rec in (record, other):
        path = tmp_path / f"{rec['slab_id']}.json"
        path.write_text(json.dumps(rec))
        paths.append(path)
    outputs = {k: tmp_path / f"warm_start.{k}" for k in ("csv", "md", "png")}
    outputs["figure"] = outputs.pop("png")
    setup = {"model_id": "cgconv-r4", "uniform_magmom": 1.0, **SAME}
    summary = write_page(paths, outputs, setup)
    table = pd.read_csv(outputs["csv"])
    assert tuple(table.columns) == COLUMNS and len(table) == 2 * len(STARTS)
    assert list(summary["start"]) == list(STARTS)
    eos = record["runs"]["eos"]["total_scf_iterations"]
    model = record["runs"]["model"]["total_scf_iterations"]
    row = summary.set_index("start").loc["model"]
    assert row["iteration_saving_vs_eos"] == pytest.approx(1 - model / eos)
    assert row["pairs"] == 2 and summary.set_index("start").loc["uniform", "converged"] == 1
    md = outputs["md"].read_text()
    assert f"| fe100-fcc-pure-v0 (Fe2) | 2 | {eos} it," in md
    assert "| fe100-fcc-pure-v1 (Fe2) | 2 |" in md and "failed" in md
    header = "| slab | atoms | " + " | ".join(START_LABELS[s] for s in STARTS) + " |"
    assert header in md and "| Materials Project |" in md and "| floor |" in md
    assert "(= EOS table run)" in md  # the floor start reused the eos run
    assert outputs["figure"].stat().st_size > 10_000


@pytest.mark.slow  # 4 single points + 1 failed level + 1 equal-settings single point, Fe2 cell
def test_same_state_is_decided_at_equal_settings(tmp_path, single_thread):
    """A start that converges only on ladder level 1 (0.3 eV smearing) ends ~6 meV above the
    reference at level 0 (0.1 eV) in the same ferromagnetic state: at equal settings it is the
    same state, at the levels the runs converged on it would be another."""
    atoms = tiny_slab(("Fe", "Fe"), magmom=2.2)
    entry = {
        "n_atoms": 2,
        "formula": "Fe2",
        "labeller": "gpaw",
        "converged_source": "dft_label",
        "structure": structure_dict(atoms),
        # from 0.5 μB Pulay at 0.1 eV wanders for 300+ iterations, MSR1 at 0.3 eV converges
        "starts": {"eos": [3.0, 3.0], "model": [2.6, 2.4], "uniform": [0.5, 0.5],
                   "converged": [2.54, 2.54]},
    }  # fmt: skip
    dft = cheap_config()["dft"]
    dft["scf_ladder"] = [
        {"mixer": "pulay", "eigenstates": 1.0e-6, "smearing_width": 0.1, "maxiter": 60},
        {"mixer": "msr1", "eigenstates": 1.0e-6, "smearing_width": 0.3, "maxiter": 100},
    ]
    dft = DftSettings.from_config(dft)
    settings = {"same_state": {"max_abs_dm": 0.1, "max_abs_de": 0.002}}
    record = run_slab("fe100-fcc-pure-v0", entry, dft, settings, tmp_path / "work")
    runs = record["runs"]
    assert all(run["status"] == "ok" for run in runs.values())
    assert runs["converged"]["ladder_level"] == 0
    uniform = runs["uniform"]
    assert uniform["ladder_level"] == 1 and min(uniform["final_magmoms"]) > 1.5
    assert uniform["same_state"] is True
    assert abs(uniform["de"]) < 0.001 and uniform["max_abs_dm"] < 0.05
    assert uniform["de_own_level"] > 0.002  # the smearing artefact alone
    for name, run in runs.items():
        source = "own" if run["ladder_level"] == 0 else "single_point"
        assert run["equal_settings"]["source"] == source, name
    print(
        f"\nwarm start at equal settings: uniform ΔE {1000 * uniform['de_own_level']:+.2f} meV "
        f"between levels 1 and 0, {1000 * uniform['de']:+.3f} meV at level 0; max Δm "
        f"{uniform['max_abs_dm']:.4f} μB"
    )
    assert (tmp_path / "work" / "uniform-equal.json").is_file()
    assert not (tmp_path / "work" / "converged-equal.json").exists()  # no run needed at level 0


def split_csv(path, slabs, splits) -> None:
    rows = [
        {"slab_id": s.meta["slab_id"], "composition_id": "x", "type": "pure", "split": sp}
        for s, sp in zip(slabs, splits, strict=True)
    ]
    path.write_text(format_split_csv(rows))


MPI = mpi_missing() is None


@pytest.fixture(scope="module")
def dft_labelled(model, tmp_path_factory, single_thread):
    """A 2-atom Fe slab labelled by the GPAW labeller, through dataset -> split -> starts, then
    the rule's entry point on 2 MPI ranks (1 where GPAW or mpiexec lacks MPI)."""
    tmp = tmp_path_factory.mktemp("warm-start-dft-label")
    slab_id = "fe100-fcc-pure-v0"
    initial = tiny_slab(("Fe", "Fe"), magmom=2.2)
    db = write_slab_db(tmp / "initial_slabs.db", [(initial, slab_meta(slab_id, "fe100"))])
    config = cheap_config("gpaw")
    label = label_slab_job(
        db, slab_id, LabelSettings.of(config), tmp / "dft-work", tmp / "dft.json"
    )
    assert label["status"] == "ok", label.get("reason")
    slab = labelled_slab_from_record(label, "dft.json")
    write_dataset(tmp / "d.db", [slab], "d", progress=False)
    split_csv(tmp / "split.csv", [slab], ["test"])
    (tmp / "lattice_table.json").write_text(json.dumps({"Fe": {"fcc": {"magmom": 2.3}}}))
    # maxiter: the model (one epoch on 12 slabs) may give a start that does not converge
    settings = {"slabs": 1, "uniform_magmom": 1.0, "same_state": SAME, "maxiter": 40}
    starts = warm_start_starts(
        tmp / "d.db", tmp / "split.csv", tmp / "lattice_table.json", model, settings
    )
    write_json(tmp / "starts.json", starts)
    tasks = 2 if MPI else 1
    dft = DftSettings.from_config(config["dft"])
    record = run_slab_job(
        tmp / "starts.json", slab_id, dft, settings, tmp / "work", tmp / "record.json",
        tasks=tasks, launcher="mpiexec",
    )  # fmt: skip
    print(
        f"\nwarm start from a GPAW label, 2-atom Fe slab, {tasks} rank(s): "
        + "; ".join(
            f"{k}: {r['total_scf_iterations']} it, {r['wall_time']:.1f} s"
            for k, r in record["runs"].items()
        )
    )
    return {"label": label, "starts": starts, "record": record, "tasks": tasks}


@pytest.mark.slow
def test_gpaw_label_is_the_converged_start(dft_labelled):
    label, record = dft_labelled["label"], dft_labelled["record"]
    entry = dft_labelled["starts"]["slabs"]["fe100-fcc-pure-v0"]
    assert entry["labeller"] == "gpaw" and entry["converged_source"] == "dft_label"
    assert entry["label_parameters_sha256"] == label["parameters_sha256"]
    # the experiment ran at the label's settings (its maxiter cap of 40 aside)
    assert record["label_settings"] == "equal"
    assert entry["starts"]["converged"] == pytest.approx(label["magmoms"], abs=1e-12)
    assert record["converged_source"] == "dft_label" and record["labeller"] == "gpaw"
    runs = record["runs"]
    # the label's moments start the converged run; no reference SCF stands in for them
    assert runs["converged"]["initial_magmoms"] == pytest.approx(label["magmoms"], abs=1e-12)
    assert runs["converged"]["initial_magmoms"] != runs["eos"]["final_magmoms"]
    assert runs["converged"]["status"] == runs["eos"]["status"] == "ok"
    # same geometry and plane-wave settings as the label: the label's own DFT state again
    np.testing.assert_allclose(runs["converged"]["final_magmoms"], label["magmoms"], atol=0.05)
    assert runs["converged"]["energy"] == pytest.approx(label["energy"], abs=0.01)
    assert runs["eos"]["same_state"] is True
    assert min(label["magmoms"]) > 1.5  # ferromagnetic Fe: a label worth starting from


@pytest.mark.slow
def test_warm_start_runs_on_the_mpi_ranks_and_records_the_layout(dft_labelled):
    require_mpi()  # the fixture ran serially where MPI is missing; CI makes this must-run
    parallel = dft_labelled["record"]["parallel"]
    assert parallel["world_size"] == 2 and parallel["gpaw_build"]["mpi"] is True
    assert set(parallel["layout"]) == set(STARTS)
    for name, run in dft_labelled["record"]["runs"].items():
        layout = run["layout"]
        assert parallel["layout"][name] == layout
        assert layout["world_size"] == 2 and layout["n_spins"] == 2, name
        assert layout["kpt"] * layout["domain"] * layout["band"] == 2
        # 2 spins x 2 x 2 x 1 k-points: the ranks split spins/k-points, not the grid
        assert layout["kpt"] == 2


def test_eos_moments_need_a_known_lattice():
    from magmom.warm_start.starts import eos_moments

    table = {"Fe": {"bcc": {"magmom": 2.2}}}
    assert eos_moments(table, ["Fe", "Fe"], "bcc", 1.0, "x").tolist() == [2.2, 2.2]
    with pytest.raises(ValueError, match="db: slab s1: lattice 'unknown' is not fcc, bcc or hcp"):
        eos_moments(table, ["Fe"], "unknown", 1.0, "db: slab s1")


def test_experiment_settings_override_the_planewave_and_cap_the_ladder():
    from magmom.warm_start.scf import experiment_dft

    dft = DftSettings.from_config(cheap_config()["dft"])
    out = experiment_dft(dft, {"ecut": 150.0}, maxiter=50)
    assert out.planewave.ecut == 150.0 and dft.planewave.ecut == 200.0
    assert [lvl["maxiter"] for lvl in out.scf_ladder] == [1, 50]
    assert [lvl["maxiter"] for lvl in dft.scf_ladder] == [1, 100]  # the input is untouched
    assert experiment_dft(dft, None) == dft
    with pytest.raises(ValueError, match="warm_start.planewave': unknown ecutt"):
        experiment_dft(dft, {"ecutt": 150.0})


def test_the_record_says_whether_the_experiment_ran_at_the_labels_own_settings():
    """`make demo-dft-warm-start` (presets/mini.yaml's DFT settings under presets/demo-dft.yaml)
    runs at the settings of every shipped label; the study's settings or a cheaper plane-wave
    cutoff do not; a maxiter cap moves no converged state and does not count."""
    from ase.io import iread

    from magmom.elements import is_spin_polarised
    from magmom.training.cli import load_config
    from magmom.warm_start.scf import label_settings

    root = Path(__file__).resolve().parents[1]
    warm_start_dft = [root / "presets" / "mini.yaml", root / "presets" / "demo-dft.yaml"]
    labels = DftSettings.from_config(load_config(root / "config.yaml", warm_start_dft)["dft"])
    study = DftSettings.from_config(load_config(root / "config.yaml")["dft"])
    slabs = list(iread(root / "data" / "mini" / "mini.extxyz"))
    assert slabs
    for atoms in slabs:
        entry = {"label_parameters_sha256": atoms.info["parameters_sha256"]}
        spinpol = is_spin_polarised(atoms.get_chemical_symbols())
        where = atoms.info["slab_id"]
        assert label_settings(entry, atoms, labels, {}, spinpol) == "equal", where
        assert label_settings(entry, atoms, labels, {"maxiter": 40}, spinpol) == "equal", where
        assert label_settings(entry, atoms, study, {}, spinpol) == "different", where
        cheaper = {"planewave": {"ecut": 200.0}}
        assert label_settings(entry, atoms, labels, cheaper, spinpol) == "different", where
        assert label_settings({"label_parameters_sha256": None}, atoms, labels, {}, spinpol) is None


def _run(iterations: int, energy: float) -> dict:
    return {
        "status": "ok", "initial_magmoms": [2.0, 2.0], "final_magmoms": [2.5, 2.5],
        "energy": energy, "scf_iterations": iterations, "total_scf_iterations": iterations,
        "ladder_level": 0, "wall_time": 10.0 * iterations, "de": 0.0, "de_own_level": 0.0,
        "max_abs_dm": 0.0, "mean_abs_dm": 0.0, "same_state": True, "layout": {"world_size": 1},
    }  # fmt: skip


def _record(slab_id: str, runs: dict, schema: int) -> dict:
    layout = {name: run["layout"] for name, run in runs.items()}
    return {
        "schema_version": schema, "slab_id": slab_id, "n_atoms": 2, "formula": "Fe2",
        "labeller": "gpaw", "converged_source": "dft_label", "spinpol": True,
        "parallel": {"world_size": 1, "layout": layout}, "runs": runs,
    }  # fmt: skip


def test_records_and_starts_written_with_the_old_eos_table_name_still_read(tmp_path):
    """Schema-2 files (before ``eos_table`` became ``eos``) mean the same start."""
    from magmom.warm_start import current_record, current_starts_entry

    old_runs = {"eos_table": _run(40, -10.0), "model": _run(30, -10.0)}
    old_runs |= {"uniform": _run(50, -10.0), "converged": _run(20, -10.0)}
    new_runs = {"eos": _run(44, -11.0), "model": _run(22, -11.0)}
    new_runs |= {"uniform": _run(55, -11.0), "converged": _run(11, -11.0)}
    old = _record("fe100-fcc-pure-v0", old_runs, schema=2)
    new = _record("fe100-fcc-pure-v1", new_runs, schema=3)
    migrated = current_record(old, "old.json")
    assert list(migrated["runs"]) == ["eos", "model", "uniform", "converged"]
    assert list(migrated["parallel"]["layout"])[0] == "eos"
    assert migrated["runs"]["eos"] == old_runs["eos_table"] and "eos_table" in old["runs"]
    paths = []
    for rec in (old, new):
        paths.append(tmp_path / f"{rec['slab_id']}.json")
        paths[-1].write_text(json.dumps(rec))
    outputs = {"csv": tmp_path / "w.csv", "md": tmp_path / "w.md", "figure": tmp_path / "w.png"}
    summary = write_page(paths, outputs, {"model_id": "cgconv-r4", **SAME}).set_index("start")
    table = pd.read_csv(outputs["csv"])
    assert set(table["start"]) == set(STARTS)
    eos_rows = table[table["start"] == "eos"].set_index("slab_id")["total_scf_iterations"]
    assert eos_rows.to_dict() == {"fe100-fcc-pure-v0": 40, "fe100-fcc-pure-v1": 44}
    # the paired saving counts the old file's EOS-table run as the reference
    assert summary.loc["model", "pairs"] == 2
    assert summary.loc["model", "iteration_saving_vs_eos"] == pytest.approx(1 - 52 / 84)
    # the starts added later are missing from both records, not failed
    assert set(table[table["start"] == "floor"]["status"]) == {"missing"}
    assert summary.loc["floor", "slabs"] == 0 and summary.loc["eos", "slabs"] == 2
    entry = {"n_atoms": 2, "starts": {"eos_table": [2.2, 2.2], "converged": None}}
    assert current_starts_entry(entry, "starts.json")["starts"] == {
        "eos": [2.2, 2.2],
        "converged": None,
    }
    with pytest.raises(ValueError, match="starts.json: start 'eos' appears twice.*eos_table"):
        current_starts_entry({"starts": {"eos": [1.0], "eos_table": [1.0]}}, "starts.json")


def test_summary_per_start_counts_states_failed_runs_and_the_prediction_time(tmp_path):
    """Per start: same/lower/higher fractions at equal settings, median and total SCF iterations
    with a run that failed every ladder level counted, the model's prediction time in its wall
    time, a start reused from another's run, and an older record's missing starts left out."""
    from magmom.warm_start import final_state

    def run(iterations, de=0.0, dm=0.0, **extra):
        out = _run(iterations, -10.0 + de)
        same = abs(de) <= SAME["max_abs_de"] and dm <= SAME["max_abs_dm"]
        out |= {"de": de, "max_abs_dm": dm, "same_state": same, "start_time": 0.0}
        out["state"] = final_state(same, de, SAME["max_abs_de"])
        return out | extra

    a = {"eos": run(40), "floor": run(30, de=-0.05, dm=0.5), "uniform": run(35)}
    a |= {"materials_project": run(60, de=0.05, dm=0.5), "converged": run(20)}
    a["model"] = run(20, start_time=1.5)
    failed = {"status": "failed", "total_scf_iterations": 200, "wall_time": 2000.0, "layout": {}}
    b = {"eos": run(50), "floor": run(50) | {"duplicate_of": "eos"}, "converged": run(20)}
    b |= {"materials_project": run(70, de=0.003, dm=0.3), "model": run(30, start_time=0.5)}
    b["uniform"] = failed | {"start_time": 0.0, "same_state": None, "de": None}
    old = {"eos": _run(44, -11.0), "model": _run(22, -11.0)}  # schema 3: no state, no
    old |= {"uniform": _run(55, -11.0), "converged": _run(11, -11.0)}  # start time
    paths = []
    settings = {"a": "equal", "b": "different"}  # c predates the field
    for slab_id, runs, schema in (("a", a, 4), ("b", b, 4), ("c", old, 3)):
        paths.append(tmp_path / f"{slab_id}.json")
        record = _record(slab_id, runs, schema)
        if slab_id in settings:
            record["label_settings"] = settings[slab_id]
        paths[-1].write_text(json.dumps(record))
    outputs = {"csv": tmp_path / "w.csv", "md": tmp_path / "w.md", "figure": tmp_path / "w.png"}
    summary = write_page(paths, outputs, {"model_id": "cgconv-r4", **SAME}).set_index("start")
    assert list(summary.index) == list(STARTS)
    floor, mp, uniform, model = (
        summary.loc[k] for k in ("floor", "materials_project", "uniform", "model")
    )
    assert floor["slabs"] == 2 and floor["reused"] == 1  # slab c predates the start
    assert (floor["same_fraction"], floor["lower_fraction"], floor["higher_fraction"]) == (
        0.5,
        0.5,
        0,
    )
    assert floor["same_or_lower_fraction"] == 1.0
    # slab b: other moments within the energy bound: neither the same state nor lower nor higher
    assert (mp["higher_fraction"], mp["degenerate_fraction"], mp["same_or_lower_fraction"]) == (
        0.5,
        0.5,
        0,
    )
    # the failed run's 200 iterations count in the median and total, not in converged
    assert uniform["converged"] == 2 and uniform["slabs"] == 3
    assert uniform["median_iterations"] == 55 and uniform["total_iterations"] == 290
    assert uniform["same_or_lower_fraction"] == pytest.approx(2 / 3)
    # the model's wall time: SCF (10 s per iteration here) plus its prediction time
    assert model["total_wall_time"] == pytest.approx(10 * (20 + 30 + 22) + 1.5 + 0.5)
    assert model["start_time"] == 2.0 and model["start_time_missing"] == 1
    table = pd.read_csv(outputs["csv"])
    row = table[(table["slab_id"] == "a") & (table["start"] == "model")].iloc[0]
    assert (row["scf_wall_time"], row["start_time"], row["wall_time"]) == (200.0, 1.5, 201.5)
    # the old record's state, from its same_state and ΔE
    assert set(table[table["slab_id"] == "c"].dropna(subset=["state"])["state"]) == {"same"}
    md = outputs["md"].read_text()
    assert "| floor | 2 (1 reused) | 2 | 50% | 50% | 0% | 100% |" in md
    assert "(= EOS table run)" in md and "**lower state**" in md and "not run" in md
    assert "includes 2.00 s of prediction (1 run(s)" in md
    assert "DFT settings: the labels' own on 1 of 3 slab(s); **other than the label's on b**" in md
    assert set(table.dropna(subset=["label_settings"])["label_settings"]) == {"equal", "different"}


@pytest.mark.slow
def test_a_job_started_before_the_rename_resumes_its_eos_table_run(
    gpaw_record, tmp_path, monkeypatch
):
    """A slab's work directory kept from before the rename (``eos_table.json``) and an old
    ``starts.json`` entry resume without GPAW and give the same record."""
    import shutil

    def no_gpaw(*args, **kwargs):
        raise AssertionError("GPAW ran again although every start was done")

    work = tmp_path / "work"
    shutil.copytree(gpaw_record["tmp"] / "work", work)
    for kept in work.glob("eos*.json"):
        kept.rename(work / kept.name.replace("eos", "eos_table", 1))
    assert (work / "eos_table.json").is_file() and not (work / "eos.json").exists()
    entry = json.loads(json.dumps(gpaw_record["entry"]))
    entry["starts"] = {("eos_table" if k == "eos" else k): v for k, v in entry["starts"].items()}
    write_json(tmp_path / "starts.json", {"slabs": {"fe100-fcc-pure-v0": entry}})
    monkeypatch.setattr(scf_module, "_run_one", no_gpaw)
    again = run_slab_job(
        tmp_path / "starts.json", "fe100-fcc-pure-v0", gpaw_record["dft"],
        gpaw_record["settings"], work, tmp_path / "record.json",
    )  # fmt: skip
    assert again == json.loads(json.dumps(gpaw_record["record"]))
    assert json.loads((tmp_path / "record.json").read_text()) == again


def test_kept_runs_of_the_old_start_name_are_found(tmp_path):
    from magmom.warm_start.scf import kept_run

    assert kept_run(tmp_path, "eos") == tmp_path / "eos.json"  # nothing kept: the new name
    (tmp_path / "eos_table.json").write_text("{}")
    (tmp_path / "eos_table-equal.json").write_text("{}")
    assert kept_run(tmp_path, "eos") == tmp_path / "eos_table.json"
    assert kept_run(tmp_path, "eos", "-equal") == tmp_path / "eos_table-equal.json"
    assert kept_run(tmp_path, "model") == tmp_path / "model.json"
    (tmp_path / "eos.json").write_text("{}")
    assert kept_run(tmp_path, "eos") == tmp_path / "eos.json"  # the new file wins
