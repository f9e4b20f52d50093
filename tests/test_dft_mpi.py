"""MPI-parallel GPAW: the build (`gpaw info`), 2 ranks vs 1 on a real slab and a real EOS, and
the layout.

Real GPAW on the 2-atom Ni(111) slab of tests/dft_helpers.py with cheap settings and one ladder
level (converged to 1e-8 eV² per electron, so the moments of the two runs agree far below
1e-4 μB). The 2-rank run goes through the rule's own path (:func:`label_slab_job`: serial
pre-relaxation, then ``mpiexec -n 2 python -m magmom.dft.mpi_worker``). Skipped, with the reason,
where GPAW was built without MPI; the serial fallback is tested everywhere. The EOS (rule ``eos``,
:func:`run_eos_job`) is that of fcc Ni (one atom, spin-polarised, 150 eV, 2 x 2 x 2 k-points).
"""

from __future__ import annotations

import copy
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from dft_helpers import (
    cheap_config,
    mpi_required,
    require_mpi,
    slab_meta,
    tiny_slab,
    write_slab_db,
)

from magmom.dft.eos import run_eos_job
from magmom.dft.label import LabelSettings, label_slab_job
from magmom.dft.parallel import choose_layout, gpaw_build, launcher_command
from magmom.dft.settings import EosSettings

SLAB = "ni100-fcc-pure-v0"
# the moments converged too (magmom/dft/moment_criterion.py), as in the Slurm CI run
ONE_LEVEL = [
    {
        "mixer": "pulay",
        "eigenstates": 1.0e-8,
        "smearing_width": 0.2,
        "maxiter": 100,
        "magmoms": 1e-5,
    }
]
LIB_DIRS = [Path("/usr/lib/x86_64-linux-gnu"), Path("/usr/lib64"), Path("/usr/lib")]


def installed(lib: str) -> bool:
    return any((d / f"lib{lib}.so").exists() for d in LIB_DIRS)


def gpaw_info() -> dict[str, str]:
    gpaw = Path(sys.executable).with_name("gpaw")
    out = subprocess.run([str(gpaw), "info"], capture_output=True, text=True, check=True).stdout
    out = re.sub(r"\x1b\[[0-9;]*m", "", out)
    return {m[0].strip(): m[1].strip() for m in re.findall(r"^(\S[^/\n]*?)\s{2,}(.*)$", out, re.M)}


def test_gpaw_info_reports_mpi_fftw_and_scalapack_where_installed():
    """What scripts/setup.sh builds: MPI, FFTW and ScaLAPACK exactly when the machine has them.
    With MAGMOM_REQUIRE_MPI=1 (CI) the build must have MPI, whatever the machine reports."""
    info = gpaw_info()
    have_mpi = shutil.which("mpic++") is not None or mpi_required()
    assert info["MPI enabled"] == ("yes" if have_mpi else "no"), info
    assert info["FFTW"] == ("yes" if installed("fftw3") else "no"), info
    if have_mpi:
        assert info["scalapack"] == ("yes" if installed("scalapack-openmpi") else "no"), info
    else:
        assert info["scalapack"] == "no (MPI unavailable)", info
    assert gpaw_build() == {
        "mpi": info["MPI enabled"] == "yes",
        "fftw": info["FFTW"] == "yes",
        "scalapack": info["scalapack"] == "yes",
    }


@pytest.mark.parametrize(
    ("size", "spins", "ibz", "layout"),
    [
        (1, 2, 12, {"kpt": 1, "domain": 1, "band": 1}),
        (2, 2, 12, {"kpt": 2, "domain": 1, "band": 1}),
        (32, 2, 3, {"kpt": 2, "domain": 16, "band": 1}),  # 64-atom slab: 3 IBZ points x 2 spins
        (32, 2, 5, {"kpt": 2, "domain": 16, "band": 1}),
        (24, 2, 3, {"kpt": 6, "domain": 4, "band": 1}),
        (4, 1, 1, {"kpt": 1, "domain": 4, "band": 1}),  # Γ only, no spin: domains only
    ],
)
def test_layout_puts_spins_and_kpoints_first_then_domains(size, spins, ibz, layout):
    got = choose_layout(size, spins, ibz)
    assert got == layout
    assert got["kpt"] * got["domain"] * got["band"] == size
    assert (spins * ibz) % got["kpt"] == 0  # every k-point rank gets the same load


def test_launcher_names_its_config_key_and_the_fix():
    with pytest.raises(ValueError, match="dft.resources.launcher"):
        launcher_command(2, "mpirun-typo")


def _config():
    cfg = cheap_config(ladder=ONE_LEVEL)
    cfg["dft"]["lcao"]["steps"] = 0
    return cfg


