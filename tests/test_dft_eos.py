"""Equation of state: the Birch–Murnaghan fit, the scans (reference, CHGNet, real GPAW) and the
lattice table with its logged fallbacks."""

from __future__ import annotations

import copy
import json
import logging

import numpy as np
import pytest
from ase.eos import birchmurnaghan
from dft_helpers import project_config

from magmom.dft.eos import (
    bulk_cell,
    fit_birch_murnaghan,
    fit_c_over_a,
    lattice_constant,
    lattice_table_from_eos,
    run_eos,
)
from magmom.recipe.lattice_table import reference_entry

pytestmark = pytest.mark.usefixtures("single_thread")


def test_birch_murnaghan_fit_recovers_the_curve():
    v0, e0, b0, bp = 11.8, -4.2, 0.9, 4.6  # Å³/atom, eV, eV/Å³
    v = np.linspace(0.88 * v0, 1.15 * v0, 7)
    fit = fit_birch_murnaghan(v, birchmurnaghan(v, e0, b0, bp, v0))
    assert fit["v0"] == pytest.approx(v0, rel=1e-5)
    assert fit["e0"] == pytest.approx(e0, abs=1e-6)
    assert fit["bulk_modulus_GPa"] == pytest.approx(b0 * 160.21766208, rel=1e-3)


def test_fit_refuses_a_minimum_outside_the_scan():
    v = np.linspace(8.0, 10.0, 7)
    with pytest.raises(ValueError, match="outside the scanned"):
        fit_birch_murnaghan(v, birchmurnaghan(v, -4.0, 0.9, 4.5, 12.0))
    with pytest.raises(ValueError, match="at least"):
        fit_birch_murnaghan(v[:3], birchmurnaghan(v[:3], -4.0, 0.9, 4.5, 9.0))


@pytest.mark.parametrize("lattice,coa", [("fcc", None), ("bcc", None), ("hcp", 1.633)])
def test_lattice_constant_inverts_the_volume_per_atom(lattice, coa):
    atoms = bulk_cell("Cu", lattice, 3.1, coa)
    assert lattice_constant(atoms.get_volume() / len(atoms), lattice, coa) == pytest.approx(3.1)
    if lattice == "hcp":
        assert atoms.cell.cellpar()[2] / atoms.cell.cellpar()[0] == pytest.approx(1.633)


def test_reference_calculator_writes_the_fallback_entry(tmp_path):
    cfg = project_config()
    eos = {**cfg["eos"], "calculator": "reference"}
    res = run_eos("Co", "hcp", eos, cfg["dft"], cfg["recipe"], tmp_path)
    assert res["status"] == "ok"
    ref = reference_entry(
        "Co", "hcp", cfg["recipe"]["default_magmom"], cfg["recipe"]["hcp_c_over_a"]
    )
    assert {k: res[k] for k in ref} == ref


def test_chgnet_scan_of_bcc_iron_and_its_point_cache(tmp_path):
    cfg = project_config()
    eos = {**cfg["eos"], "calculator": "chgnet", "points": 5}
    res = run_eos("Fe", "bcc", eos, cfg["dft"], cfg["recipe"], tmp_path)
    assert res["status"] == "ok", res["reason"]
    assert res["source"] == "chgnet-eos"
    assert 2.75 < res["a0"] < 2.95  # Fe: 2.87 Å
    assert 1.5 < res["magmom"] < 3.0 and res["c_over_a"] is None
    assert min(p["a"] for p in res["points"]) < res["a0"] < max(p["a"] for p in res["points"])
    json.dumps(res, allow_nan=False)
    # a rerun reads every energy from the point cache instead of recomputing
    cache = json.loads((tmp_path / "points.json").read_text())
    again = run_eos("Fe", "bcc", eos, cfg["dft"], cfg["recipe"], tmp_path)
    assert again["a0"] == res["a0"]
    assert json.loads((tmp_path / "points.json").read_text()) == cache


def test_c_over_a_fit_recovers_the_minimum():
    r = np.linspace(1.55, 1.75, 5)
    scan = [
        {"c_over_a": x, "e0": -3.0 + 2.0 * (x - 1.68) ** 2, "v0": 15.0 + 4.0 * (x - 1.6),
         "bulk_modulus_GPa": 80.0}
        for x in r
    ]  # fmt: skip
    fit = fit_c_over_a(scan)
    assert fit["c_over_a"] == pytest.approx(1.68, abs=1e-9)
    assert fit["v0"] == pytest.approx(15.32) and fit["e0"] == pytest.approx(-3.0)
    with pytest.raises(ValueError, match="outside the scanned"):
        fit_c_over_a([{**p, "e0": -3.0 + 2.0 * (p["c_over_a"] - 1.9) ** 2} for p in scan])
    with pytest.raises(ValueError, match="opens downwards"):
        fit_c_over_a([{**p, "e0": -p["e0"]} for p in scan])
    with pytest.raises(ValueError, match="needs 3"):
        fit_c_over_a(scan[:2])


