"""k-point grids, GPAW parameter dicts, the SCF ladder's realisation and the parameter hash."""

from __future__ import annotations

import copy
import math

import numpy as np
import pytest
from ase.build import bulk, fcc111
from dft_helpers import project_config

from magmom.dft.gpaw_params import (
    bulk_params,
    lcao_params,
    occupations,
    parameters_sha256,
    planewave_params,
)
from magmom.dft.kpoints import gpaw_kpts, monkhorst_pack_size
from magmom.dft.scf_ladder import (
    DIRECT_EIGENSOLVER,
    LadderLevel,
    ladder_from_config,
    level_parameters,
)
from magmom.dft.settings import DftSettings, EosSettings


def test_kpoint_density_follows_the_reciprocal_cell():
    slab = fcc111("Cu", size=(4, 4, 4), a=3.6, vacuum=10.0)
    slab.pbc = (True, True, False)
    recip = np.linalg.norm(slab.cell.reciprocal(), axis=1)
    expected = [math.ceil(2 * math.pi * recip[i] * 3.5) for i in range(2)]
    assert monkhorst_pack_size(slab, 3.5, kpts_z=1) == (*expected, 1)
    assert monkhorst_pack_size(slab, 3.5) == (*expected, 1)  # non-periodic z: one point
    assert monkhorst_pack_size(slab, 0.0, kpts_z=1) == (1, 1, 1)  # Γ only
    cu = bulk("Cu", "fcc", a=3.6)
    n = monkhorst_pack_size(cu, 3.5)
    assert n[0] == n[1] == n[2] > 1
    # the same rule as ASE's density convention (without rounding up to even numbers)
    from ase.calculators.calculator import kptdensity2monkhorstpack

    assert list(n) == list(kptdensity2monkhorstpack(cu, 3.5, even=False))
    assert gpaw_kpts(slab, 3.5, 1) == {"size": [*expected, 1]}
    with pytest.raises(ValueError, match="density"):
        monkhorst_pack_size(cu, -1.0)


def test_stage_parameters_spell_the_study_settings():
    cfg = project_config()
    slab = fcc111("Ni", size=(2, 2, 3), vacuum=10.0)
    slab.pbc = (True, True, False)
    dft = DftSettings.from_config(cfg["dft"])
    pw = planewave_params(dft.planewave, slab, spinpol=True)
    assert pw["mode"] == {"name": "pw", "ecut": 350.0}
    assert pw["xc"] == "RPBE"
    assert pw["occupations"] == {"name": "marzari-vanderbilt", "width": 0.1}
    assert pw["poissonsolver"] == {"dipolelayer": "xy"}
    assert pw["spinpol"] is True
    assert pw["kpts"]["size"][2] == 1
    lcao = lcao_params(dft.lcao, dft.planewave, slab, spinpol=False)
    assert (lcao["mode"], lcao["basis"], lcao["h"]) == ("lcao", "sz(dzp)", 0.2)
    assert lcao["kpts"] == pw["kpts"] and lcao["spinpol"] is False
    no_dipole = copy.deepcopy(cfg["dft"])
    no_dipole["planewave"]["dipole_correction"] = False
    no_dipole = DftSettings.from_config(no_dipole).planewave
    assert "poissonsolver" not in planewave_params(no_dipole, slab, True)
    eos = EosSettings.from_params(cfg["eos"], cfg["dft"], cfg["recipe"])
    b = bulk_params(eos, bulk("Fe", "bcc", a=2.87), True)
    assert b["mode"]["ecut"] == 350.0 and min(b["kpts"]["size"]) > 1
    assert (b["xc"], b["occupations"]) == ("RPBE", {"name": "marzari-vanderbilt", "width": 0.1})
    assert occupations("gaussian", 0.1) == {"name": "methfessel-paxton", "order": 0, "width": 0.1}
    with pytest.raises(ValueError, match="smearing"):
        occupations("cold", 0.1)


