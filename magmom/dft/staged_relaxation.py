"""Staged relaxation of one slab: ML pre-relaxation → LCAO warm-up → plane-wave relaxation.

========= ======================================================================================
stage     what happens
========= ======================================================================================
prerelax  :func:`magmom.dft.prerelax.prerelax` (CHGNet by default); positions only
lcao      GPAW LCAO (``dft.lcao``: sz(dzp)), optimiser ``dft.relax.optimizer``
          (:mod:`magmom.dft.optimizers`) to
          ``dft.lcao.fmax`` for at most ``dft.lcao.steps`` steps; its geometry and its converged
          per-atom moments start the plane-wave stage. ``dft.lcao: null`` skips it: the
          plane-wave stage starts from the pre-relaxed geometry and the start's moments
pw        GPAW plane waves (``dft.planewave``: 350 eV, RPBE, MP 3.5 Å⁻¹, Marzari–Vanderbilt,
          dipole layer along z), ``dft.relax`` (LBFGS, fmax 0.2 eV/Å, bottom layers fixed by the
          slab's ``FixAtoms``). ``dft.relax.steps: 0`` makes it a single point (energy, moments
          and forces) at the geometry it starts from; its ``relaxed`` is then None (no
          relaxation was asked for), not False (a relaxation that ran out of steps)
========= ======================================================================================

Both GPAW stages run every SCF under the retry ladder (:mod:`magmom.dft.scf_ladder`): when an
SCF fails, the stage climbs one level and continues the relaxation from the current geometry with
the last converged moments; the level is kept for the rest of the stage. Each (stage, level) run
is one *attempt* in the record, with the SCF iterations of every ionic step
(``calc.get_number_of_iterations()``), its wall time and its outcome.

Resuming: each stage keeps ``{workdir}/{stage}-checkpoint.json`` (atomic writes after every ionic
step) under a key hashing the stage's input structure, moments and parameters. A rerun of the
same slab with the same settings (e.g. Snakemake's retry after a time-out or out-of-memory kill)
skips finished stages and restarts an unfinished one from its last ionic step, ladder level,
iteration counts and elapsed time; changed settings or inputs start the stage afresh. GPAW text
logs go to ``{workdir}/{stage}-L{level}-s{first step}.txt``.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from magmom.io import write_json

from .gpaw_params import lcao_params, parameters_sha256, planewave_params
from .optimizers import OPTIMIZERS
from .parallel import gpaw_parallel, slab_layout, world
from .prerelax import PrerelaxResult, prerelax
from .record import structure_dict
from .scf_ladder import (
    LadderLevel,
    calculator_parameters,
    ladder_from_config,
    level_parameters,
    realisation,
    scf_errors,
)
from .settings import DftSettings, Prerelax

log = logging.getLogger(__name__)

CHECKPOINT_VERSION = 1


class StageFailed(RuntimeError):
    """A GPAW stage stopped with an error; ``attempts`` holds every SCF attempt it made."""

    def __init__(self, stage: str, attempts: Sequence[Mapping], message: str):
        self.stage = stage
        self.attempts = list(attempts)
        super().__init__(message)


class LadderExhausted(StageFailed):
    """Every ladder level failed to converge an SCF of ``stage``."""

    def __init__(self, stage: str, attempts: Sequence[Mapping]):
        last = attempts[-1].get("error", "") if attempts else ""
        levels = sorted({a["level"] for a in attempts})
        super().__init__(
            stage,
            attempts,
            f"{stage}: SCF did not converge at any ladder level (tried levels "
            f"{', '.join(map(str, levels))}; last error: {last})",
        )


@dataclass
class StageResult:
    """Outcome of one GPAW stage (geometry in ``atoms``, initial moments = converged moments)."""

    name: str
    atoms: object
    level: int
    relaxed: bool | None
    ionic_steps: int
    scf_iterations: list[int]
    wall_time: float
    attempts: list[dict]
    energy: float
    free_energy: float
    magmoms: np.ndarray
    fermi_level: float | None
    max_force: float
    work_function: float | None = None
    work_function_bottom: float | None = None
    parameters: dict = field(default_factory=dict)


# ---- checkpoints ---------------------------------------------------------------------------
def _load_checkpoint(path: Path, key: str) -> dict | None:
    try:
        with open(path) as fh:
            state = json.load(fh)
    except FileNotFoundError:
        return None
    except (OSError, json.JSONDecodeError) as err:
        log.warning("ignoring unreadable checkpoint %s (%s)", path, err)
        return None
    if state.get("key") != key or state.get("version") != CHECKPOINT_VERSION:
        log.info("checkpoint %s belongs to other inputs or settings; starting afresh", path)
        return None
    return state


def _moments(calc, spinpol: bool, n: int) -> np.ndarray:
    if not spinpol:
        return np.zeros(n)
    return np.asarray(calc.get_magnetic_moments(), dtype=float)


def _max_free_force(atoms) -> float:
    forces = atoms.get_forces()  # FixAtoms zeroes the fixed atoms' forces
    return float(np.sqrt((forces**2).sum(axis=1)).max()) if len(atoms) else 0.0


def work_functions(calc) -> tuple[float, float]:
    """(top, bottom) work function (eV) of a dipole-corrected slab.

    The xy-averaged electrostatic potential :math:`\\bar v(z)` is flat in the vacuum on either
    side of the dipole layer GPAW places at the cell boundary :math:`z = 0 \\equiv L_z`, so

    .. math::
        \\Phi_\\mathrm{top} = \\bar v(L_z^-) - E_F, \\qquad
        \\Phi_\\mathrm{bottom} = \\bar v(0^+) - E_F
    """
    v_z = np.asarray(calc.get_electrostatic_potential()).mean(axis=(0, 1))
    e_f = float(calc.get_fermi_level())
    return float(v_z[-1] - e_f), float(v_z[0] - e_f)


# ---- one GPAW stage under the ladder --------------------------------------------------------
def relax_stage(
    name: str,
    atoms,
    base_params: Mapping,
    smearing: str,
    ladder: Sequence[LadderLevel],
    relax: Mapping,
    workdir: str | Path,
    spinpol: bool,
    work_function: bool = False,
) -> StageResult:
    """Relax ``atoms`` (a copy) with GPAW at ``base_params`` under the SCF ladder.

    ``relax``: ``{"optimizer", "fmax", "steps"}``; ``steps`` 0: a single point, ``relaxed``
    None (module docstring). Raises :class:`LadderExhausted` when no level
    converges; other GPAW exceptions propagate. See the module docstring for checkpoints.
    """
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    key = _stage_key(name, atoms, base_params, smearing, ladder, relax, spinpol)
    atoms = atoms.copy()
    atoms.calc = None
    run = _StageRun(name, atoms, workdir, spinpol)
    state = _load_checkpoint(run.path, key)
    if state is not None and state["done"]:
        log.info("%s: finished in an earlier run (checkpoint %s)", name, run.path)
        return _result_from_state(name, atoms, state)
    if state is not None and state.get("exhausted"):
        log.info("%s: the ladder was exhausted in an earlier run (checkpoint %s)", name, run.path)
        raise LadderExhausted(name, state["attempts"])
    run.begin(key, state)
    errors = scf_errors()
    while True:
        level = ladder[run.state["level"]]
        attempt = run.start_level(level, level_parameters(level, base_params, smearing), relax)
        steps_left = max(int(relax["steps"]) - attempt.first_step, 0)
        try:
            relaxed = bool(attempt.opt.run(fmax=float(relax["fmax"]), steps=steps_left))
        except errors as err:
            if not run.scf_failed(attempt, err, len(ladder)):
                raise LadderExhausted(name, run.state["attempts"]) from err
            continue
        except (MemoryError, KeyboardInterrupt):
            raise
        except Exception as err:
            run.failed(attempt, err)
            raise StageFailed(
                name, run.state["attempts"], f"{name}: {attempt.record['error']}"
            ) from err
        if int(relax["steps"]) == 0:
            relaxed = None  # a single point: no relaxation was asked for
        run.converged(attempt, relaxed)
        return run.finish(
            attempt.calc, relaxed, level_parameters(level, base_params, smearing), work_function
        )


def _stage_key(name, atoms, base_params, smearing, ladder, relax, spinpol) -> str:
    """The checkpoint key of a stage: a hash of its input structure, moments and settings."""
    return parameters_sha256(
        {
            "stage": name,
            "params": base_params,
            "smearing": smearing,
            "ladder": [lvl.describe() for lvl in ladder],
            "relax": dict(relax),
            "structure": structure_dict(atoms),
            "magmoms": np.round(atoms.get_initial_magnetic_moments(), 8),
            "spinpol": bool(spinpol),
        }
    )


@dataclass
class _Attempt:
    """One (stage, ladder level) GPAW run: its entry in the record, calculator and optimiser.

    ``wall_before``: the stage's wall time before this attempt; ``t0``: when the attempt started
    (``time.perf_counter``).
    """

    record: dict
    calc: object
    opt: object
    first_step: int
    wall_before: float
    t0: float

    def elapsed(self) -> float:
        return time.perf_counter() - self.t0


class _StageRun:
    """One GPAW stage's progress under the ladder, kept in ``{workdir}/{name}-checkpoint.json``.

    ``state`` is the checkpoint's content: ladder level, finished ionic steps, geometry and last
    converged moments, the SCF iterations of every step, the finished attempts and the wall time.
    The ``atoms`` (the stage's own copy) follow it.
    """

    def __init__(self, name: str, atoms, workdir: Path, spinpol: bool):
        self.name = name
        self.atoms = atoms
        self.workdir = workdir
        self.spinpol = spinpol
        self.path = workdir / f"{name}-checkpoint.json"
        self.state: dict = {}

    def begin(self, key: str, state: dict | None) -> None:
        """Start afresh (``state`` None) or resume an unfinished checkpoint's ``state``."""
        if state is None:
            state = {
                "version": CHECKPOINT_VERSION,
                "key": key,
                "done": False,
                "level": 0,
                "steps_done": 0,
                "positions": self.atoms.positions.tolist(),
                "magmoms": self.atoms.get_initial_magnetic_moments().tolist(),
                "scf_iterations": [],
                "attempts": [],
                "wall_time": 0.0,
            }
        else:
            log.info(
                "%s: resuming at ionic step %d, ladder level %d (checkpoint %s)",
                self.name, state["steps_done"], state["level"], self.path,
            )  # fmt: skip
            for attempt in state["attempts"]:
                if attempt.get("outcome") == "running":  # the job was killed during this attempt
                    attempt["outcome"] = "interrupted"
        self.state = state
        self.atoms.positions = np.asarray(state["positions"], dtype=float)
        self.atoms.set_initial_magnetic_moments(np.asarray(state["magmoms"], dtype=float))

    def start_level(self, level: LadderLevel, params: Mapping, relax: Mapping) -> _Attempt:
        """A GPAW calculator at ``level`` and an optimiser that checkpoints every ionic step."""
        from gpaw import GPAW

        first_step = self.state["steps_done"]
        record = {
            "stage": self.name,
            "level": level.index,
            **{k: v for k, v in level.describe().items() if k != "index"},
            "gpaw": realisation(params),
            "first_ionic_step": first_step,
            "scf_iterations": [],
            "outcome": "running",
        }
        txt = self.workdir / f"{self.name}-L{level.index}-s{first_step}.txt"
        log.info(
            "%s: ladder level %d (%s, eigenstates %.0e, width %.3f eV, maxiter %d) from ionic "
            "step %d; GPAW log %s",
            self.name, level.index, level.mixer, level.eigenstates,
            params["occupations"]["width"], level.maxiter, first_step, txt,
        )  # fmt: skip
        layout = slab_layout(self.atoms, params, world().size)  # magmom.dft.parallel
        record["layout"] = layout
        calc = GPAW(**calculator_parameters(params), parallel=gpaw_parallel(layout), txt=str(txt))
        self.atoms.calc = calc
        logfile = str(self.workdir / f"{self.name}-opt.log")
        opt = OPTIMIZERS[relax["optimizer"]](self.atoms, logfile=logfile)
        attempt = _Attempt(
            record, calc, opt, first_step, self.state["wall_time"], time.perf_counter()
        )
        opt.attach(self._after_ionic_step, 1, attempt)
        return attempt

    def _after_ionic_step(self, attempt: _Attempt) -> None:
        """Record the step's SCF iterations, geometry and moments; write the checkpoint."""
        n_iter = int(attempt.calc.get_number_of_iterations())
        attempt.record["scf_iterations"].append(n_iter)
        self.state["scf_iterations"].append(n_iter)
        self.state["positions"] = self.atoms.positions.tolist()
        self.state["magmoms"] = _moments(attempt.calc, self.spinpol, len(self.atoms)).tolist()
        self.state["steps_done"] = attempt.first_step + attempt.opt.nsteps
        self.state["wall_time"] = attempt.wall_before + attempt.elapsed()
        write_json(self.path, {**self.state, "attempts": [*self.state["attempts"], attempt.record]})

    def _close(self, attempt: _Attempt, **outcome) -> None:
        """Add the finished ``attempt`` (with its ``outcome`` fields) to the state."""
        attempt.record.update(**outcome, wall_time=attempt.elapsed())
        self.state["attempts"].append(attempt.record)
        self.state["wall_time"] = attempt.wall_before + attempt.record["wall_time"]

    def scf_failed(self, attempt: _Attempt, err: Exception, n_levels: int) -> bool:
        """Record a failed SCF and climb one level; False when no level is left (exhausted).

        The next level continues from the current geometry with the last converged moments.
        """
        try:
            failed_iter = int(attempt.calc.get_number_of_iterations())
        except Exception:  # the calculation may not exist when the error came early
            failed_iter = None
        self._close(
            attempt,
            outcome="scf_failed",
            error=f"{type(err).__name__}: {err}".strip().rstrip(":"),
            failed_scf_iterations=failed_iter,
            ionic_steps=attempt.opt.nsteps,
        )
        self.state["steps_done"] = attempt.first_step + attempt.opt.nsteps
        self.state["level"] += 1
        log.warning(
            "%s: SCF failed at ladder level %d after %s iterations (ionic step %d): %s",
            self.name, attempt.record["level"], failed_iter, self.state["steps_done"],
            attempt.record["error"],
        )  # fmt: skip
        self.atoms.calc = None
        if self.state["level"] >= n_levels:
            self.state["exhausted"] = True
            write_json(self.path, self.state)
            return False
        write_json(self.path, self.state)
        self.atoms.set_initial_magnetic_moments(np.asarray(self.state["magmoms"], dtype=float))
        return True

    def failed(self, attempt: _Attempt, err: Exception) -> None:
        """Record an error other than a failed SCF (the stage stops)."""
        self._close(
            attempt,
            outcome="error",
            error=f"{type(err).__name__}: {err}",
            ionic_steps=attempt.opt.nsteps,
        )
        write_json(self.path, self.state)

    def converged(self, attempt: _Attempt, relaxed: bool | None) -> None:
        """Record the attempt whose SCFs all converged (``relaxed``: the optimiser reached fmax;
        None for a single point)."""
        self._close(attempt, outcome="converged", ionic_steps=attempt.opt.nsteps, relaxed=relaxed)
        self.state["steps_done"] = attempt.first_step + attempt.opt.nsteps

    def finish(
        self, calc, relaxed: bool | None, params: Mapping, work_function: bool
    ) -> StageResult:
        """Read the converged stage's energies, moments and forces; mark the checkpoint done."""
        atoms, state = self.atoms, self.state
        t_post = time.perf_counter()
        result = {
            "energy": float(atoms.get_potential_energy()),
            "free_energy": float(atoms.get_potential_energy(force_consistent=True)),
            "magmoms": _moments(calc, self.spinpol, len(atoms)).tolist(),
            "fermi_level": _fermi_level(calc),
            "max_force": _max_free_force(atoms),
            "relaxed": relaxed,
            "work_function": None,
            "work_function_bottom": None,
            "parameters": params,
        }
        if work_function:
            result["work_function"], result["work_function_bottom"] = work_functions(calc)
        state["wall_time"] += time.perf_counter() - t_post
        state.update(
            done=True,
            positions=atoms.positions.tolist(),
            magmoms=result["magmoms"],
            result=result,
        )
        write_json(self.path, state)
        log.info(
            "%s: done at ladder level %d: %d ionic steps, %d SCF iterations, max force %.3f "
            "eV/Å, E = %.4f eV, total moment %.3f μB, %.1f s",
            self.name, state["level"], state["steps_done"], sum(state["scf_iterations"]),
            result["max_force"], result["energy"], float(np.sum(result["magmoms"])),
            state["wall_time"],
        )  # fmt: skip
        atoms.calc = None
        return _result_from_state(self.name, atoms, state)


def _fermi_level(calc) -> float | None:
    try:
        value = float(calc.get_fermi_level())
    except Exception:  # fixed occupations or an unavailable property
        return None
    return value if np.isfinite(value) else None


def _result_from_state(name: str, atoms, state: Mapping) -> StageResult:
    atoms = atoms.copy()
    atoms.positions = np.asarray(state["positions"], dtype=float)
    res = state["result"]
    magmoms = np.asarray(res["magmoms"], dtype=float)
    atoms.set_initial_magnetic_moments(magmoms)
    return StageResult(
        name=name,
        atoms=atoms,
        level=int(state["level"]),
        relaxed=None if res["relaxed"] is None else bool(res["relaxed"]),
        ionic_steps=int(state["steps_done"]),
        scf_iterations=list(state["scf_iterations"]),
        wall_time=float(state["wall_time"]),
        attempts=list(state["attempts"]),
        energy=float(res["energy"]),
        free_energy=float(res["free_energy"]),
        magmoms=magmoms,
        fermi_level=res["fermi_level"],
        max_force=float(res["max_force"]),
        work_function=res.get("work_function"),
        work_function_bottom=res.get("work_function_bottom"),
        parameters=res.get("parameters", {}),
    )


# ---- the pre-relaxation checkpoint ----------------------------------------------------------
def prerelax_checkpointed(atoms, cfg: Prerelax, workdir: str | Path) -> PrerelaxResult:
    """:func:`~magmom.dft.prerelax.prerelax` with its result kept in ``{workdir}/prerelax.json``.

    Under MPI (world size > 1) the checkpoint must exist: the job's serial process writes it
    before the ranks start (:func:`magmom.dft.label.label_slab_job`), so the ML model never runs
    once per rank.
    """
    workdir = Path(workdir)
    path = workdir / "prerelax.json"
    key = parameters_sha256({"prerelax": cfg.config(), "structure": structure_dict(atoms)})
    state = _load_checkpoint(path, key)
    if state is not None:
        log.info("prerelax: finished in an earlier run (checkpoint %s)", path)
        relaxed = atoms.copy()
        relaxed.positions = np.asarray(state["positions"], dtype=float)
        relaxed.pbc = (True, True, False)
        mm = state.get("magmoms")
        return PrerelaxResult(
            relaxed, state["model"], state["steps"], state["converged"], state["max_force"],
            state["wall_time"], None if mm is None else np.asarray(mm, dtype=float),
        )  # fmt: skip
    if world().size > 1:
        raise RuntimeError(
            f"{path}: no pre-relaxation checkpoint for these inputs, and this is rank "
            f"{world().rank} of {world().size}; the pre-relaxation runs before the MPI ranks start"
        )
    res = prerelax(atoms, cfg)
    write_json(
        path,
        {
            "version": CHECKPOINT_VERSION,
            "key": key,
            "done": True,
            "positions": res.atoms.positions.tolist(),
            "model": res.model,
            "steps": res.steps,
            "converged": res.converged,
            "max_force": res.max_force,
            "wall_time": res.wall_time,
            "magmoms": None if res.magmoms is None else res.magmoms.tolist(),
        },
    )
    return res


# ---- the whole GPAW labeller ----------------------------------------------------------------
@dataclass
class StagedResult:
    prerelax: PrerelaxResult
    lcao: StageResult | None  # None: dft.lcao is null (no LCAO warm-up)
    pw: StageResult
    spinpol: bool
    parameters: dict


def gpaw_parameters(atoms, settings: DftSettings, spinpol: bool) -> dict:
    """Every setting of the GPAW labeller for ``atoms`` (what ``parameters_sha256`` hashes)."""
    lcao, pw = settings.lcao, settings.planewave
    return {
        "prerelax": dict(sorted(settings.prerelax.config().items())),
        "lcao": None
        if lcao is None
        else {
            "gpaw": lcao_params(lcao, pw, atoms, spinpol),
            "fmax": lcao.fmax,
            "steps": lcao.steps,
        },
        "planewave": {"gpaw": planewave_params(pw, atoms, spinpol)},
        "relax": settings.relax.config(),
        "smearing": pw.smearing,
        "scf_ladder": settings.ladder_config(),
        "spinpol": bool(spinpol),
    }


def run_staged_relaxation(
    atoms,
    settings: DftSettings,
    workdir: str | Path,
    spinpol: bool,
    on_stage=None,
    prerelax_dir: str | Path | None = None,
    pw_magmoms=None,
) -> StagedResult:
    """Pre-relaxation, LCAO warm-up (unless ``settings.lcao`` is None) and plane-wave
    relaxation of one slab.

    ``on_stage(name, result)`` is called after each stage that runs (the caller records partial
    progress). ``prerelax_dir``: where the pre-relaxation checkpoint lives (default ``workdir``;
    the starts of one slab share it). ``pw_magmoms``: initial moments of the plane-wave stage
    (default: the LCAO stage's converged moments, or ``atoms``' initial moments without an LCAO
    stage; :mod:`magmom.dft.initial_moments`).
    """
    workdir = Path(workdir)
    params = gpaw_parameters(atoms, settings, spinpol)

    pre = prerelax_checkpointed(atoms, settings.prerelax, prerelax_dir or workdir)
    if on_stage:
        on_stage("prerelax", pre)
    start = pre.atoms.copy()
    if not spinpol:
        start.set_initial_magnetic_moments(np.zeros(len(start)))

    if settings.lcao is None:
        pw_start = start
        if spinpol:
            pw_start.set_initial_magnetic_moments(
                np.asarray(
                    atoms.get_initial_magnetic_moments() if pw_magmoms is None else pw_magmoms,
                    dtype=float,
                )
            )
        return StagedResult(
            pre,
            None,
            _pw_stage(pw_start, settings, params, workdir, spinpol, on_stage),
            spinpol,
            params,
        )
    lcao = relax_stage(
        "lcao",
        start,
        params["lcao"]["gpaw"],
        settings.planewave.smearing,
        ladder_from_config(settings.scf_ladder),
        {
            "optimizer": settings.relax.optimizer,
            "fmax": settings.lcao.fmax,
            "steps": settings.lcao.steps,
        },
        workdir,
        spinpol,
    )
    if on_stage:
        on_stage("lcao", lcao)
    pw_start = lcao.atoms  # LCAO geometry; its initial moments are the LCAO's converged moments
    if spinpol and pw_magmoms is not None:
        pw_start = lcao.atoms.copy()
        pw_start.set_initial_magnetic_moments(np.asarray(pw_magmoms, dtype=float))
    pw = _pw_stage(pw_start, settings, params, workdir, spinpol, on_stage)
    return StagedResult(pre, lcao, pw, spinpol, params)


def _pw_stage(pw_start, settings: DftSettings, params, workdir: Path, spinpol, on_stage):
    pw = relax_stage(
        "pw",
        pw_start,
        params["planewave"]["gpaw"],
        settings.planewave.smearing,
        ladder_from_config(settings.scf_ladder),
        settings.relax.config(),
        workdir,
        spinpol,
        work_function=bool(settings.planewave.dipole_correction),
    )
    if on_stage:
        on_stage("pw", pw)
    return pw
