"""The DFT job budget follows the config (magmom/dft/cost_model.py, issue 21 item 5): GPAW setups,
SCF runs and iterations from ``dft.lcao`` and ``dft.relax.steps``, the plane-wave factor from
``dft.planewave.ecut`` and ``recipe.vacuum``; the study's numbers as before. No GPAW runs."""

from __future__ import annotations

import copy
import json

import pytest
from dft_helpers import ROOT

from magmom.dft import cost_model
from magmom.dft.job_resources import DftJobResources
from magmom.training.cli import load_config

# the mini preset's random alloys and dilute slabs: 12 atoms (a bcc(110) one: 4x6 k-points)
MINI_12 = cost_model.SlabShape((2, 2, 3), ("Cu", "Ni"), "bcc", "binary")
ANCHOR_64 = cost_model.SlabShape((4, 4, 4), ("Ni",), "fcc", "pure")  # the fit's 64-atom slab


@pytest.fixture(scope="module")
def study():
    return load_config(ROOT / "config.yaml", [])


@pytest.fixture(scope="module")
def mini_single_point():
    """presets/mini.yaml with ``dft.relax.steps: 0`` (what branch wip-labels sets): no LCAO
    stage, the plane-wave stage a single point."""
    cfg = load_config(ROOT / "config.yaml", [ROOT / "presets" / "mini.yaml"])
    assert cfg["dft"]["lcao"] is None
    cfg["dft"]["relax"]["steps"] = 0
    return cfg


def with_dft(config, lcao_steps=..., relax_steps=None, study_lcao=None):
    cfg = copy.deepcopy(config)
    if lcao_steps is not ...:
        cfg["dft"]["lcao"] = None if lcao_steps is None else {**study_lcao, "steps": lcao_steps}
    if relax_steps is not None:
        cfg["dft"]["relax"]["steps"] = relax_steps
    return cfg


def test_the_anchor_slab_costs_as_before_and_random_alloys_their_irreducible_kpoints(study):
    """The fit's own slab (pure Ni fcc(111) 4x4x4, 3x3 k-points, 3 irreducible) keeps the numbers
    of the fixed budget (20 runs x 20 iterations, two setups; commit 5389435) bit for bit. A
    random fcc(111) alloy on the same grid keeps 5 irreducible points (time reversal only), so
    it costs 5/3 of that; a random bcc(110) alloy's cell takes a 2x3 grid (3 irreducible) and
    costs what the anchor does."""
    job = cost_model.JobSettings.from_config(study)
    assert job.budget == cost_model.Budget(setups=2, scf_runs=20, scf_iterations=400)
    assert job.plane_wave_factor((4, 4, 4)) == 1.0 == job.plane_wave_factor(MINI_12.size)
    assert cost_model.slab_job_size(ANCHOR_64, job, 32, 1) == {"runtime": 426, "mem_mb": 26940}
    assert cost_model.slab_job_size(ANCHOR_64, job, 32, 2) == {"runtime": 852, "mem_mb": 26940}
    assert cost_model.slab_core_hours(ANCHOR_64, job, 32) == 113.48918905734908
    assert cost_model.slab_core_hours(ANCHOR_64, job, 1, 3) == 202.4432266543327
    fcc = ANCHOR_64._replace(elements=("Cu", "Ni"), comp_type="binary")
    bcc = fcc._replace(lattice="bcc")
    assert cost_model.kpoint_grid((4, 4, 4), 3.5, "fcc") == (3, 3)
    assert cost_model.kpoint_grid((4, 4, 4), 3.5, "bcc") == (2, 3)
    assert cost_model.slab_core_hours(fcc, job, 32) == pytest.approx(113.48918905734908 * 5 / 3)
    assert cost_model.slab_core_hours(bcc, job, 32) == pytest.approx(113.48918905734908)
    assert cost_model.slab_job_size(fcc, job, 32, 1) == {"runtime": 710, "mem_mb": 32099}
    assert cost_model.slab_job_size(MINI_12, job, 1, 2) == {"runtime": 578, "mem_mb": 1211}


