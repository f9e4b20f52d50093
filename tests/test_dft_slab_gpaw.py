"""Real GPAW on a 2-atom Ni(111) slab through the code of rule ``dft_slab``.

Cheap settings (tests/dft_helpers.py): 200 eV, 2 x 2 x 1 k-points, sz(dzp) on a 0.35 Å grid, one
LBFGS step, and a ladder whose level 0 cannot converge (maxiter 1), so every GPAW stage has to
climb to level 1. The run takes about a minute on two cores; its wall time and SCF iterations are
printed (``pytest -s``).
"""

from __future__ import annotations

import json
import time

import numpy as np
import pytest
from dft_helpers import cheap_config, slab_meta, tiny_slab, write_slab_db

from magmom.data.assemble import assemble_dataset
from magmom.data.dataset import iter_labelled_slabs, read_failures, read_metadata
from magmom.dft.gpaw_params import parameters_sha256
from magmom.dft.label import LabelSettings, label_slab_from_db
from magmom.dft.record import atoms_from_structure, read_record

OK_ID = "ni100-fcc-pure-v0"
FAIL_ID = "ni100-fcc-pure-v1"


pytestmark = [pytest.mark.usefixtures("single_thread"), pytest.mark.slow]  # real GPAW


@pytest.fixture(scope="module")
def gpaw_run(tmp_path_factory, single_thread):
    tmp = tmp_path_factory.mktemp("gpaw")
    db = write_slab_db(
        tmp / "initial_slabs.db",
        [(tiny_slab(), slab_meta(OK_ID)), (tiny_slab(), {**slab_meta(FAIL_ID), "variant": 1})],
    )
    cfg = cheap_config()
    out = tmp / "dft" / f"{OK_ID}.json"
    t0 = time.perf_counter()
    record = label_slab_from_db(db, OK_ID, LabelSettings.of(cfg), tmp / "work" / OK_ID, out)
    wall = time.perf_counter() - t0
    print(
        f"\nGPAW test slab ({OK_ID}, 2 atoms): {wall:.1f} s wall; SCF iterations per stage "
        f"{record['scf_iterations']}; per ionic step lcao "
        f"{record['stages']['lcao']['scf_iterations_per_step']}, pw "
        f"{record['stages']['pw']['scf_iterations_per_step']}; stage wall times "
        f"{ {k: round(v, 1) for k, v in record['wall_time'].items()} }"
    )
    return {"tmp": tmp, "db": db, "cfg": cfg, "out": out, "record": record}


def test_record_holds_the_converged_slab(gpaw_run):
    rec = read_record(gpaw_run["out"])
    assert rec == json.loads(json.dumps(gpaw_run["record"]))
    assert rec["status"] == "ok" and rec["reason"] is None
    assert rec["labeller"] == "gpaw" and rec["surrogate"] is False
    assert rec["spinpol"] is True
    assert rec["versions"]["gpaw"] == "26.7.0"
    assert rec["parameters_sha256"] == parameters_sha256(rec["parameters"])
    assert rec["parameters"]["planewave"]["gpaw"]["kpts"] == {"size": [2, 2, 1]}
    assert rec["parameters"]["planewave"]["gpaw"]["poissonsolver"] == {"dipolelayer": "xy"}

    # moments: a magnetic Ni slab, finite, |m| consistent with the signed values
    m = np.asarray(rec["magmoms"])
    assert m.shape == (2,) and np.all(np.isfinite(m))
    assert np.allclose(rec["abs_magmoms"], np.abs(m))
    assert np.all(np.abs(m) > 0.2) and np.all(np.abs(m) < 1.5)
    assert rec["total_magmom"] == pytest.approx(m.sum())
    for key in ("energy", "free_energy", "fermi_level", "work_function", "work_function_bottom"):
        assert np.isfinite(rec[key]), key
    assert 2.0 < rec["work_function"] < 10.0

    # the structure: pbc restored, the fixed bottom atom did not move, the top one did
    atoms = atoms_from_structure(rec["structure"])
    initial = tiny_slab()
    assert list(atoms.pbc) == [True, True, False]
    assert rec["structure"]["fixed"] == [0]
    assert np.allclose(atoms.positions[0], initial.positions[0])
    assert not np.allclose(atoms.positions[1], initial.positions[1])
    assert np.allclose(atoms.cell, initial.cell)


