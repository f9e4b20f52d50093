"""Machine-learned pre-relaxation of a slab before DFT (config ``dft.prerelax``).

``model``:

* ``chgnet`` (default, offline): CHGNet 0.4.2's pretrained weights through
  ``chgnet.model.StructOptimizer`` with ``relax_cell=False``;
* ``uma``: a UMA checkpoint named by path (``uma_checkpoint``) through fairchem's
  ``FAIRChemCalculator`` (task ``uma_task``, default ``oc20``: surfaces) and ASE's LBFGS. fairchem
  is not part of this project's pinned environment; selecting ``uma`` without it importable is an
  error naming the config key, raised before any work;
* ``none``: no pre-relaxation.

Both models see a fully periodic cell while they run (the slab's 2 × ``recipe.vacuum`` Å of
vacuum keeps periodic images far beyond their cut-offs) and the slab's ``FixAtoms`` constraint is
respected by the ASE optimiser; pbc is restored to (True, True, False) afterwards.

The relaxed positions are then symmetrised (:func:`symmetrise`): the ML forces are evaluated in
single precision, so a relaxed slab keeps its symmetry only to ~1e-7 Å, and GPAW 26.7's symmetry
analysis (tolerance 1e-7 Bohr) then finds operations that do not form a group and stops with
``SymmetryAnalysisBug`` before the first SCF step — on a CHGNet-relaxed 2 × 2 × 3 Cr(110) slab,
every pure slab and ordered prototype. spglib (``ase.spacegroup.symmetrize.refine_symmetry``,
:data:`SYMPREC`) moves each atom by at most that noise onto the exactly symmetric positions.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from magmom.chgnet import shared_pretrained

from .settings import Prerelax

log = logging.getLogger(__name__)

SLAB_PBC = (True, True, False)

SYMPREC = 1e-4
"""Å: the symmetry tolerance of :func:`symmetrise` (far above the ML noise, ~1e-7 Å, far below any
relaxation displacement that matters for a moment)."""


class PrerelaxConfigError(RuntimeError):
    """``dft.prerelax`` asks for something this installation cannot do (an actionable message)."""


@dataclass
class PrerelaxResult:
    atoms: object  # ase.Atoms, pbc (T, T, F)
    model: str
    steps: int
    converged: bool
    max_force: float | None
    wall_time: float
    magmoms: np.ndarray | None = None  # the model's per-atom moments (μB) when it predicts them


def check_prerelax_config(cfg: Prerelax) -> None:
    """Fail early, naming the key, when ``uma`` is selected but cannot run here."""
    if cfg.model != "uma":
        return
    ckpt = cfg.uma_checkpoint
    if not ckpt:
        raise PrerelaxConfigError(
            "config key 'dft.prerelax.uma_checkpoint': dft.prerelax.model is 'uma' but no "
            "checkpoint path is set; name a UMA checkpoint file or use model: chgnet"
        )
    if not Path(ckpt).is_file():
        raise PrerelaxConfigError(f"config key 'dft.prerelax.uma_checkpoint': {ckpt} is not a file")
    try:
        import fairchem.core  # noqa: F401
    except ImportError as err:
        raise PrerelaxConfigError(
            "config key 'dft.prerelax.model': 'uma' needs fairchem (fairchem-core), which is "
            f"not importable here ({err}); install it in the dft environment or set "
            "dft.prerelax.model: chgnet"
        ) from err


def symmetrise(atoms, symprec: float = SYMPREC):
    """Positions of ``atoms`` moved onto the space group spglib finds within ``symprec`` Å.

    Returns a copy (constraints, tags, moments, pbc and cell of ``atoms`` kept); the cell is
    treated as periodic in all three directions (a slab's vacuum makes that exact). An atom
    moves by at most ~``symprec``; a structure without symmetry comes back unchanged.
    """
    from ase.spacegroup.symmetrize import refine_symmetry

    work = atoms.copy()
    work.set_constraint()
    work.pbc = True
    refine_symmetry(work, symprec=symprec)
    out = atoms.copy()
    shift = work.positions - atoms.positions
    if np.abs(shift).max(initial=0.0) > 10 * symprec:
        raise RuntimeError(
            f"symmetrising moved an atom by {np.abs(shift).max():.2e} Å (> 10 x {symprec} Å)"
        )
    out.positions = work.positions
    return out


def _max_free_force(atoms) -> float:
    forces = atoms.get_forces()  # constrained forces: fixed atoms report zero
    return float(np.sqrt((forces**2).sum(axis=1)).max()) if len(atoms) else 0.0


def _relax_chgnet(work, fmax: float, steps: int) -> int:
    from chgnet.model import StructOptimizer

    opt = StructOptimizer(model=shared_pretrained(), use_device="cpu")
    result = opt.relax(work, fmax=fmax, steps=steps, relax_cell=False, verbose=False)
    return max(len(result["trajectory"]) - 1, 0)


def _relax_uma(work, fmax: float, steps: int, checkpoint: str, task: str) -> int:
    from ase.optimize import LBFGS

    try:
        from fairchem.core import FAIRChemCalculator, pretrained_mlip
    except ImportError as err:  # checked by check_prerelax_config; kept for direct callers
        raise PrerelaxConfigError(f"dft.prerelax.model 'uma' needs fairchem ({err})") from err

    predictor = pretrained_mlip.load_predict_unit(checkpoint, device="cpu")
    work.calc = FAIRChemCalculator(predictor, task_name=task)
    opt = LBFGS(work, logfile=None)
    opt.run(fmax=fmax, steps=steps)
    return int(opt.nsteps)


def prerelax(atoms, cfg: Prerelax) -> PrerelaxResult:
    """Pre-relax a copy of ``atoms`` with the configured model; ``atoms`` is left untouched."""
    check_prerelax_config(cfg)
    model = cfg.model
    start = time.perf_counter()
    work = atoms.copy()  # keeps FixAtoms, tags and initial moments
    if model == "none" or int(cfg.steps) == 0:
        work.pbc = SLAB_PBC
        return PrerelaxResult(work, model, 0, False, None, time.perf_counter() - start)
    work.pbc = True
    fmax, steps = float(cfg.fmax), int(cfg.steps)
    if model == "chgnet":
        n = _relax_chgnet(work, fmax, steps)
        magmoms = np.abs(np.asarray(work.get_magnetic_moments(), dtype=float))
    elif model == "uma":
        n = _relax_uma(work, fmax, steps, cfg.uma_checkpoint, cfg.uma_task)
        magmoms = None
    else:
        raise PrerelaxConfigError(
            f"config key 'dft.prerelax.model': {model!r} is not allowed; "
            "allowed values: chgnet, uma, none"
        )
    fmax_now = _max_free_force(work)
    relaxed = atoms.copy()
    relaxed.positions = work.positions
    relaxed.pbc = SLAB_PBC
    relaxed = symmetrise(relaxed)
    wall = time.perf_counter() - start
    log.info(
        "pre-relaxation (%s): %d steps, max force %.3f eV/Å (fmax %.3f), %.1f s",
        model, n, fmax_now, fmax, wall,
    )  # fmt: skip
    return PrerelaxResult(relaxed, model, n, fmax_now <= fmax, fmax_now, wall, magmoms)