@pytest.mark.parametrize(
    ("row", "expected"),
    [
        # random alloys of the recipe: time reversal is all they keep
        (
            ("fe033-ni034-pt033-fcc-random-v0", "ternary", "fcc", "random", "Fe Ni Pt", "21 22 21"),
            "exact",
        ),
        (("cr050-v050-bcc-random-v0", "binary", "bcc", "random", "Cr V", "32 32"), "exact"),
        # a pure slab keeps more: at most the time-reversal count
        (("ni100-fcc-pure-v0", "pure", "fcc", "pure", "Ni", "64"), "bound"),
    ],
)
def test_the_irreducible_kpoints_are_gpaws(row, expected, study):
    """GPAW's own symmetry analysis (with the ``eos`` start's moments) on the recipe's 4x4x4
    slabs at the study's k-point density: a random alloy keeps exactly the time-reversal count
    the model prices it at; a pure slab at most that. The recipe's grid at its real lattice
    constant is the model's at :data:`cost_model.NN_DISTANCE` (or coarser: a longer cell)."""
    from magmom.dft.gpaw_params import planewave_params
    from magmom.dft.parallel import n_ibz_kpoints
    from magmom.dft.settings import DftSettings
    from magmom.recipe.lattice_table import reference_lattice_table
    from magmom.recipe.slabs import build_slab

    slab_id, comp_type, lattice, placement, elements, counts = row
    recipe = study["recipe"]
    table = reference_lattice_table(elements.split(), recipe["default_magmom"])
    manifest_row = {
        "slab_id": slab_id, "composition_id": slab_id.split("-" + lattice)[0], "type": comp_type,
        "lattice": lattice, "placement": placement, "variant": 0, "n_atoms": 64,
        "size": "4x4x4", "elements": elements, "counts": counts,
    }  # fmt: skip
    atoms = build_slab(manifest_row, recipe, table)
    kpts = planewave_params(DftSettings.from_config(study["dft"]).planewave, atoms, True)["kpts"]
    grid = tuple(kpts["size"][:2])
    model_grid = cost_model.kpoint_grid((4, 4, 4), 3.5, lattice)
    assert all(g <= m for g, m in zip(grid, model_grid, strict=True))
    n_ibz = n_ibz_kpoints(atoms, kpts, True)
    bound = cost_model.irreducible_kpoints(grid, "ternary")
    if expected == "exact":
        assert n_ibz == bound == cost_model.irreducible_kpoints(grid, comp_type)
    else:
        assert n_ibz <= bound and n_ibz < grid[0] * grid[1]


def test_a_single_point_without_lcao_is_budgeted_as_one_scf(mini_single_point):
    """The mini preset with relax.steps 0: one setup and ONE SCF of 60 iterations per start at
    250 eV and 6 Å of vacuum (plane-wave factor 0.40): 18 min per start for the 12-atom 2x2x3 slab
    on one process (2 x 0.40 x (41 s + 60 x 21.5 s)), 36 min for its two starts; the fixed budget
    asked 578 min."""
    job = cost_model.JobSettings.from_config(mini_single_point)
    assert job.budget == cost_model.Budget(setups=1, scf_runs=1, scf_iterations=60)
    assert job.plane_wave_factor(MINI_12.size) == pytest.approx(0.4031, abs=1e-4)
    assert cost_model.slab_job_size(MINI_12, job, 1, 1)["runtime"] == 18
    assert cost_model.slab_job_size(MINI_12, job, 1, 2) == {"runtime": 36, "mem_mb": 1211}
    assert cost_model.slab_job_size(MINI_12, job, 1, 3)["runtime"] == 54


