"""Runtime and memory of one DFT job from the slab's size: what rule ``dft_slab`` asks Slurm for.

Plane-wave GPAW on an :math:`N`-atom slab with :math:`n_k` Monkhorst–Pack points (in-plane grid
:math:`n_1 \\times n_2`, spin-polarised) on :math:`P` processes:

.. math::
    t_\\mathrm{iter} = c_\\mathrm{iter}\\, N^{p}\\, n_k \\,/\\, (P\\, \\eta_P), \\qquad
    t_\\mathrm{setup} = c_\\mathrm{setup}\\, N^{p_s}\\, n_k \\,/\\, (P\\, \\eta_P)

    t_\\mathrm{job} = s \\, n_\\mathrm{starts} \\,\\big(2\\, t_\\mathrm{setup}
        + n_\\mathrm{steps}\\, n_\\mathrm{SCF}\\, t_\\mathrm{iter}\\big)

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
Budget assumptions: :math:`n_\\mathrm{steps}` ionic steps (LCAO warm-up and
plane-wave relaxation together, counted at plane-wave cost) of :math:`n_\\mathrm{SCF}` iterations,
a safety factor :math:`s`; two setups (the LCAO and the plane-wave stage). A slab labelled from
:math:`n_\\mathrm{starts}` initial-moment starts (``dft.initial_moments``) runs both stages once
per start, one start after the other: runtime and core-hours scale with it, memory does not.
:func:`magmom.dft.initial_moments.n_runs` counts the starts from the slab's elements, with every
table moment below its floor (the table is not known before the EOS stage; an upper bound).
Snakemake multiplies runtime and memory by the attempt on retries, and the stage checkpoints
make a retry resume.

At DAG time the lattice constants are not known yet (the EOS stage computes them), so
:math:`n_k` comes from the slab's repetitions with a nearest-neighbour distance of
:data:`NN_DISTANCE` (the short end of the study's metals: more k-points, a safe estimate):
in-plane length :math:`L = n_x d`, :math:`n_1 = \\lceil 2\\pi \\rho_k \\cdot 2/(\\sqrt3 L) \\rceil`.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping
from pathlib import Path
from typing import NamedTuple

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
FIT_ECUT = 350.0  # eV: the plane-wave cutoff of the fit (the study's)
FIT_VACUUM = 10.0  # Å per side: the vacuum of the fit's slabs (the study's)
ANCHOR_IBZ_FRACTION = 12 / 36
"""Irreducible share of the Monkhorst–Pack points on the fit's anchor slabs (pure Ni fcc(111):
12 of 6x6x1, 3 of 3x3x1): ``n_k`` counts every MP point, so this share is built into :data:`FIT`.
A slab of lower symmetry (a random alloy) keeps more irreducible points."""
MEM_PER_PROCESS_MB = 600  # Python, numpy, GPAW of one rank (~0.45 GB RSS before any array)
MEM_SAFETY = 2.5  # wave functions x this: work arrays, mixer history, LCAO matrices
MIN_RUNTIME_MIN = 10
SURROGATE = {"runtime": 30, "mem_mb": 4000}  # the CHGNet labeller: seconds per slab


def kpoint_grid(size: tuple[int, int, int], kpt_density: float) -> tuple[int, int]:
    """In-plane MP grid of an ``nx x ny x nz`` slab at ``kpt_density`` (module docstring)."""
    out = []
    for n in size[:2]:
        length = n * NN_DISTANCE
        out.append(max(1, math.ceil(2 * math.pi * kpt_density * 2 / (math.sqrt(3) * length))))
    return out[0], out[1]


def efficiency(processes: int) -> float:
    return processes ** -FIT["alpha"]


def seconds_per_iteration(n_atoms: int, n_k: int, processes: int = 1) -> float:
    return FIT["c_iter"] * n_atoms ** FIT["p"] * n_k / (processes * efficiency(processes))


def setup_seconds(n_atoms: int, n_k: int, processes: int = 1) -> float:
    return FIT["c_setup"] * n_atoms ** FIT["p_setup"] * n_k / (processes * efficiency(processes))


def budget_scf_iterations() -> int:
    """SCF iterations one start is budgeted (:data:`BUDGET`: ionic steps x iterations per step,
    at plane-wave cost)."""
    return BUDGET["ionic_steps"] * BUDGET["scf_per_step"]


def start_seconds(
    n_atoms: int,
    n_k: int,
    processes: int,
    scf_iterations: float | None = None,
    kpoint_factor: float = 1.0,
) -> float:
    """Expected wall-clock seconds of one start (two setups, the budgeted SCF iterations).
    ``scf_iterations`` replaces the budget's and ``kpoint_factor`` scales both terms (the
    refits of :mod:`magmom.dft.cost_check`: irreducible k-points against the anchor's)."""
    n_scf = budget_scf_iterations() if scf_iterations is None else scf_iterations
    t = 2 * setup_seconds(n_atoms, n_k, processes)
    return kpoint_factor * (t + n_scf * seconds_per_iteration(n_atoms, n_k, processes))