@pytest.fixture(scope="module")
def runs(tmp_path_factory, single_thread):
    require_mpi()
    tmp = tmp_path_factory.mktemp("mpi")
    db = write_slab_db(tmp / "initial_slabs.db", [(tiny_slab(), slab_meta(SLAB))])
    out = {}
    for tasks in (1, 2):
        out[tasks] = label_slab_job(
            db, SLAB, LabelSettings.of(copy.deepcopy(_config())), tmp / f"work-{tasks}" / SLAB,
            tmp / f"dft-{tasks}" / f"{SLAB}.json", tasks=tasks, launcher="mpiexec",
        )  # fmt: skip
    out["tmp"] = tmp
    return out


@pytest.mark.slow
def test_two_ranks_give_the_serial_moments(runs):
    serial, mpi = runs[1], runs[2]
    assert serial["status"] == mpi["status"] == "ok", (serial.get("reason"), mpi.get("reason"))
    assert serial["parallel"]["world_size"] == 1
    assert mpi["parallel"]["world_size"] == 2
    assert mpi["parallel"]["gpaw_build"]["mpi"] is True
    for stage in ("lcao", "pw"):
        layout = mpi["parallel"]["layout"][stage]
        assert layout["world_size"] == 2
        assert layout["kpt"] * layout["domain"] * layout["band"] == 2
    # 2x2x1 k-points, 2 spins: the ranks split spins/k-points, not the grid
    assert mpi["parallel"]["layout"]["pw"]["kpt"] == 2
    # moments that are there (Ni: ~0.6 μB per atom), so the 1e-4 μB agreement means something
    assert np.all(np.abs(serial["magmoms"]) > 0.3), serial["magmoms"]
    np.testing.assert_allclose(mpi["magmoms"], serial["magmoms"], atol=1e-4, rtol=0)
    # both SCFs stopped on the moment criterion too: GPAW logged it and its last value
    for tasks in (1, 2):
        gpaw_log = (runs["tmp"] / f"work-{tasks}" / SLAB / "pw-L0-s0.txt").read_text()
        assert "[magmo]ment (per atom or total) in the last 3 cycles: 1e-05" in gpaw_log
        last = [line for line in gpaw_log.splitlines() if line.startswith("|iter:")][-1]
        assert float(last.split("|")[6].rstrip("c")) < -5, last  # log10 of the change < 1e-5
    assert mpi["energy"] == pytest.approx(serial["energy"], abs=1e-4)
    # the CHGNet pre-relaxation ran once, in the serial process: the ranks read its checkpoint
    ckpt = json.loads((runs["tmp"] / "work-2" / SLAB / "prerelax.json").read_text())
    assert mpi["stages"]["prerelax"]["wall_time"] == ckpt["wall_time"]


def test_serial_fallback_without_mpi(tmp_path, monkeypatch):
    """tasks > 1 but a GPAW without MPI: the job runs GPAW in its own process (world size 1)."""
    import magmom.dft.label as label
    import magmom.dft.parallel as parallel

    monkeypatch.setattr(parallel, "gpaw_build", lambda: {"mpi": False, "fftw": False,
                                                         "scalapack": False})  # fmt: skip
    called, written = [], []
    monkeypatch.setattr(parallel, "run_under_mpi", lambda *a, **k: called.append(a))
    monkeypatch.setattr(label, "label_slab_in_db", lambda **k: {"status": "serial"})
    monkeypatch.setattr(label, "write_record", lambda path, rec: written.append((path, rec)))
    cfg = _config()
    out = label.label_slab_job(
        "db", SLAB, LabelSettings.of(cfg), tmp_path, tmp_path / "r.json", tasks=4
    )
    assert out == {"status": "serial"} and not called
    assert written == [(tmp_path / "r.json", out)]  # the job's own writer, once


def test_the_ranks_import_the_job_function_by_the_name_derived_from_it():
    from magmom.dft.label import label_slab_in_db
    from magmom.dft.parallel import importable_name, resolve, write_result

    for function in (label_slab_in_db, run_eos_job, write_result):
        assert resolve(importable_name(function)) is function
    assert importable_name(label_slab_in_db) == "magmom.dft.label:label_slab_in_db"

    def local():
        return {}

    for function in (local, lambda: {}):
        with pytest.raises(ValueError, match="module-level function"):
            importable_name(function)


def test_a_serial_job_writes_its_result_with_the_given_writer(tmp_path, monkeypatch):
    import magmom.dft.parallel as parallel

    monkeypatch.setattr(parallel, "run_under_mpi", lambda *a, **k: pytest.fail("MPI started"))
    out = tmp_path / "out.json"
    result = parallel.run_job(dict, {"a": 1}, out, tasks=2, gpaw=False)
    assert result == {"a": 1} and json.loads(out.read_text()) == {"a": 1}
    seen = []
    parallel.run_job(dict, {"b": 2}, out, tasks=1, write=lambda p, r: seen.append((p, r)))
    assert seen == [(out, {"b": 2})]


