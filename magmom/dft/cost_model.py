"""Runtime and memory of one DFT job from the slab's size: what rule ``dft_slab`` asks Slurm for.

Plane-wave GPAW on an :math:`N`-atom slab with :math:`n_k` Monkhorst–Pack points (in-plane grid
:math:`n_1 \\times n_2`, spin-polarised) on :math:`P` processes:

.. math::
    t_\\mathrm{iter} = c_\\mathrm{iter}\\, N^{p}\\, n_k \\,/\\, (P\\, \\eta_P), \\qquad
    t_\\mathrm{setup} = c_\\mathrm{setup}\\, N^{p_s}\\, n_k \\,/\\, (P\\, \\eta_P)

    t_\\mathrm{job} = s \\, n_\\mathrm{starts}\\, f_\\mathrm{PW} \\,\\big(n_\\mathrm{setups}\\,
        t_\\mathrm{setup} + n_\\mathrm{iter}\\, t_\\mathrm{iter}\\big)

    M = M_0 P + s_M\\, m_\\mathrm{wf}\\, N^{q}\\, n_k

with the parallel efficiency :math:`\\eta_P = P^{-\\alpha}`. The constants (:data:`FIT`) are
fitted on the 16-atom 2×2×4 slab measured by ``benchmarks/dft_cost.py`` here (one process) and
on the issue's serial 64-atom 4×4×4 timing (setup ~18 min, ~10 min per SCF iteration, 3.1 GB of
wave functions); :math:`\\alpha` is an assumption (0.90 at 2, 0.59 at 32 processes): measured
here at 2 processes the efficiency is 0.98 (k-point parallelism, 16-atom slab), but at 32
processes GPAW runs out of k-points and spins and splits domains and bands, which scale worse.
Checked against the 64-atom slab on 2 processes here (305 s per iteration, 604 s of setup,
measured; 332 s and 933 s predicted): the model errs high, as a job limit should.
README "DFT cost" lists them.

**The budget of one start** (:func:`budget`, from the DFT settings: :func:`settings_budget`;
:data:`BUDGET` holds its constants, the safety factor :math:`s` among them):

* :math:`n_\\mathrm{setups} = 1 + [\\text{LCAO stage}]`: one GPAW setup per stage that runs
  (``dft.lcao: null`` runs the plane-wave stage alone);
* SCF runs (ionic steps: one SCF and its forces each) :math:`n_\\mathrm{runs} =
  \\min(20, n_\\mathrm{allowed})` with :math:`n_\\mathrm{allowed} = (\\texttt{lcao.steps} + 1)
  + (\\texttt{relax.steps} + 1)` (no LCAO term without the stage): at most what the config
  allows, at most the 20 expected of the study's relaxation (LCAO warm-up and plane waves
  together, LCAO counted at plane-wave cost);
* SCF iterations :math:`n_\\mathrm{iter} = \\max(20\\, n_\\mathrm{runs},\\;
  n_\\mathrm{setups}\\, n_\\mathrm{SP})`: 20 per SCF run on average over a relaxation (later
  runs start from the previous density), and never less than one SCF from scratch per stage,
  :math:`n_\\mathrm{SP}` = :data:`SINGLE_POINT_SCF` iterations. A single point (``relax.steps:
  0``, no LCAO) is thus ONE SCF of :math:`n_\\mathrm{SP}` iterations; the study (LCAO 30 steps,
  relaxation 150) keeps 20 × 20 = 400, as do configs whose LCAO stage alone allows 19 or more
  SCF runs (the cap binds: the model cannot tell how the 20 split between the stages).

**The plane-wave factor** :math:`f_\\mathrm{PW} =
(E_\\mathrm{cut}/E^\\mathrm{fit}_\\mathrm{cut})^{3/2} \\, L_z / L_z^\\mathrm{fit}`
(:func:`plane_wave_factor`; exactly 1 at the study's 350 eV and 10 Å of vacuum): the plane-wave
count relative to the fit's settings, on setup and iterations. It holds on the settings check's 12
pairs of single points (CPU seconds per SCF iteration at 250 eV and 6 Å over 350 eV: measured /
predicted 1.00, 0.85–1.17), so the job sizes use it: without it a job at the mini preset's 250 eV
and 6 Å (factor 0.40) asks 2.5× the time on top of the safety factor. At DAG time the slab's
thickness is :math:`(n_z - 1)\\, d \\sqrt{2/3}` (the interlayer spacing of fcc(111), bcc(110) and
ideal hcp(0001) at the nearest-neighbour distance :math:`d` = :data:`NN_DISTANCE`; below 10 Å of
vacuum a thicker slab has a larger factor: 2–3 % larger for 3–4 layers at :math:`d` = 3.2 Å, which
the k-point estimate more than covers). Memory is not scaled (no measurement at other cutoffs; an
out-of-memory kill costs one retry).

A slab labelled from :math:`n_\\mathrm{starts}` initial-moment starts (``dft.initial_moments``)
runs its stages once per start, one start after the other: runtime and core-hours scale with
it, memory does not. :func:`magmom.dft.initial_moments.n_runs` counts the starts from the
slab's elements, with every table moment below its floor (the table is not known before the EOS
stage; an upper bound). Snakemake multiplies runtime and memory by the attempt on retries, and
the stage checkpoints make a retry resume.

**The k-points** :math:`n_k` of the formulas count Monkhorst–Pack points *at the anchor's
irreducible share* (the fit's pure-Ni fcc(111) slabs keep 12 of 6×6 and 3 of 3×3 points,
:data:`ANCHOR_IBZ_FRACTION`): the time of an SCF iteration scales with the irreducible points
:math:`n_\\mathrm{IBZ}`, so a slab is priced at :math:`n_k = 3\\, n_\\mathrm{IBZ}`
(:func:`fit_kpoints`). At DAG time the lattice constants are not known yet (the EOS stage computes
them), so the grid (:func:`kpoint_grid`) is GPAW's for the recipe's cell of the slab's lattice and
repetitions at a nearest-neighbour distance of :data:`NN_DISTANCE` (the short end of the study's
metals: more k-points, a safe estimate), and :math:`n_\\mathrm{IBZ}` (:func:`irreducible_kpoints`)
is the time-reversal count :math:`\\lceil n_1 n_2 / 2 \\rceil` (:math:`k` and :math:`-k` paired, Γ
alone when both :math:`n_i` are odd): the only symmetry a spin-polarised random alloy keeps, and an
upper bound for every slab. Only pure slabs (:data:`SYMMETRIC_TYPES`) keep the anchor's share.
Measured with GPAW's own symmetry analysis on the full recipe's 4×4×4 slabs (unrelaxed, ``eos`` and
``floor`` starts, 3 per composition type and lattice; ``tests/test_dft_cost_model.py`` checks a
random alloy and a pure slab): the random fcc(111) alloys keep 5 of their 3×3 points (the pure-Ni
anchor 3, so they cost 5/3 of what the fit's share gave them), the bcc(110) ones 3 of 2×3, the
hcp(0001) ones 3 of 2×3 or 5 of 3×3 (every one the time-reversal count); the dilute slabs 2–5 and
the 16-atom prototypes 5–12 (time-reversal counts 10–18), at or below it; the pure slabs 2–4, the
anchor's share or, on the recipe's orthogonal fcc(111) cell, 4 of 3×3
(``benchmarks/kpoint_symmetry.py``). Until this count the model gave every slab the anchor's
share and priced the fcc and hcp random alloys 40 % low.
"""

