"""``dft.lcao: null``: no LCAO warm-up; the plane waves start from the pre-relaxed geometry and
the start's own moments (real GPAW on the 2-atom Ni(111) slab of tests/dft_helpers.py)."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
from dft_helpers import cheap_config, slab_meta, tiny_slab, write_slab_db

from magmom.dft.gpaw_params import parameters_sha256
from magmom.dft.label import LabelSettings, label_slab_from_db
from magmom.dft.settings import DftSettings
from magmom.dft.staged_relaxation import gpaw_parameters

SLAB_ID = "ni100-fcc-pure-v0"
START_MOMENT = 0.6  # tiny_slab's initial moments: the eos start's (no LCAO moments in between)

pytestmark = [pytest.mark.usefixtures("single_thread"), pytest.mark.slow]  # real GPAW


def _initial_moments_in_gpaw_log(path, n_atoms: int) -> tuple[np.ndarray, np.ndarray]:
    """Positions and initial z-moments of the atoms table a GPAW text log starts with (later
    ionic steps print more tables)."""
    rows = re.findall(
        r"^\|\s*\d+\s*\|\s*[A-Z][a-z]?\s*\|([-\d.\s|]+)\|\s*\(\s*[-\d.]+,\s*[-\d.]+,\s*([-\d.]+)\)",
        path.read_text(),
        flags=re.M,
    )
    assert len(rows) >= n_atoms, f"{path}: no atoms table with initial magnetic moments"
    rows = rows[:n_atoms]
    positions = np.array([[float(x) for x in xyz.split("|") if x.strip()] for xyz, _ in rows])
    return positions, np.array([float(m) for _, m in rows])


def test_without_lcao_the_plane_waves_start_from_the_prerelaxed_slab_and_the_start(tmp_path):
    slab = tiny_slab(magmom=START_MOMENT)
    db = write_slab_db(tmp_path / "initial_slabs.db", [(slab, slab_meta(SLAB_ID))])
    cfg = cheap_config(
        ladder=[{"mixer": "pulay", "eigenstates": 1.0e-6, "smearing_width": 0.2, "maxiter": 100}]
    )
    cfg["dft"]["lcao"] = None
    cfg["dft"]["initial_moments"] = "eos"  # with an LCAO stage, eos starts the plane waves
    # from the LCAO's converged moments
    work = tmp_path / "work" / SLAB_ID
    record = label_slab_from_db(db, SLAB_ID, LabelSettings.of(cfg), work, tmp_path / "rec.json")

    assert record["status"] == "ok", record["reason"]
    assert record["parameters"]["lcao"] is None
    assert set(record["stages"]) == {"prerelax", "pw"}
    assert set(record["scf_iterations"]) == {"pw"}
    assert not list(work.rglob("lcao-*")), "an LCAO stage ran"
    # the first plane-wave SCF: the pre-relaxed positions and the start's moments
    first_pw = sorted(work.rglob("pw-L0-s0.txt"))
    assert len(first_pw) == 1
    positions, moments = _initial_moments_in_gpaw_log(first_pw[0], len(slab))
    np.testing.assert_allclose(moments, START_MOMENT, atol=1e-4)
    prerelaxed = record["initial_moments"]["starts"]["eos"]["stages"]["prerelax"]
    assert prerelaxed["model"] == "chgnet"
    assert record["initial_moments"]["starts"]["eos"]["initial_magmoms"] == [START_MOMENT] * 2
    (checkpoint,) = work.rglob("prerelax.json")
    np.testing.assert_allclose(
        positions, json.loads(checkpoint.read_text())["positions"], atol=2e-6
    )
    # a different setting, so a different hash: records with and without the warm-up never mix
    with_lcao = cheap_config()
    settings = DftSettings.from_config(with_lcao["dft"])
    without = DftSettings.from_config(cfg["dft"])
    assert without.config()["lcao"] is None
    assert parameters_sha256(gpaw_parameters(slab, settings, True)) != parameters_sha256(
        gpaw_parameters(slab, without, True)
    )