def test_ladder_climbs_in_every_gpaw_stage_and_is_logged(gpaw_run):
    rec = gpaw_run["record"]
    assert rec["ladder_level"] == 1
    by_stage = {}
    for attempt in rec["scf_attempts"]:
        by_stage.setdefault(attempt["stage"], []).append(attempt)
    assert set(by_stage) == {"lcao", "pw"}
    for stage, attempts in by_stage.items():
        first, second = attempts
        assert (first["level"], first["outcome"], first["maxiter"]) == (0, "scf_failed", 1)
        assert first["error"].startswith("KohnShamConvergenceError")
        assert first["failed_scf_iterations"] == 1
        assert first["gpaw"]["mixer"]["name"] == "pulay"
        assert (second["level"], second["outcome"]) == (1, "converged")
        assert second["gpaw"]["mixer"]["name"] == "msr1"
        assert all(1 < n <= 100 for n in second["scf_iterations"])
        assert rec["stages"][stage]["level"] == 1
        assert rec["scf_iterations"][stage] == sum(second["scf_iterations"])
    assert rec["stages"]["lcao"]["ionic_steps"] == 0  # dft.lcao.steps = 0: one SCF
    assert len(rec["stages"]["lcao"]["scf_iterations_per_step"]) == 1
    # one LBFGS step: two SCFs, the second starting from the first's wave functions
    assert rec["stages"]["pw"]["ionic_steps"] == 1
    assert len(rec["stages"]["pw"]["scf_iterations_per_step"]) == 2
    assert rec["relaxed"] is False  # fmax 0.01 is not reached in one step
    assert set(rec["wall_time"]) == {"prerelax", "lcao", "pw", "total"}


def test_rerun_resumes_from_the_stage_checkpoints(gpaw_run):
    work = gpaw_run["tmp"] / "work" / OK_ID
    logs_before = sorted(p.name for p in work.glob("*.txt"))
    out = gpaw_run["tmp"] / "rerun" / f"{OK_ID}.json"
    rec = label_slab_from_db(gpaw_run["db"], OK_ID, LabelSettings.of(gpaw_run["cfg"]), work, out)
    assert sorted(p.name for p in work.glob("*.txt")) == logs_before  # no GPAW calculation ran
    first = gpaw_run["record"]
    for key in ("magmoms", "energy", "fermi_level", "scf_iterations", "scf_attempts", "structure"):
        assert rec[key] == first[key], key


def test_exhausted_ladder_gives_a_failed_record_and_assembly_still_succeeds(gpaw_run):
    tmp = gpaw_run["tmp"]
    failing = [
        {"mixer": "pulay", "eigenstates": 1.0e-8, "smearing_width": 0.1, "maxiter": 1},
        {"mixer": "direct", "eigenstates": 1.0e-5, "smearing_width": 0.2, "maxiter": 1},
    ]
    cfg = cheap_config(ladder=failing)
    cfg["dft"]["prerelax"]["model"] = "none"
    out = tmp / "dft" / f"{FAIL_ID}.json"
    rec = label_slab_from_db(
        gpaw_run["db"], FAIL_ID, LabelSettings.of(cfg), tmp / "work" / FAIL_ID, out
    )
    assert read_record(out)["status"] == "failed"
    assert "lcao" in rec["reason"] and "ladder" in rec["reason"]
    assert [a["outcome"] for a in rec["scf_attempts"]] == ["scf_failed", "scf_failed"]
    assert [a["level"] for a in rec["scf_attempts"]] == [0, 1]
    assert "magmoms" not in rec
    assert rec["structure"]["numbers"] == [28, 28]  # the last known geometry is kept

    outputs = {
        "db": tmp / "dataset" / "t.db",
        "failures": tmp / "dataset" / "t-failures.csv",
        "summary": tmp / "dataset" / "t-summary.json",
    }
    summary = assemble_dataset([gpaw_run["out"], out], outputs, "t", progress=False)
    slabs = list(iter_labelled_slabs(outputs["db"]))
    assert [s.meta["slab_id"] for s in slabs] == [OK_ID]
    assert slabs[0].meta["labeller"] == "gpaw"
    assert slabs[0].meta["energy"] == pytest.approx(gpaw_run["record"]["energy"])
    assert np.allclose(slabs[0].magmoms, gpaw_run["record"]["magmoms"])
    failures = read_failures(outputs["failures"])
    assert [(f["slab_id"], f["status"]) for f in failures] == [(FAIL_ID, "failed")]
    assert "ladder" in failures[0]["reason"]
    assert summary["status"] == {"failed": 1, "ok": 1}
    assert summary["by_type"]["pure"] == {"failed": 1, "ok": 1}
    assert summary["ladder_levels"] == {"1": 1}
    assert read_metadata(outputs["db"])["surrogate"] is False

    # a rerun does not repeat the hopeless ladder: the checkpoint remembers it
    logs = sorted((tmp / "work" / FAIL_ID).glob("*.txt"))
    again = label_slab_from_db(
        gpaw_run["db"], FAIL_ID, LabelSettings.of(cfg), tmp / "work" / FAIL_ID, out
    )
    assert again["status"] == "failed" and sorted((tmp / "work" / FAIL_ID).glob("*.txt")) == logs


def test_a_gpaw_error_gives_a_failed_record_naming_it(gpaw_run, tmp_path):
    cfg = cheap_config()
    cfg["dft"]["prerelax"]["model"] = "none"
    cfg["dft"]["lcao"]["basis"] = "qzp(nonexistent)"  # GPAW cannot find this basis set
    rec = label_slab_from_db(
        gpaw_run["db"], FAIL_ID, LabelSettings.of(cfg), tmp_path / "w", tmp_path / "r.json"
    )
    assert rec["status"] == "failed"
    assert rec["reason"].startswith("StageFailed: lcao: ")
    assert [a["outcome"] for a in rec["scf_attempts"]] == ["error"]
    assert read_record(tmp_path / "r.json")["status"] == "failed"