def test_chgnet_2d_eos_of_hcp_zinc_fits_c_over_a(tmp_path):
    """recipe.hcp_c_over_a: fit scans a at each of eos.c_over_a_points ratios (CHGNet energies)
    and lands at the parabola's minimum, at or below the fixed-c/a scan's energy."""
    cfg = project_config()
    eos = {**cfg["eos"], "calculator": "chgnet", "points": 5}
    fixed = run_eos("Zn", "hcp", eos, cfg["dft"], cfg["recipe"], tmp_path / "fixed")
    fit = run_eos(
        "Zn", "hcp", eos, cfg["dft"], {**cfg["recipe"], "hcp_c_over_a": "fit"}, tmp_path / "fit"
    )
    assert fixed["status"] == fit["status"] == "ok", (fixed["reason"], fit["reason"])
    assert fixed["c_over_a"] == cfg["recipe"]["hcp_c_over_a"] == 1.633
    assert fit["parameters"]["c_over_a"] == "fit"
    scan = fit["c_over_a_scan"]
    ratios = [p["c_over_a"] for p in scan]
    assert len(scan) == eos["c_over_a_points"] and all(p["status"] == "ok" for p in scan)
    assert ratios[0] == pytest.approx(1.856 * (1 - eos["c_over_a_strain"]), abs=1e-6)
    assert min(ratios) < fit["c_over_a"] < max(ratios)
    assert fit["e0"] <= min(p["e0"] for p in scan) + 1e-6
    assert fit["e0"] < fixed["e0"]  # Zn's own c/a is far from 1.633
    cache = json.loads((tmp_path / "fit" / "points.json").read_text())["points"]
    final = cache[f"a{fit['a0']:.6f}-c{fit['c_over_a']:.6f}"]  # the moment's calculation
    assert final["status"] == "ok" and final["c_over_a"] == round(fit["c_over_a"], 6)
    json.dumps(fit, allow_nan=False)


def test_gpaw_scan_of_fcc_aluminium(tmp_path):
    """Real GPAW through the ladder, cheap settings (150 eV, 2 x 2 x 2 k-points)."""
    cfg = project_config()
    eos = {**cfg["eos"], "calculator": "gpaw", "points": 5, "ecut": 150.0, "kpt_density": 0.6}
    dft = copy.deepcopy(cfg["dft"])
    dft["scf_ladder"] = [
        {"mixer": "pulay", "eigenstates": 1.0e-6, "smearing_width": 0.1, "maxiter": 100}
    ]
    res = run_eos("Al", "fcc", eos, dft, cfg["recipe"], tmp_path)
    assert res["status"] == "ok", res["reason"]
    assert res["source"] == "gpaw-eos" and res["spinpol"] is False
    assert 3.9 < res["a0"] < 4.2  # Al: 4.05 Å (RPBE overestimates slightly)
    assert res["magmom"] == 0.0
    assert res["parameters"]["gpaw"]["kpts"] == {"size": [2, 2, 2]}
    ok = [p for p in res["points"] if p["status"] == "ok"]
    assert len(ok) >= 5
    assert all(a["outcome"] == "converged" for p in ok for a in p["scf_attempts"])
    assert (tmp_path / f"a{ok[0]['a']:.6f}-L0.txt").is_file()  # the GPAW log of each point


def test_lattice_table_falls_back_with_a_warning(tmp_path, caplog):
    ok = {"status": "ok", "a0": 3.6, "c_over_a": None, "magmom": 0.0, "source": "gpaw-eos"}
    (tmp_path / "Cu-fcc.json").write_text(json.dumps(ok))
    failed = {"status": "failed", "reason": "SCF did not converge"}
    (tmp_path / "Cu-bcc.json").write_text(json.dumps(failed))
    files = {
        ("Cu", "fcc"): tmp_path / "Cu-fcc.json",
        ("Cu", "bcc"): tmp_path / "Cu-bcc.json",
        ("Cu", "hcp"): tmp_path / "missing.json",
    }
    with caplog.at_level(logging.WARNING):
        table = lattice_table_from_eos(files, 1.0, 1.633)
    assert table["Cu"]["fcc"] == {k: ok[k] for k in ("a0", "c_over_a", "magmom", "source")}
    assert table["Cu"]["bcc"]["source"] in ("ase-reference-state", "covalent-radius-estimate")
    assert table["Cu"]["hcp"]["c_over_a"] == 1.633  # the fallback obeys the c/a rule
    text = caplog.text
    assert "Cu bcc failed (SCF did not converge)" in text and "missing.json" in text
