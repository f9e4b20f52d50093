"""Initial-moment starts compared at equal settings (magmom/dft/equal_settings.py): the rule, and
real GPAW labels of a 2-atom Fe slab whose starts finish on another ladder level or fail."""

from __future__ import annotations

import copy

import numpy as np
import pytest
from dft_helpers import cheap_config, slab_meta, tiny_slab

from magmom.data.assemble import assemble_dataset
from magmom.data.dataset import iter_labelled_slabs
from magmom.dft import equal_settings as eq
from magmom.dft.label import LabelSettings, label_slab
from magmom.dft.record import atoms_from_structure, check_record, write_record
from magmom.dft.scf_ladder import ladder_from_config

# level 0 cannot converge in one iteration, so every stage climbs to level 1, whose smearing
# (0.3 eV) moves the energy of ferromagnetic Fe2 by ~6 meV from level 0's 0.1 eV
CLIMB = [
    {"mixer": "pulay", "eigenstates": 1.0e-6, "smearing_width": 0.1, "maxiter": 1},
    {"mixer": "msr1", "eigenstates": 1.0e-6, "smearing_width": 0.3, "maxiter": 100},
]
BASE = {"occupations": {"name": "marzari-vanderbilt", "width": 0.1}}


def part(status="ok", energy=None, relaxed=True, eq_energy=None, reason=None):
    entry = None if eq_energy is None else {"energy": eq_energy, "reason": None}
    return {"status": status, "energy": energy, "relaxed": relaxed, "equal_settings": entry,
            "reason": reason}  # fmt: skip


def test_the_start_lowest_at_equal_settings_is_kept_not_the_lowest_at_its_own_level():
    # floor finished on a wider smearing that lowered its energy by more than the gap
    starts = {
        "floor": part(energy=-10.010, eq_energy=-9.995),
        "eos": part(energy=-10.0, eq_energy=-10.0),
    }
    got = eq.compare(starts)
    assert got["kept"] == "eos" and got["kept_by"] == "equal_settings_energy"
    assert got["comparison"] == "complete" and got["reasons"] == []
    assert got["energy_gap"] == pytest.approx(0.005)
    assert got["equal_settings_energies"] == {"floor": -9.995, "eos": -10.0}
    # a tie keeps the earlier start
    assert (
        eq.compare(
            {"floor": part(energy=-1, eq_energy=-1.0), "eos": part(energy=-2, eq_energy=-1.0)}
        )["kept"]
        == "floor"
    )


def test_a_failed_unrelaxed_or_uncompared_start_makes_the_comparison_partial():
    failed = eq.compare({"floor": part(energy=-1.0, eq_energy=-1.0),
                         "eos": part("failed", reason="LadderExhausted: lcao")})  # fmt: skip
    assert failed["comparison"] == "partial" and failed["kept"] == "floor"
    assert failed["reasons"] == ["start 'eos' failed: LadderExhausted: lcao"]
    unrelaxed = eq.compare(
        {
            "floor": part(energy=-1.0, relaxed=False, eq_energy=-1.0),
            "eos": part(energy=-0.5, eq_energy=-0.5),
        }
    )
    assert unrelaxed["comparison"] == "partial" and unrelaxed["kept"] == "floor"
    assert unrelaxed["reasons"] == ["start 'floor' did not finish relaxing"]
    missing = eq.compare({"floor": part(energy=-1.0), "eos": part(energy=-0.5, eq_energy=-0.5)})
    assert missing["comparison"] == "partial" and missing["kept"] == "eos"
    moved = {"floor": part(energy=-1.0, eq_energy=-1.0), "eos": part(energy=-0.5, eq_energy=-0.5)}
    moved["eos"]["equal_settings"]["max_abs_dm"] = 0.4  # the single point left the state
    got = eq.compare(moved)
    assert got["comparison"] == "partial" and got["reasons"] == [
        "start 'eos' left its state at the common level (max |Δm| 0.40 > 0.1 μB)"
    ]
    none = eq.compare(
        {"floor": part(energy=-1.0), "eos": part(energy=-0.5)}
    )  # no common-level energy at all
    assert none["kept"] == "floor" and none["kept_by"] == "own_energy"
    single = eq.compare({"floor": part(energy=-1.0, relaxed=False)})
    assert single == {"comparison": "single", "reasons": [], "kept": "floor",
                      "kept_by": "only_start", "equal_settings_energies": {"floor": None},
                      "energy_gap": None}  # fmt: skip
    assert eq.compare({"eos": part("failed", reason="x")})["kept"] is None