def test_the_single_point_limit_covers_the_measured_ones_and_not_absurdly(mini_single_point):
    """Against the settings check's single points at the mini settings (250 eV, 3.5 Å⁻¹, 6 Å;
    CPU seconds of one serial run on the shared machine): every one fits the retry's limit (a
    Slurm retry asks attempt x runtime and resumes from the stage checkpoint), at least 90 % fit
    the first attempt's, and the first limit is at most 4x the slowest of each slab size. The one
    over its first limit, the senary Cr-Cu-Mn-Ni-Pd-V(110) (1,158 CPU s against 1,080; 74 SCF
    iterations), ran with five heavy processes on the 2 cores, 15.6 CPU s per iteration against
    2.8 for Cr(110) alone; the fixed budget asked 17,340 s for a 12-atom start."""
    results = json.loads((ROOT / "data/mini/settings-check/dft_settings.json").read_text())
    job = cost_model.JobSettings.from_config(mini_single_point)
    slowest: dict[tuple, float] = {}
    shares = []
    for slab_id, slab in results["slabs"].items():
        run = slab["settings"].get("pw250-k3.5-v6")
        if not run:
            continue
        assert run["status"] == "ok" and run["parameters"]["mode"]["ecut"] == 250.0, slab_id
        meta = slab["meta"]
        shape = cost_model.SlabShape(
            (2, 2, len(slab["symbols"]) // 4), (), meta["lattice"], meta["comp_type"]
        )
        limit = 60 * cost_model.slab_job_size(shape, job, 1, 1)["runtime"]
        assert run["cpu_time"] <= 2 * limit, slab_id
        shares.append(run["cpu_time"] / limit)
        slowest[shape.size] = max(slowest.get(shape.size, 0.0), run["cpu_time"] / limit)
    assert sum(x <= 1 for x in shares) >= 0.9 * len(shares), shares
    assert set(slowest) == {(2, 2, 3), (2, 2, 4)}
    assert all(share >= 0.25 for share in slowest.values()), slowest


def below(a: cost_model.Budget, b: cost_model.Budget) -> bool:
    """``a`` is no larger than ``b`` in every part, and smaller in one."""
    return all(x <= y for x, y in zip(a, b, strict=True)) and a != b


def test_lcao_with_relax_steps_0_sits_between(study, mini_single_point):
    """With an LCAO stage but a plane-wave single point: two setups, and SCF runs up to the
    LCAO's steps + 2. Bounded LCAO (0 or 5 steps): strictly between the single point and the
    study in budget and in job time. The study's LCAO section (30 steps) allows 32 runs, so the
    cap of 20 binds and the budget is the study's: the job then differs from the study's only by
    the plane-wave factor of the mini settings (233 min against 578 for two starts)."""
    lcao = study["dft"]["lcao"]
    sp = cost_model.JobSettings.from_config(mini_single_point)
    full = cost_model.JobSettings.from_config(study)
    minutes = {}
    for steps in (0, 5, 30):
        cfg = with_dft(mini_single_point, lcao_steps=steps, study_lcao=lcao)
        job = cost_model.JobSettings.from_config(cfg)
        minutes[steps] = cost_model.slab_job_size(MINI_12, job, 1, 2)["runtime"]
        if steps < 30:
            assert below(sp.budget, job.budget) and below(job.budget, full.budget), steps
    assert cost_model.budget(0, 0) == (2, 2, 120)  # two SCFs from scratch
    assert cost_model.budget(5, 0) == (2, 7, 140)
    assert cost_model.budget(30, 0) == full.budget
    mini_sp = cost_model.slab_job_size(MINI_12, sp, 1, 2)["runtime"]
    study_min = cost_model.slab_job_size(MINI_12, full, 1, 2)["runtime"]
    assert mini_sp < minutes[0] < minutes[5] < minutes[30] < study_min
    assert (mini_sp, minutes[0], minutes[5], minutes[30], study_min) == (36, 72, 83, 233, 578)


def test_the_budget_never_exceeds_what_the_config_allows():
    assert cost_model.budget(None, 0) == (1, 1, cost_model.SINGLE_POINT_SCF)
    assert cost_model.budget(None, 4) == (1, 5, 100)
    assert cost_model.budget(None, 150) == (1, 20, 400)
    assert cost_model.budget(2, 3) == (2, 7, 140)


def test_slab_sizes_and_their_cache_follow_the_dft_settings(study, tmp_path):
    """The rule's path (DftJobResources -> recipe_job_sizes): configs that differ only in
    ``dft.lcao`` and ``dft.relax.steps`` (a single point), then only in ``dft.planewave.ecut``,
    sizing the same recipe through one cache directory, get different runtimes (the cache key
    holds the budget's inputs)."""
    tiny = load_config(ROOT / "config.yaml", [ROOT / "presets" / "tiny.yaml"])
    base = with_dft(tiny)
    base["labeller"] = "gpaw"
    base["dft"]["resources"] = {"tasks": 1}
    single = with_dft(base, lcao_steps=None, relax_steps=0)
    cheap = with_dft(single)
    cheap["dft"]["planewave"]["ecut"] = 250.0
    runtimes = []
    for cfg in (base, single, cheap):
        sizes = DftJobResources(cfg, tmp_path).gpaw_slab_sizes()
        runtimes.append({k: v["runtime"] for k, v in sizes.items()})
    assert len(list(tmp_path.glob("job-sizes-*.json"))) == 3
    relaxed, point, cheaper = runtimes
    assert relaxed.keys() == point.keys() == cheaper.keys() and relaxed
    for slab_id in relaxed:
        assert relaxed[slab_id] > point[slab_id] >= cheaper[slab_id], slab_id
    assert any(point[s] > cheaper[s] for s in point)