from __future__ import annotations

import functools
import json
import math
import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:
    from magmom.dft.settings import DftSettings

NN_DISTANCE = 2.5  # Å

FIT = {
    # one process, study settings, spin-polarised: t_iter = c_iter * N**p * n_k (s), the setup
    # (to the end of the first SCF iteration) c_setup * N**p_setup * n_k, wave functions
    # m_wf * N**q * n_k (MB). Points: 16-atom 2x2x4 Ni measured by benchmarks/dft_cost.py here
    # (48.3 s CPU per iteration, 98 s to the end of the first; idle machine), 64-atom 4x4x4 from
    # the serial run (~10 min per iteration, ~28 min to the end of the first; 3.1 GB wave
    # functions, 0.48 GB at 16 atoms)
    "c_iter": 5.434e-04,
    "p": 2.817,
    "c_setup": 5.861e-04,
    "p_setup": 3.047,
    "m_wf_mb": 2.0e-2,
    "q": 2.345,
    "alpha": 0.15,  # eta_P = P**-alpha; assumed for 32 processes (measured at 2: 0.98, k-points)
}
BUDGET = {"ionic_steps": 20, "scf_per_step": 20, "safety": 2.0}
"""The budget's constants (module docstring): SCF runs expected of the study's relaxation (LCAO
and plane waves together), SCF iterations per run on average over a relaxation, the job limit's
safety factor."""
SINGLE_POINT_SCF = 60
"""Expected SCF iterations of one SCF from scratch (a single point, a stage's first SCF): the
settings check's 25 measured single points (``data/mini/settings-check/dft_settings.json``, 12-16
atoms, level 0 of the ladder) took 33-110 iterations at 250 eV (mean 57, median 54) and 35-145
at 350 eV (mean 62); the mini ladder's level 0 stops at 150. With the safety factor a job asks
for 120 iterations per start at the model's seconds per iteration, which errs high (k-points)."""
FIT_ECUT = 350.0  # eV: the plane-wave cutoff of the fit (the study's)
FIT_VACUUM = 10.0  # Å per side: the vacuum of the fit's slabs (the study's)
ANCHOR_IBZ_FRACTION = 12 / 36
"""Irreducible share of the Monkhorst–Pack points on the fit's anchor slabs (pure Ni fcc(111):
12 of 6x6x1, 3 of 3x3x1): :data:`FIT` counts Monkhorst–Pack points at this share
(:func:`fit_kpoints`)."""
MEM_PER_PROCESS_MB = 600  # Python, numpy, GPAW of one rank (~0.45 GB RSS before any array)
MEM_SAFETY = 2.5  # wave functions x this: work arrays, mixer history, LCAO matrices
MIN_RUNTIME_MIN = 10
SURROGATE = {"runtime": 30, "mem_mb": 4000}  # the CHGNet labeller: seconds per slab