def test_a_level_that_changes_only_the_mixer_is_at_the_common_level():
    ladder = ladder_from_config(
        [
            CLIMB[0],
            {**CLIMB[0], "mixer": "msr1", "maxiter": 50},
            CLIMB[1],
            {**CLIMB[0], "density": 1e-5},
        ]
    )
    smearing = "marzari-vanderbilt"
    assert [eq.at_the_common_level(ladder, i, BASE, smearing) for i in range(4)] == [
        True, True, False, False,
    ]  # fmt: skip
    # a stage smeared at 0.3 eV already: the ladder's widths change nothing
    wide = {"occupations": {"name": smearing, "width": 0.3}}
    assert eq.at_the_common_level(ladder, 2, wide, smearing)
    # the single point's ladder: every mixer and maxiter, level 0's width and criteria
    levels = eq.equal_settings_ladder(ladder_from_config(CLIMB))
    assert [(lvl.mixer, lvl.maxiter, lvl.smearing_width, lvl.eigenstates) for lvl in levels] == [
        ("pulay", 1, 0.1, 1e-6), ("msr1", 100, 0.1, 1e-6),
    ]  # fmt: skip


def fe_config(ladder, policy="floor+eos") -> dict:
    cfg = cheap_config(ladder=copy.deepcopy(ladder))
    cfg["dft"]["initial_moments"] = policy
    cfg["dft"]["prerelax"].update(model="none")
    # dft.relax.steps 0: the plane-wave stage is a single point (one SCF and its forces). fmax
    # is out of reach on purpose: a single point has nothing to finish, so it must not make the
    # comparison partial (it did while `relaxed` was the fmax check: False here)
    cfg["dft"]["relax"].update(steps=0, fmax=1e-4)
    return cfg


@pytest.mark.slow  # 2 starts x (LCAO + plane waves) + 2 single points + 1 reference, Fe2 cell
def test_starts_that_climbed_the_ladder_are_compared_at_the_base_level(tmp_path, single_thread):
    from gpaw import GPAW

    from magmom.dft.gpaw_params import planewave_params
    from magmom.dft.scf_ladder import calculator_parameters, level_parameters
    from magmom.dft.settings import DftSettings

    atoms = tiny_slab(("Fe", "Fe"), magmom=0.0)  # eos: non-magnetic start; floor: 3 μB
    cfg = fe_config(CLIMB)
    rec = label_slab(
        atoms, slab_meta("fe-climb", "fe100"), "fe-climb", LabelSettings.of(cfg), tmp_path / "fe"
    )
    check_record(rec, "fe-climb")
    assert rec["status"] == "ok", rec.get("reason")
    im = rec["initial_moments"]
    assert im["common_level"] == {"level": 0, "smearing": "marzari-vanderbilt",
                                  "smearing_width": 0.1, "eigenstates": 1e-6}  # fmt: skip
    assert im["comparison"] == "complete" and im["comparison_reasons"] == []
    floor, eos = im["starts"]["floor"], im["starts"]["eos"]
    for start in (floor, eos):
        assert start["ladder_level"] == 1 and start["relaxed"] is None  # a single point
        assert start["stages"]["pw"]["ionic_steps"] == 0
        assert len(start["stages"]["pw"]["scf_iterations_per_step"]) == 1
        assert start["scf_iterations"]["failed_levels"] >= 2  # level 0 failed in both stages
        same = start["equal_settings"]
        assert same["source"] == "single_point" and same["status"] == "ok" and same["level"] == 0
        assert {a["gpaw"]["occupations"]["width"] for a in same["attempts"]} == {0.1}
        assert im["equal_settings_energies"][name_of(im, start)] == same["energy"]
    assert min(floor["magmoms"]) > 1.5 and max(np.abs(eos["magmoms"])) < 0.05
    assert im["kept"] == "floor" and im["kept_by"] == "equal_settings_energy"
    assert im["energy_gap"] == pytest.approx(
        eos["equal_settings"]["energy"] - floor["equal_settings"]["energy"]
    )
    assert rec["energy"] == floor["energy"]  # the label itself stays the kept start's own
    # the single point is level 0's calculation: an independent GPAW run at 0.1 eV from the
    # floor start's final state gives its energy; its own (0.3 eV) energy differs by ~6 meV
    final = atoms_from_structure(floor["structure"])
    final.set_initial_magnetic_moments(floor["magmoms"])
    base = planewave_params(DftSettings.from_config(cfg["dft"]).planewave, final, True)
    (level0,) = ladder_from_config([{**CLIMB[0], "maxiter": 100}])
    params = level_parameters(level0, base, "marzari-vanderbilt")
    final.calc = GPAW(**calculator_parameters(params), txt=str(tmp_path / "reference.txt"))
    reference = final.get_potential_energy()
    print(
        f"\nFe2, both starts at level 1 (0.3 eV): floor {floor['energy']:.5f} eV own, "
        f"{floor['equal_settings']['energy']:.5f} eV at level 0 (reference {reference:.5f}); "
        f"eos {eos['energy']:.5f} own, {eos['equal_settings']['energy']:.5f} at level 0; "
        f"single points {floor['equal_settings']['scf_iterations']} + "
        f"{eos['equal_settings']['scf_iterations']} SCF iterations"
    )
    assert floor["equal_settings"]["energy"] == pytest.approx(reference, abs=5e-4)
    assert abs(floor["energy"] - reference) > 3e-3