def job_minutes(n_atoms: int, n_k: int, processes: int, starts: int = 1) -> int:
    """Wall-clock minutes asked for one slab of ``starts`` starts (first attempt)."""
    t = starts * start_seconds(n_atoms, n_k, processes)
    return max(MIN_RUNTIME_MIN, math.ceil(BUDGET["safety"] * t / 60))


def job_mem_mb(n_atoms: int, n_k: int, processes: int) -> int:
    """Memory (MB, the whole job) asked for one slab (first attempt)."""
    wf = FIT["m_wf_mb"] * n_atoms ** FIT["q"] * n_k
    return int(math.ceil(MEM_PER_PROCESS_MB * processes + MEM_SAFETY * wf))


def core_hours(
    n_atoms: int,
    n_k: int,
    processes: int,
    starts: int = 1,
    scf_iterations: float | None = None,
    kpoint_factor: float = 1.0,
) -> float:
    """Expected (not budgeted: no safety factor) core-hours of one slab of ``starts`` starts on
    ``processes`` (``scf_iterations``, ``kpoint_factor``: :func:`start_seconds`)."""
    t = start_seconds(n_atoms, n_k, processes, scf_iterations, kpoint_factor)
    return starts * t * processes / 3600


def slab_job_size(
    size: tuple[int, int, int], kpt_density: float, processes: int, starts: int = 1
) -> dict:
    """``{"runtime", "mem_mb"}`` of one GPAW slab job of repetitions ``size`` and ``starts``
    initial-moment starts (:func:`magmom.dft.initial_moments.n_runs`)."""
    n1, n2 = kpoint_grid(size, kpt_density)
    n_atoms = size[0] * size[1] * size[2]
    return {
        "runtime": job_minutes(n_atoms, n1 * n2, processes, starts),
        "mem_mb": job_mem_mb(n_atoms, n1 * n2, processes),
    }


# ---- slab shapes at DAG time ------------------------------------------------------------------
class SlabShape(NamedTuple):
    """What the cost of a slab depends on before its DFT: repetitions and species."""

    size: tuple[int, int, int]
    elements: tuple[str, ...]


def slab_shapes(recipe: Mapping, cache_dir: str | os.PathLike) -> dict[str, SlabShape]:
    """``{slab_id: SlabShape}`` of the recipe, cached beside the slab index (same key)."""
    from magmom.io import write_text
    from magmom.recipe.index import cache_key

    def shapes(rows: Mapping) -> dict[str, SlabShape]:
        return {k: SlabShape(tuple(size), tuple(elements)) for k, (size, elements) in rows.items()}

    path = Path(cache_dir) / f"slab-shapes-{cache_key(recipe)}.json"
    try:
        return shapes(json.loads(path.read_text()))
    except (FileNotFoundError, json.JSONDecodeError, TypeError, ValueError):
        pass
    from magmom.recipe.manifest import parse_size, recipe_slabs

    rows = {s.slab_id: (parse_size(s.size), s.elements.split()) for s in recipe_slabs(recipe)}
    write_text(path, json.dumps(rows))
    return shapes(rows)


# ---- every slab's size at once, cached (a Slurm job's parse needs them all to pack groups) -----
def recipe_job_sizes(
    recipe: Mapping,
    kpt_density: float,
    processes: int,
    policy: str,
    cache_dir: str | os.PathLike,
) -> dict[str, dict]:
    """``{slab_id: {"runtime", "mem_mb"}}`` of every slab of the recipe labelled by GPAW on
    ``processes`` under initial-moment ``policy``: :func:`slab_job_size` with
    :func:`magmom.dft.initial_moments.n_runs` computed once per set of elements. Cached beside
    the slab shapes, keyed by the recipe, the settings and the source of this module and of
    ``initial_moments`` (a change to either model recomputes them)."""
    import hashlib

    from magmom.dft import initial_moments
    from magmom.io import write_text
    from magmom.recipe.index import cache_key

    h = hashlib.sha256(json.dumps([kpt_density, processes, policy]).encode())
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
        sizes[slab_id] = slab_job_size(shape.size, kpt_density, processes, starts[shape.elements])
    write_text(path, json.dumps(sizes))
    return sizes