SYMMETRIC_TYPES = frozenset({"pure"})
"""Composition types (the manifest's ``type``) whose slabs keep the anchor's irreducible share
of the Monkhorst–Pack points; every other slab is priced at the time-reversal count."""
_IDEAL_C_OVER_A = math.sqrt(8 / 3)
_A_OVER_NN = {"fcc": math.sqrt(2), "bcc": 2 / math.sqrt(3), "hcp": 1.0}


@functools.cache
def kpoint_grid(size: tuple[int, int, int], kpt_density: float, lattice: str) -> tuple[int, int]:
    """GPAW's in-plane Monkhorst–Pack grid (:func:`magmom.dft.kpoints.monkhorst_pack_size`) of
    the recipe's ``nx x ny`` cell of ``lattice`` (:func:`magmom.recipe.slabs.base_slab`,
    orthogonal when ``ny`` is even, as the recipe tries first) at the nearest-neighbour
    distance :data:`NN_DISTANCE` (module docstring)."""
    from magmom.dft.kpoints import monkhorst_pack_size
    from magmom.recipe.slabs import base_slab

    if lattice not in _A_OVER_NN:
        raise ValueError(f"unknown lattice {lattice!r}; allowed: {', '.join(_A_OVER_NN)}")
    a = NN_DISTANCE * _A_OVER_NN[lattice]
    coa = _IDEAL_C_OVER_A if lattice == "hcp" else None
    cell = base_slab(lattice, (size[0], size[1], 1), a, coa, 5.0, size[1] % 2 == 0)
    cell.pbc = (True, True, False)
    n1, n2, _ = monkhorst_pack_size(cell, kpt_density, 1)
    return n1, n2