def name_of(im, start) -> str:
    return next(n for n, p in im["starts"].items() if p is start)


@pytest.mark.slow  # LCAO + plane waves of one start, a failed LCAO of the other, Fe2 cell
def test_a_failed_start_makes_the_comparison_partial_and_the_summary_counts_it(
    tmp_path, single_thread
):
    # Fe from 0.5 μB: the LCAO SCF (Pulay, 0.1 eV) does not converge in 60 iterations, from the
    # floor's 3 μB it converges in ~16; one ladder level, so the eos start fails
    atoms = tiny_slab(("Fe", "Fe"), magmom=0.5)
    cfg = fe_config([{**CLIMB[0], "maxiter": 60}])
    rec = label_slab(
        atoms, slab_meta("fe-partial", "fe100"), "fe-partial", LabelSettings.of(cfg), tmp_path / "w"
    )
    assert rec["status"] == "ok", rec.get("reason")
    im = rec["initial_moments"]
    assert im.get("comparison") == "partial" and im["kept"] == "floor"
    floor, eos = im["starts"]["floor"], im["starts"]["eos"]
    assert eos["status"] == "failed" and eos["equal_settings"] is None
    assert eos["ladder_level"] is None and eos["scf_iterations"]["failed_levels"] == 60
    assert floor["status"] == "ok" and floor["ladder_level"] == 0
    # finished on level 0: its own energy is the equal-settings one, no extra GPAW run
    assert floor["equal_settings"]["source"] == "own"
    assert floor["equal_settings"]["energy"] == floor["energy"]
    assert not list((tmp_path / "w" / "start-floor").glob("equal-settings*"))
    assert len(im["comparison_reasons"]) == 1
    assert im["comparison_reasons"][0].startswith("start 'eos' failed: LadderExhausted")
    # the dataset row and summary say so
    write_record(tmp_path / "dft" / "fe-partial.json", rec)
    names = {"db": "d.db", "failures": "d-failures.csv", "summary": "d-summary.json"}
    out = {key: tmp_path / "dataset" / name for key, name in names.items()}
    summary = assemble_dataset([tmp_path / "dft" / "fe-partial.json"], out, "d", progress=False)
    assert summary["start_comparison"] == {"partial": 1}
    assert summary["start_comparison_partial"] == ["fe-partial"]
    assert summary["relaxed"] == {"single_point": 1}
    (row,) = iter_labelled_slabs(out["db"])
    assert row.meta["start_comparison"] == "partial"
