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
from magmom.dft.settings import EosSettings
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
    res = run_eos("Co", "hcp", EosSettings.from_params(eos, cfg["dft"], cfg["recipe"]), tmp_path)
    assert res["status"] == "ok"
    ref = reference_entry(
        "Co", "hcp", cfg["recipe"]["default_magmom"], cfg["recipe"]["hcp_c_over_a"]
    )
    assert {k: res[k] for k in ref} == ref


def test_chgnet_scan_of_bcc_iron_and_its_point_cache(tmp_path):
    cfg = project_config()
    eos = {**cfg["eos"], "calculator": "chgnet", "points": 5}
    settings = EosSettings.from_params(eos, cfg["dft"], cfg["recipe"])
    res = run_eos("Fe", "bcc", settings, tmp_path)
    assert res["status"] == "ok", res["reason"]
    assert res["source"] == "chgnet-eos"
    assert 2.75 < res["a0"] < 2.95  # Fe: 2.87 Å
    assert 1.5 < res["magmom"] < 3.0 and res["c_over_a"] is None
    assert min(p["a"] for p in res["points"]) < res["a0"] < max(p["a"] for p in res["points"])
    json.dumps(res, allow_nan=False)
    # a rerun reads every energy from the point cache instead of recomputing
    cache = json.loads((tmp_path / "points.json").read_text())
    again = run_eos("Fe", "bcc", settings, tmp_path)
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
    fit_rule = {**cfg["recipe"], "hcp_c_over_a": "fit"}
    fixed = run_eos("Zn", "hcp", EosSettings.from_params(eos, cfg["dft"], cfg["recipe"]),
                    tmp_path / "fixed")  # fmt: skip
    fit = run_eos("Zn", "hcp", EosSettings.from_params(eos, cfg["dft"], fit_rule), tmp_path / "fit")
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
    res = run_eos("Al", "fcc", EosSettings.from_params(eos, dft, cfg["recipe"]), tmp_path)
    assert res["status"] == "ok", res["reason"]
    assert res["source"] == "gpaw-eos" and res["spinpol"] is False
    assert 3.9 < res["a0"] < 4.2  # Al: 4.05 Å (RPBE overestimates slightly)
    assert res["magmom"] == 0.0
    assert res["parameters"]["gpaw"]["kpts"] == {"size": [2, 2, 2]}
    ok = [p for p in res["points"] if p["status"] == "ok"]
    assert len(ok) >= 5
    assert all(a["outcome"] == "converged" for p in ok for a in p["scf_attempts"])
    assert (tmp_path / f"a{ok[0]['a']:.6f}-L0.txt").is_file()  # the GPAW log of each point


# parameters_sha256 and point-cache key of the GPAW scans at the study's settings (config.yaml:
# eos section, the rule's eos_dft_params() dft settings, recipe.default_magmom), computed by the
# dict-based code (run_eos(element, lattice, eos, dft, recipe, workdir)) before EosSettings
OLD_GPAW_HASHES = {
    ("Ni", "fcc", 1.633): (
        "6f960c0fd78b63872d89cbca7a43fb21b5ab41023090c28d4dd7ba373367c71b",
        "b8fb3b3f08a460043982af6886aaf4808f0625b11fb6aa915f13f76900d57de6",
    ),
    ("Co", "hcp", "fit"): (
        "f93fdfda4c07ad7286583ce213e2d77eff53f331b32e7681d90f799f6d302f0a",
        "a80fc2975d4bf7d976c4e52c00076b272f4481dda821c0ee7abf78278f878309",
    ),
    ("Co", "hcp", 1.633): (
        "d54ebc7c3332f3b3b43a73be29b44a59b51204907ca2b38b8357452c4921d4bd",
        "8bba7425eddfff5abbb5740931b8152b3922e7654e266f08389e034c52e3ec8c",
    ),
    ("Al", "fcc", 1.633): (
        "b8a8789d33d8b580e6bd5201388471925a584fc59c20397edeefd7e0e6d956a5",
        "afc67430ac4882d62f7604f7d5b9b926c304450b089f5ee8e7ca4e4b6072c5de",
    ),
}


def rule_params(cfg: dict, rule) -> tuple[dict, dict, dict]:
    """The rule eos's params (rules/dft.smk, eos_dft_params in rules/common.smk) for GPAW."""
    pw = cfg["dft"]["planewave"]
    dft = {"planewave": {"xc": pw["xc"], "smearing": pw["smearing"]},
           "scf_ladder": cfg["dft"]["scf_ladder"]}  # fmt: skip
    recipe = {"default_magmom": cfg["recipe"]["default_magmom"], "hcp_c_over_a": rule}
    return cfg["eos"], dft, recipe


@pytest.mark.parametrize(("element", "lattice", "rule"), list(OLD_GPAW_HASHES))
def test_gpaw_scan_parameters_and_cache_key_equal_the_dict_codes(tmp_path, element, lattice, rule):
    """The settings object (straight, and through the ranks' plain data) gives the parameters
    hash written to eos/*.json and the point-cache key the config dicts gave: no EOS reruns."""
    from magmom.dft.eos import _energy_points, reference_guess
    from magmom.elements import SPIN_POLARISED_ELEMENTS

    settings = EosSettings.from_params(*rule_params(project_config(), rule))
    via_ranks = EosSettings.from_dict(json.loads(json.dumps(settings.as_dict())))
    assert via_ranks == settings
    guess = reference_guess(element, lattice, float(settings.default_magmom), rule)
    for s in (settings, via_ranks):
        out = {"spinpol": element in SPIN_POLARISED_ELEMENTS, "calculator": "gpaw"}
        points = _energy_points(out, element, lattice, s, tmp_path, guess, rule == "fit")
        assert (out["parameters_sha256"], points.cache_key) == OLD_GPAW_HASHES[
            (element, lattice, rule)
        ]


def test_eos_settings_name_a_missing_or_unknown_key(tmp_path):
    from dataclasses import FrozenInstanceError

    eos, dft, recipe = rule_params(project_config(), 1.633)
    settings = EosSettings.from_params(eos, dft, recipe)
    assert (settings.xc, settings.smearing, settings.ecut) == ("RPBE", "marzari-vanderbilt", 350.0)
    with pytest.raises(FrozenInstanceError):
        settings.ecut = 200.0
    with pytest.raises(ValueError, match=r"'eos': missing ecut; unknown ecutt"):
        EosSettings.from_params({**{k: v for k, v in eos.items() if k != "ecut"}, "ecutt": 1},
                                dft, recipe)  # fmt: skip
    with pytest.raises(ValueError, match=r"recipe\.hcp_c_over_a"):
        EosSettings.from_params(eos, dft, {"default_magmom": 1.0})
    # a CHGNet/reference EOS gets no dft settings from the rule; GPAW then names what it lacks
    chgnet = EosSettings.from_params({**eos, "calculator": "chgnet"}, {}, recipe)
    assert chgnet.xc is None and chgnet.scf_ladder == ()
    with pytest.raises(ValueError, match=r"dft\.planewave\.xc"):
        run_eos("Ni", "fcc", {**chgnet.as_dict(), "calculator": "gpaw"}, tmp_path)


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