def irreducible_kpoints(grid: tuple[int, int], comp_type: str) -> float:
    """Expected irreducible k-points of a slab of composition type ``comp_type`` on the
    in-plane Monkhorst–Pack ``grid``: the anchor's share for :data:`SYMMETRIC_TYPES`, else the
    time-reversal count (module docstring)."""
    n1, n2 = grid
    if comp_type in SYMMETRIC_TYPES:
        return n1 * n2 * ANCHOR_IBZ_FRACTION
    return float((n1 * n2 + (n1 % 2) * (n2 % 2)) // 2)


def fit_kpoints(grid: tuple[int, int], comp_type: str) -> float:
    """The :math:`n_k` of the fit's formulas for a slab of composition type ``comp_type`` on
    the in-plane ``grid``: :func:`irreducible_kpoints` over :data:`ANCHOR_IBZ_FRACTION`
    (Monkhorst–Pack points at the anchor's irreducible share; module docstring), so a pure
    slab's is its number of grid points."""
    if comp_type in SYMMETRIC_TYPES:
        return float(grid[0] * grid[1])
    return irreducible_kpoints(grid, comp_type) / ANCHOR_IBZ_FRACTION


def efficiency(processes: int) -> float:
    return processes ** -FIT["alpha"]


def seconds_per_iteration(n_atoms: int, n_k: float, processes: int = 1) -> float:
    return FIT["c_iter"] * n_atoms ** FIT["p"] * n_k / (processes * efficiency(processes))


def setup_seconds(n_atoms: int, n_k: float, processes: int = 1) -> float:
    return FIT["c_setup"] * n_atoms ** FIT["p_setup"] * n_k / (processes * efficiency(processes))


class Budget(NamedTuple):
    """What one start is budgeted (module docstring): GPAW setups, SCF runs (ionic steps of
    both stages) and SCF iterations at plane-wave cost."""

    setups: int
    scf_runs: int
    scf_iterations: int


def budget(lcao_steps: int | None, relax_steps: int) -> Budget:
    """The budget of one start whose LCAO stage allows ``lcao_steps`` ionic steps (None: no
    LCAO stage) and whose plane-wave stage ``relax_steps`` (0: a single point); module
    docstring. The one home of the rule: :func:`settings_budget` and the records' budgets in
    :mod:`magmom.dft.cost_check` call it."""
    setups = 1 + (lcao_steps is not None)
    allowed = (0 if lcao_steps is None else int(lcao_steps) + 1) + int(relax_steps) + 1
    runs = min(BUDGET["ionic_steps"], allowed)
    iterations = max(runs * BUDGET["scf_per_step"], setups * SINGLE_POINT_SCF)
    return Budget(setups, runs, iterations)


def settings_budget(settings: DftSettings) -> Budget:
    """:func:`budget` of the DFT settings (``dft.lcao.steps`` or null, ``dft.relax.steps``)."""
    lcao = settings.lcao
    return budget(None if lcao is None else lcao.steps, settings.relax.steps)


def plane_wave_factor(ecut: float, lz: float, thickness: float) -> float:
    """:math:`f_\\mathrm{PW}` (module docstring) of a cell ``lz`` Å high holding a slab
    ``thickness`` Å thick, at ``ecut`` eV."""
    lz_fit = thickness + 2 * FIT_VACUUM
    return (ecut / FIT_ECUT) ** 1.5 * lz / lz_fit


def slab_thickness(layers: int) -> float:
    """Å from the bottom to the top layer of a slab of ``layers`` close-packed layers at the
    nearest-neighbour distance :data:`NN_DISTANCE` (module docstring)."""
    return (layers - 1) * NN_DISTANCE * math.sqrt(2 / 3)


class JobSettings(NamedTuple):
    """What a slab's job costs besides its shape and starts: the k-point density (Å⁻¹), the
    plane-wave cutoff (eV), the vacuum per side (Å) and the :class:`Budget` of one start."""

    kpt_density: float
    ecut: float
    vacuum: float
    budget: Budget

    @classmethod
    def from_settings(cls, settings: DftSettings, vacuum: float) -> JobSettings:
        """The job settings of the DFT settings and the recipe's ``vacuum``."""
        pw = settings.planewave
        return cls(float(pw.kpt_density), float(pw.ecut), float(vacuum), settings_budget(settings))

    @classmethod
    def from_config(cls, config: Mapping) -> JobSettings:
        """The job settings of a whole config (``dft`` and ``recipe.vacuum``)."""
        from magmom.dft.settings import DftSettings

        return cls.from_settings(DftSettings.from_config(config["dft"]), config["recipe"]["vacuum"])

    def plane_wave_factor(self, size: tuple[int, int, int]) -> float:
        """:func:`plane_wave_factor` of an ``nx x ny x nz`` slab at these settings."""
        thickness = slab_thickness(size[2])
        return plane_wave_factor(self.ecut, thickness + 2 * self.vacuum, thickness)

    def key(self) -> list:
        """Plain data for cache keys."""
        return [self.kpt_density, self.ecut, self.vacuum, list(self.budget)]


def start_seconds(
    n_atoms: int,
    n_k: float,
    processes: int,
    budget: Budget,
    scf_iterations: float | None = None,
    kpoint_factor: float = 1.0,
    pw_factor: float = 1.0,
) -> float:
    """Expected wall-clock seconds of one start of ``budget`` (its setups, its SCF iterations).
    ``scf_iterations`` replaces the budget's and ``kpoint_factor`` scales both terms (the
    refits of :mod:`magmom.dft.cost_check`: irreducible k-points against the anchor's);
    ``pw_factor``: :func:`plane_wave_factor`."""
    n_scf = budget.scf_iterations if scf_iterations is None else scf_iterations
    t = budget.setups * setup_seconds(n_atoms, n_k, processes)
    t += n_scf * seconds_per_iteration(n_atoms, n_k, processes)
    return kpoint_factor * pw_factor * t


def job_minutes(
    n_atoms: int,
    n_k: float,
    processes: int,
    budget: Budget,
    starts: int = 1,
    pw_factor: float = 1.0,
) -> int:
    """Wall-clock minutes asked for one slab of ``starts`` starts (first attempt)."""
    t = starts * start_seconds(n_atoms, n_k, processes, budget, pw_factor=pw_factor)
    return max(MIN_RUNTIME_MIN, math.ceil(BUDGET["safety"] * t / 60))


def job_mem_mb(n_atoms: int, n_k: float, processes: int) -> int:
    """Memory (MB, the whole job) asked for one slab (first attempt)."""
    wf = FIT["m_wf_mb"] * n_atoms ** FIT["q"] * n_k
    return int(math.ceil(MEM_PER_PROCESS_MB * processes + MEM_SAFETY * wf))


def core_hours(
    n_atoms: int,
    n_k: float,
    processes: int,
    budget: Budget,
    starts: int = 1,
    scf_iterations: float | None = None,
    kpoint_factor: float = 1.0,
    pw_factor: float = 1.0,
) -> float:
    """Expected (not budgeted: no safety factor) core-hours of one slab of ``starts`` starts on
    ``processes`` (``budget``, ``scf_iterations``, ``kpoint_factor``, ``pw_factor``:
    :func:`start_seconds`)."""
    t = start_seconds(n_atoms, n_k, processes, budget, scf_iterations, kpoint_factor, pw_factor)
    return starts * t * processes / 3600


def _slab_atoms_and_k(shape: SlabShape, job: JobSettings) -> tuple[int, float]:
    """Atoms and the fit's :math:`n_k` (:func:`fit_kpoints`) of a slab of ``shape``."""
    grid = kpoint_grid(shape.size, job.kpt_density, shape.lattice)
    n_atoms = shape.size[0] * shape.size[1] * shape.size[2]
    return n_atoms, fit_kpoints(grid, shape.comp_type)


def slab_job_size(shape: SlabShape, job: JobSettings, processes: int, starts: int = 1) -> dict:
    """``{"runtime", "mem_mb"}`` of one GPAW slab job of ``shape`` at ``job``'s settings and
    ``starts`` initial-moment starts (:func:`magmom.dft.initial_moments.n_runs`)."""
    n_atoms, n_k = _slab_atoms_and_k(shape, job)
    return {
        "runtime": job_minutes(
            n_atoms, n_k, processes, job.budget, starts, job.plane_wave_factor(shape.size)
        ),
        "mem_mb": job_mem_mb(n_atoms, n_k, processes),
    }


def slab_core_hours(
    shape: SlabShape, job: JobSettings, processes: int, starts: int = 1, **refit
) -> float:
    """:func:`core_hours` of one slab of ``shape`` at ``job``'s settings (``refit``: its
    ``scf_iterations``, ``kpoint_factor``)."""
    n_atoms, n_k = _slab_atoms_and_k(shape, job)
    pw_factor = job.plane_wave_factor(shape.size)
    return core_hours(n_atoms, n_k, processes, job.budget, starts, pw_factor=pw_factor, **refit)


# ---- slab shapes at DAG time ------------------------------------------------------------------
class SlabShape(NamedTuple):
    """What the cost of a slab depends on before its DFT: repetitions, species, lattice and
    composition type (the manifest's ``size``, ``elements``, ``lattice``, ``type``)."""

    size: tuple[int, int, int]
    elements: tuple[str, ...]
    lattice: str
    comp_type: str


def slab_shapes(recipe: Mapping, cache_dir: str | os.PathLike) -> dict[str, SlabShape]:
    """``{slab_id: SlabShape}`` of the recipe, cached beside the slab index (same key)."""
    from magmom.io import write_text
    from magmom.recipe.index import cache_key

    def shapes(rows: Mapping) -> dict[str, SlabShape]:
        return {
            k: SlabShape(tuple(size), tuple(elements), lattice, comp_type)
            for k, (size, elements, lattice, comp_type) in rows.items()
        }

    path = Path(cache_dir) / f"slab-shapes-v2-{cache_key(recipe)}.json"
    try:
        return shapes(json.loads(path.read_text()))
    except (FileNotFoundError, json.JSONDecodeError, TypeError, ValueError):
        pass
    from magmom.recipe.manifest import parse_size, recipe_slabs

    rows = {
        s.slab_id: (parse_size(s.size), s.elements.split(), s.lattice, s.comp_type)
        for s in recipe_slabs(recipe)
    }
    write_text(path, json.dumps(rows))
    return shapes(rows)


# ---- every slab's size at once, cached (a Slurm job's parse needs them all to pack groups) -----
def recipe_job_sizes(
    recipe: Mapping,
    job: JobSettings,
    processes: int,
    policy: str,
    cache_dir: str | os.PathLike,
) -> dict[str, dict]:
    """``{slab_id: {"runtime", "mem_mb"}}`` of every slab of the recipe labelled by GPAW at
    ``job``'s settings on ``processes`` under initial-moment ``policy``: :func:`slab_job_size`
    with :func:`magmom.dft.initial_moments.n_runs` computed once per set of elements. Cached
    beside the slab shapes, keyed by the recipe, the job settings (budget included), the
    processes, the policy and the source of this module and of ``initial_moments`` (a change to
    either model recomputes them)."""
    import hashlib

    from magmom.dft import initial_moments
    from magmom.io import write_text
    from magmom.recipe.index import cache_key

    h = hashlib.sha256(json.dumps([job.key(), processes, policy]).encode())
    for module in (__file__, initial_moments.__file__):
        h.update(Path(module).read_bytes())
    path = Path(cache_dir) / f"job-sizes-{cache_key(recipe)}-{h.hexdigest()[:16]}.json"
    try:
        return json.loads(path.read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        pass
    starts: dict[tuple[str, ...], int] = {}
    sizes = {}
    for slab_id, shape in slab_shapes(recipe, cache_dir).items():
        if shape.elements not in starts:
            starts[shape.elements] = initial_moments.n_runs(shape.elements, policy)
        sizes[slab_id] = slab_job_size(shape, job, processes, starts[shape.elements])
    write_text(path, json.dumps(sizes))
    return sizes