@pytest.mark.slow
def test_gpaw_eos_on_two_ranks_gives_the_serial_energies_and_moment(tmp_path, single_thread):
    """Rule eos with eos.calculator gpaw and tasks 2: mpiexec -n 2 runs the scan; every energy,
    a0 and the moment at a0 equal a serial run's, and the output records the 2-rank layout."""
    require_mpi()
    cfg = cheap_config()
    eos = {**cfg["eos"], "calculator": "gpaw", "points": 5, "ecut": 150.0, "kpt_density": 0.6}
    dft = {"planewave": cfg["dft"]["planewave"], "scf_ladder": ONE_LEVEL}
    settings = EosSettings.from_params(eos, dft, cfg["recipe"])
    out = {}
    for tasks in (1, 2):
        out[tasks] = run_eos_job(
            "Ni", "fcc", settings, tmp_path / f"work-{tasks}",
            tmp_path / f"Ni-fcc-{tasks}.json", tasks=tasks, launcher="mpiexec",
        )  # fmt: skip
    serial, mpi = out[1], out[2]
    assert serial["status"] == mpi["status"] == "ok", (serial["reason"], mpi["reason"])
    assert json.loads((tmp_path / "Ni-fcc-2.json").read_text()) == mpi  # written by rank 0
    assert serial["parallel"]["world_size"] == 1 and serial["parallel"]["layout"]["kpt"] == 1
    assert mpi["parallel"]["world_size"] == 2 and mpi["parallel"]["gpaw_build"]["mpi"] is True
    layout = mpi["parallel"]["layout"]
    assert layout["world_size"] == 2 and layout["kpt"] * layout["domain"] * layout["band"] == 2
    assert all(p["layout"]["world_size"] == 2 for p in mpi["points"])
    assert [p["a"] for p in mpi["points"]] == [p["a"] for p in serial["points"]]
    np.testing.assert_allclose(
        [p["energy_per_atom"] for p in mpi["points"]],
        [p["energy_per_atom"] for p in serial["points"]],
        atol=1e-6, rtol=0,
    )  # fmt: skip
    assert mpi["a0"] == pytest.approx(serial["a0"], abs=1e-4)
    assert 3.4 < mpi["a0"] < 3.7  # Ni: 3.52 Å
    assert 0.4 < mpi["magmom"] < 0.8  # Ni: 0.6 μB
    np.testing.assert_allclose(mpi["magmoms_at_a0"], serial["magmoms_at_a0"], atol=1e-4, rtol=0)
    # one GPAW log per point (the scan's and the one at a0), written by rank 0
    names = {f"a{a:.6f}-L0.txt" for a in [p["a"] for p in mpi["points"]] + [round(mpi["a0"], 6)]}
    assert {f.name for f in (tmp_path / "work-2").glob("a*-L0.txt")} == names


def test_chgnet_eos_stays_serial(tmp_path, monkeypatch, single_thread):
    """A CHGNet EOS never starts MPI ranks, whatever dft.resources.tasks says."""
    import magmom.dft.parallel as parallel

    monkeypatch.setattr(parallel, "run_under_mpi", lambda *a, **k: pytest.fail("MPI started"))
    cfg = cheap_config()
    eos = {**cfg["eos"], "calculator": "chgnet", "points": 5}
    settings = EosSettings.from_params(eos, {}, cfg["recipe"])
    res = run_eos_job("Cu", "fcc", settings, tmp_path / "w", tmp_path / "Cu.json", tasks=2)
    assert res["status"] == "ok" and "parallel" not in res
    assert json.loads((tmp_path / "Cu.json").read_text()) == res


def test_label_settings_are_built_once_and_reach_the_ranks_as_fields():
    """What dft_slab hands the labeller: named fields, the DFT settings as one frozen object;
    the ranks rebuild them from the JSON of the job spec."""
    from dataclasses import FrozenInstanceError

    from magmom.dft.label import LabelSettings
    from magmom.dft.settings import DftSettings

    cfg = cheap_config()
    settings = LabelSettings.of(cfg)
    assert settings.labeller == "gpaw" and settings.fixed_layers == 1
    assert isinstance(settings.dft, DftSettings)
    assert "resources" not in settings.dft.config()  # the job's, not the label's
    assert settings.initial_moments == cfg["dft"]["initial_moments"] == "floor"
    assert LabelSettings.from_dict(json.loads(json.dumps(settings.as_dict()))) == settings
    with pytest.raises(FrozenInstanceError):
        settings.dft.planewave.ecut = 1.0
    with pytest.raises(ValueError, match="config key 'labeller': 'dft'"):
        LabelSettings(labeller="dft", dft=settings.dft)