def test_ladder_levels_of_the_study():
    cfg = project_config()
    ladder = ladder_from_config(cfg["dft"]["scf_ladder"])
    assert [lvl.mixer for lvl in ladder] == ["pulay", "pulay", "msr1", "direct"]
    assert [lvl.eigenstates for lvl in ladder] == [1e-8, 1e-7, 1e-6, 1e-5]
    slab = fcc111("Ni", size=(1, 1, 3), vacuum=5.0)
    slab.pbc = (True, True, False)
    dft = DftSettings.from_config(cfg["dft"])
    base_pw = planewave_params(dft.planewave, slab, True)
    base_lcao = lcao_params(dft.lcao, dft.planewave, slab, True)
    p = [level_parameters(lvl, base_pw, "marzari-vanderbilt") for lvl in ladder]
    assert [q["convergence"]["eigenstates"] for q in p] == [1e-8, 1e-7, 1e-6, 1e-5]
    assert [q["maxiter"] for q in p] == [300, 400, 500, 600]
    widths = [q["occupations"]["width"] for q in p]
    assert widths == sorted(widths) and widths[0] == 0.1 and widths[-1] == 0.2  # widened
    assert [q["mixer"]["name"] for q in p] == ["pulay", "pulay", "msr1", "pulay"]
    assert p[3]["mixer"]["beta"] < p[0]["mixer"]["beta"]  # direct level: damped mixing
    assert p[3]["eigensolver"] == DIRECT_EIGENSOLVER
    assert all("eigensolver" not in q for q in p[:3])
    # LCAO diagonalises exactly: no Davidson there
    assert "eigensolver" not in level_parameters(ladder[3], base_lcao, "marzari-vanderbilt")
    # a wider stage smearing is never narrowed by the ladder
    wide = dict(base_pw, occupations=occupations("marzari-vanderbilt", 0.3))
    assert level_parameters(ladder[0], wide, "marzari-vanderbilt")["occupations"]["width"] == 0.3
    # optional mixer settings override the defaults
    lvl = LadderLevel.from_config(0, {**cfg["dft"]["scf_ladder"][0], "beta": 0.1})
    assert lvl.mixer_parameters()["beta"] == 0.1
    # GPAW's own density criterion unless a level sets one
    assert all("density" not in q["convergence"] for q in p)
    tight = LadderLevel.from_config(0, {**cfg["dft"]["scf_ladder"][0], "density": 1e-6})
    conv = level_parameters(tight, base_pw, "marzari-vanderbilt")["convergence"]
    assert conv == {"eigenstates": 1e-8, "density": 1e-6}


def test_ladder_config_errors_name_the_key():
    with pytest.raises(ValueError, match=r"dft.scf_ladder\[1\].*mixer 'broyden'"):
        ladder_from_config(
            [
                {"mixer": "pulay", "eigenstates": 1e-8, "smearing_width": 0.1, "maxiter": 3},
                {"mixer": "broyden", "eigenstates": 1e-8, "smearing_width": 0.1, "maxiter": 3},
            ]
        )
    with pytest.raises(ValueError, match="at least one level"):
        ladder_from_config([])


def test_separate_magnetisation_mixer():
    level = {"mixer": "pulay", "eigenstates": 1e-8, "smearing_width": 0.1, "maxiter": 3}
    plain, split = ladder_from_config([level, {**level, "magnetisation": {"weight": 1.0}}])
    base = {"occupations": occupations("marzari-vanderbilt", 0.1), "spinpol": True}
    mixer = level_parameters(split, base, "marzari-vanderbilt")["mixer"]
    # GPAW's multi mixer: the total density as the level's Pulay, the magnetisation density by a
    # second Pulay with the level's defaults and the configured weight
    assert mixer["name"] == "multi" and mixer["method"] == "dif"
    assert mixer["mixer_a"] == level_parameters(plain, base, "marzari-vanderbilt")["mixer"]
    assert mixer["mixer_b"] == {"name": "pulay", "beta": 0.05, "nmaxold": 5, "weight": 1.0}
    # a spin-paired calculation has no magnetisation to mix
    paired = level_parameters(split, {**base, "spinpol": False}, "marzari-vanderbilt")
    assert paired["mixer"]["name"] == "pulay"
    # the record names the split; a level without it describes itself as before (settings hashes
    # of existing configs unchanged)
    assert split.describe()["magnetisation"] == {"weight": 1.0}
    assert "magnetisation" not in plain.describe()
    with pytest.raises(ValueError, match=r"dft.scf_ladder\[0\].*'magnetisation'.*direct"):
        ladder_from_config([{**level, "mixer": "direct", "magnetisation": {"beta": 0.1}}])
    with pytest.raises(ValueError, match=r"dft.scf_ladder\[0\].*\['history'\]"):
        ladder_from_config([{**level, "magnetisation": {"history": 3}}])


def test_parameter_hash_is_canonical():
    a = {"x": 1, "y": [1.0, 2.0], "z": {"b": 2, "a": 1}}
    b = {"z": {"a": 1, "b": 2}, "y": (1.0, 2.0), "x": 1}
    assert parameters_sha256(a) == parameters_sha256(b)
    assert parameters_sha256(a) != parameters_sha256({**a, "x": 2})
    assert len(parameters_sha256(a)) == 64
    assert parameters_sha256({"v": np.arange(3)}) == parameters_sha256({"v": [0, 1, 2]})
