"""Labelling one slab: the work of rule ``dft_slab``.

:func:`label_slab_from_db` reads the slab's row from ``<results_dir>/recipe/initial_slabs.db``, runs
the configured labeller (``labeller: gpaw`` — :mod:`magmom.dft.staged_relaxation`; ``chgnet`` —
:mod:`magmom.dft.surrogate`) and writes ``<results_dir>/dft/{slab_id}.json``
(:mod:`magmom.dft.record`).

The GPAW labeller starts each spin-polarised slab as ``dft.initial_moments`` says
(:mod:`magmom.dft.initial_moments`). When the policy gives several distinct starts, each runs the
whole staged relaxation in ``{workdir}/start-{name}/`` (one start: in ``{workdir}``) and the record
keeps the labels of the start lowest in energy at equal settings (:mod:`magmom.dft.equal_settings`:
ladder level 0's smearing width and criteria; a start that finished on a level of other settings
gets one single point there, its result kept in ``start-{name}/equal-settings.json``), with every
start's result beside them and the comparison marked ``partial`` when a start failed, did not
finish relaxing or could not be evaluated at the common level; a start with the same moments as
an earlier one is recorded as skipped (``duplicate_of``).

A slab that cannot be labelled — the SCF ladder exhausted, or GPAW raising — still gets its
record, with ``status: failed``, the reason, the stages that finished and every SCF attempt; the
job succeeds so that one slab never stops the workflow. What a rerun cannot fix by itself is
raised instead: a configuration that cannot run here (e.g. ``dft.prerelax.model: uma`` without
fairchem), a slab missing from the db, and ``MemoryError`` (Snakemake then retries the job with
the larger ``mem_mb`` of the next attempt; the stage checkpoints make the retry resume).

:func:`label_slab_job` is the rule's entry point: with ``dft.resources.tasks`` > 1 and a GPAW
built with MPI it pre-relaxes the slab in its own (serial) process, then labels it on that many
MPI ranks (:mod:`magmom.dft.parallel`); the record's ``parallel`` holds the world size and the
GPAW layout (k-points/domains/bands) of each stage.
"""

from __future__ import annotations

import logging
import time
import traceback
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from magmom.elements import is_spin_polarised
from magmom.layout import LABELLERS
from magmom.slab_geometry import bottom_layers

from . import equal_settings, initial_moments
from .gpaw_params import parameters_sha256
from .parallel import gpaw_build, run_job, world
from .prerelax import PrerelaxConfigError, check_prerelax_config
from .record import (
    atoms_from_structure,
    finite,
    new_record,
    set_moments,
    structure_dict,
    write_record,
)
from .scf_ladder import ladder_from_config
from .settings import DftSettings
from .staged_relaxation import (
    StageFailed,
    StageResult,
    gpaw_parameters,
    prerelax_checkpointed,
    run_staged_relaxation,
)
from .surrogate import label_with_chgnet

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LabelSettings:
    """How the slabs are labelled: built once from the config (:meth:`of`, or by name).

    ``labeller``: config ``labeller`` (or a slab's ``labeller_overrides`` entry); ``dft``: the
    ``dft`` section (:class:`magmom.dft.settings.DftSettings`; ``resources`` are the job's, not
    the label's); ``fixed_layers``: ``recipe.fixed_layers``, the bottom layers fixed when a db
    row has no FixAtoms.
    """

    labeller: str
    dft: DftSettings
    fixed_layers: int = 2

    def __post_init__(self):
        if self.labeller not in LABELLERS:
            raise ValueError(
                f"config key 'labeller': {self.labeller!r} is not allowed; allowed values: "
                f"{', '.join(LABELLERS)}"
            )

    @classmethod
    def of(cls, config: Mapping) -> LabelSettings:
        """The settings of a whole config (``labeller``, ``dft``, ``recipe.fixed_layers``)."""
        return cls(
            labeller=config["labeller"],
            dft=DftSettings.from_config(config["dft"]),
            fixed_layers=int(config["recipe"]["fixed_layers"]),
        )

    def as_dict(self) -> dict:
        """Plain data (the ``dft`` section as the config spells it): how the MPI ranks get the
        settings; :meth:`from_dict` reads it back."""
        return {
            "labeller": self.labeller,
            "dft": self.dft.config(),
            "fixed_layers": self.fixed_layers,
        }

    @classmethod
    def from_dict(cls, fields: Mapping) -> LabelSettings:
        return cls(
            labeller=fields["labeller"],
            dft=DftSettings.from_config(fields["dft"]),
            fixed_layers=fields["fixed_layers"],
        )

    @property
    def initial_moments(self) -> str:
        """``dft.initial_moments``: the start policy of a spin-polarised GPAW label."""
        return self.dft.initial_moments


def fix_bottom_layers(atoms, n_layers: int) -> list[int]:
    """Put the bottom ``n_layers`` layers of ``atoms`` under FixAtoms; return their indices.

    Layers as :func:`magmom.slab_geometry.slab_layers` finds them (ASE tags, else z gaps).
    """
    from ase.constraints import FixAtoms

    fixed = [int(i) for i in bottom_layers(atoms, n_layers)]
    atoms.set_constraint(FixAtoms(indices=fixed) if fixed else [])
    return fixed


def read_initial_slab(db_path: str | Path, slab_id: str, fixed_layers: int = 2):
    """``(atoms, meta)`` of ``slab_id`` in the initial-structure db.

    A row without a FixAtoms constraint gets the bottom ``fixed_layers`` layers fixed (logged).
    """
    from ase.constraints import FixAtoms
    from ase.db import connect

    db = connect(str(db_path), type="db")
    try:
        row = db.get(slab_id=slab_id)
    except KeyError:
        raise KeyError(f"{db_path}: no slab with slab_id={slab_id!r}") from None
    atoms = row.toatoms()
    meta = dict(row.key_value_pairs)
    if not any(isinstance(c, FixAtoms) for c in atoms.constraints):
        fixed = fix_bottom_layers(atoms, fixed_layers)
        log.warning(
            "%s: slab %s has no FixAtoms constraint; fixing its bottom %d layer(s) (%d atoms)",
            db_path, slab_id, fixed_layers, len(fixed),
        )  # fmt: skip
    return atoms, meta


def _stage_summary(name: str, res) -> dict:
    if isinstance(res, StageResult):
        return {
            "level": res.level,
            "ionic_steps": res.ionic_steps,
            "relaxed": res.relaxed,
            "scf_iterations": int(sum(res.scf_iterations)),
            "scf_iterations_per_step": res.scf_iterations,
            "max_force": finite(res.max_force),
            "energy": finite(res.energy),
            "total_magmom": finite(float(np.sum(res.magmoms))),
            "wall_time": res.wall_time,
        }
    return {  # PrerelaxResult
        "model": res.model,
        "ionic_steps": res.steps,
        "converged": res.converged,
        "max_force": finite(res.max_force),
        "wall_time": res.wall_time,
    }


def _run_start(atoms, start, dft: DftSettings, workdir: Path, base: Path, spinpol: bool) -> dict:
    """Staged relaxation of ``atoms`` from ``start`` in ``workdir`` (the pre-relaxation shared in
    ``base``): ``{"result" | "error", "record"}``, the record part holding this start's stages,
    SCF attempts and outcome."""
    work = atoms.copy()
    work.set_initial_magnetic_moments(start.magmoms)
    part = {"initial_magmoms": start.magmoms.tolist(), "stages": {}, "scf_attempts": []}

    def on_stage(name, res):
        part["stages"][name] = _stage_summary(name, res)
        part["structure"] = structure_dict(res.atoms)  # last known geometry
        if isinstance(res, StageResult):
            part["scf_attempts"].extend(res.attempts)
            if res.attempts and "layout" in res.attempts[-1]:  # magmom.dft.parallel
                part.setdefault("layout", {})[name] = res.attempts[-1]["layout"]

    try:
        res = run_staged_relaxation(
            work,
            dft,
            workdir,
            spinpol,
            on_stage=on_stage,
            prerelax_dir=base,
            pw_magmoms=initial_moments.plane_wave_start(start),
        )
    except (MemoryError, KeyboardInterrupt, PrerelaxConfigError):
        raise
    except Exception as err:
        if isinstance(err, StageFailed):
            part["scf_attempts"].extend(err.attempts)
        log.warning("start %r failed: %s: %s", start.name, type(err).__name__, err)
        part.update(
            status="failed",
            reason=f"{type(err).__name__}: {err}",
            energy=None,
            ladder_level=None,
            relaxed=False,
        )
        return {"error": err, "record": part}
    part.update(
        status="ok",
        reason=None,
        energy=finite(res.pw.energy),
        magmoms=np.asarray(res.pw.magmoms, dtype=float).tolist(),
        total_magmom=finite(float(np.sum(res.pw.magmoms))),
        ladder_level=int(res.pw.level),
        relaxed=res.pw.relaxed,
    )
    return {"result": res, "record": part}


def _start_scf_iterations(part: Mapping) -> dict:
    """SCF iterations of one start: per GPAW stage (converged ionic steps) and of its failed
    ladder levels (counted at their maxiter when GPAW did not say)."""
    out = {name: st["scf_iterations"] for name, st in part["stages"].items() if name != "prerelax"}
    out["failed_levels"] = int(
        sum(
            a.get("failed_scf_iterations") or a.get("maxiter") or 0
            for a in part.get("scf_attempts", [])
            if a.get("outcome") == "scf_failed"
        )
    )
    return out


def _equal_settings(run: dict, dft: DftSettings, workdir: Path) -> dict:
    """The equal-settings entry of one finished start (:mod:`magmom.dft.equal_settings`): its own
    energy when its plane-wave stage finished on ladder level 0, else one single point there."""
    from .parallel import gpaw_parallel, slab_layout

    pw = run["result"].pw
    base = run["result"].parameters["planewave"]["gpaw"]
    try:
        layout = slab_layout(pw.atoms, base, world().size)
        return equal_settings.at_common_level(
            pw.atoms,
            pw.magmoms,
            pw.level,
            pw.energy,
            base,
            dft.planewave.smearing,
            ladder_from_config(dft.scf_ladder),
            workdir / "equal-settings",
            parallel=gpaw_parallel(layout),
            cache=workdir / "equal-settings.json",
        )
    except (MemoryError, KeyboardInterrupt):
        raise
    except Exception as err:  # GPAW raising: this start cannot be compared, the slab goes on
        log.warning("equal-settings single point failed: %s: %s", type(err).__name__, err)
        return {
            "level": equal_settings.COMMON_LEVEL,
            "source": "single_point",
            "status": "failed",
            "energy": None,
            "magmoms": None,
            "reason": f"{type(err).__name__}: {err}",
        }


def _label_with_gpaw(atoms, dft: DftSettings, policy: str, workdir: Path, record: dict) -> dict:
    """Fill ``record`` with the GPAW labels of ``atoms`` from the starts of ``policy`` (module
    docstring): its settings, every start's run, their comparison, the kept start's labels."""
    spinpol = is_spin_polarised(atoms.get_chemical_symbols())
    params = _begin_gpaw_record(record, atoms, dft, policy, spinpol)
    listed = _listed_starts(atoms, policy, spinpol)
    candidates = [s for s in listed if s.duplicate_of is None]
    runs = _run_starts(atoms, candidates, dft, policy, workdir, spinpol)
    parts = {s.name: run["record"] for s, run in zip(candidates, runs, strict=True)}
    chosen = equal_settings.compare(parts)
    parts.update(_skipped_starts(listed))
    record["initial_moments"] = _start_comparison(
        policy, chosen, [parts[s.name] for s in listed], listed, len(candidates) > 1, params, dft
    )
    kept = _keep_start(record, candidates, runs, chosen)
    _set_labels(record, kept, dft.relax.fmax)
    return record


def gpaw_record_parameters(atoms, dft: DftSettings, policy: str, spinpol: bool) -> dict:
    """What a GPAW record's ``parameters`` hold for ``atoms`` (``parameters_sha256`` hashes it):
    the policy as it applies to this slab (:func:`~magmom.dft.initial_moments.slab_policy`), so
    an override for another element group leaves the slab's settings as they were."""
    applied = initial_moments.slab_policy(policy, atoms.get_chemical_symbols())
    return {**gpaw_parameters(atoms, dft, spinpol), "initial_moments": applied}


def labelled_with(record: Mapping, dft: DftSettings) -> bool:
    """Whether the GPAW ``record`` was labelled with the settings ``dft`` (its start policy
    included): its ``parameters_sha256`` is theirs for its structure. A record without a
    structure (a slab that failed before its geometry was read) cannot show it, so: False."""
    if "structure" not in record or "spinpol" not in record:
        return False
    atoms = atoms_from_structure(record["structure"])
    return settings_sha256(atoms, dft, record["spinpol"]) == record.get("parameters_sha256")


def settings_sha256(atoms, dft: DftSettings, spinpol: bool) -> str:
    """The ``parameters_sha256`` of a GPAW record of ``atoms`` labelled with the settings ``dft``
    (their start policy included): what :func:`labelled_with` and the warm-start experiment
    (:mod:`magmom.warm_start.scf`, whether it runs at a label's own settings) compare."""
    return parameters_sha256(gpaw_record_parameters(atoms, dft, dft.initial_moments, spinpol))


def _begin_gpaw_record(record: dict, atoms, dft: DftSettings, policy: str, spinpol: bool) -> dict:
    """The labeller's settings (``parameters`` and their hash) and empty progress in ``record``;
    returns the settings."""
    params = gpaw_record_parameters(atoms, dft, policy, spinpol)
    record["parameters"] = params
    record["parameters_sha256"] = parameters_sha256(params)
    record["spinpol"] = spinpol
    record["stages"] = {}
    record["scf_attempts"] = []
    record["parallel"] = {"world_size": int(world().size), "gpaw_build": gpaw_build(), "layout": {}}
    return params


def _listed_starts(atoms, policy: str, spinpol: bool) -> list:
    """The starts of ``policy`` (duplicates marked); a non-spin-polarised slab has one, ``none``."""
    if spinpol:
        return initial_moments.starts(atoms, policy)
    return [initial_moments.Start("none", np.zeros(len(atoms)))]


def _run_starts(atoms, candidates, dft: DftSettings, policy: str, workdir: Path, spinpol: bool):
    """:func:`_run_start` of every distinct start (in ``start-{name}/`` when there are several,
    each finished one then evaluated at equal settings); their ``{"result" | "error",
    "record"}``."""
    several = len(candidates) > 1
    symbols = atoms.get_chemical_symbols()
    runs = []
    for start in candidates:
        moments = ", ".join(f"{s} {m:+.2f}" for s, m in zip(symbols, start.magmoms, strict=True))
        log.info("initial moments %r (policy %s): %s", start.name, policy, moments)
        start_dir = workdir / f"start-{start.name}" if several else workdir
        runs.append(_run_start(atoms, start, dft, start_dir, workdir, spinpol))
        part = runs[-1]["record"]
        part["equal_settings"] = None  # a single or failed start: nothing to compare
        if several and "result" in runs[-1]:
            part["equal_settings"] = _equal_settings(runs[-1], dft, start_dir)
        part["scf_iterations"] = _start_scf_iterations(part)
    return runs


def _skipped_starts(listed) -> dict:
    """The record parts of the starts skipped as duplicates of an earlier one."""
    parts = {}
    for start in listed:
        if start.duplicate_of is not None:
            log.info("start %r skipped: the same moments as %r", start.name, start.duplicate_of)
            parts[start.name] = {
                "initial_magmoms": start.magmoms.tolist(),
                "status": "skipped",
                "reason": f"duplicate of start {start.duplicate_of!r} (the same initial moments)",
                "duplicate_of": start.duplicate_of,
                "energy": None,
                "stages": {},
            }
    return parts


def _start_comparison(
    policy: str,
    chosen: Mapping,
    parts: list,
    listed,
    several: bool,
    params: Mapping,
    dft: DftSettings,
) -> dict:
    """The record's ``initial_moments``: how the starts (``parts``, in ``listed`` order) were
    compared (``chosen``: :func:`magmom.dft.equal_settings.compare`); ``kept`` is set later."""
    ladder = ladder_from_config(dft.scf_ladder)
    out = {
        "policy": policy,
        "kept": None,
        "kept_by": chosen["kept_by"],
        "comparison": chosen["comparison"],
        "comparison_reasons": chosen["reasons"],
        "common_level": equal_settings.common_level(
            ladder, params["planewave"]["gpaw"], dft.planewave.smearing
        ),
        "equal_settings_energies": chosen["equal_settings_energies"] if several else {},
        "energy_gap": chosen["energy_gap"],
        "starts": {s.name: part for s, part in zip(listed, parts, strict=True)},
    }
    if chosen["comparison"] == "partial":
        log.warning(
            "partial comparison of the starts: %s", "; ".join(chosen["reasons"])
        )  # fmt: skip
    return out


def _keep_start(record: dict, candidates, runs, chosen: Mapping) -> dict:
    """Put the kept start's stages, attempts, structure and initial moments (the first start's
    when none finished) and the wall time of all starts in ``record``; raise the kept start's
    error when no start finished, else return its run."""
    names = [s.name for s in candidates]
    best = None if chosen["kept"] is None else names.index(chosen["kept"])
    kept = runs[0] if best is None else runs[best]
    for key in ("stages", "scf_attempts", "structure"):
        if key in kept["record"]:
            record[key] = kept["record"][key]
    record["initial_magmoms"] = kept["record"]["initial_magmoms"]
    record["wall_time_all_starts"] = float(
        sum(st["wall_time"] for run in runs for st in run["record"]["stages"].values())
        + sum((run["record"].get("equal_settings") or {}).get("wall_time", 0.0) for run in runs)
    )
    if best is None:
        raise kept["error"]
    record["initial_moments"]["kept"] = candidates[best].name
    if len(candidates) > 1:
        energies = {s.name: r["record"]["energy"] for s, r in zip(candidates, runs, strict=True)}
        log.info(
            "energies per start (eV): %s at their own ladder levels, %s at level %d's settings; "
            "keeping %r (comparison %s)",
            energies, chosen["equal_settings_energies"], equal_settings.COMMON_LEVEL,
            candidates[best].name, chosen["comparison"],
        )  # fmt: skip
    return kept


def _set_labels(record: dict, kept: Mapping, fmax: float) -> None:
    """The kept start's plane-wave labels (moments, energies, ladder level, ...) in ``record``."""
    pw = kept["result"].pw
    record["parallel"]["layout"] = kept["record"].get("layout", {})
    set_moments(record, pw.magmoms)
    record.update(
        status="ok",
        reason=None,
        energy=finite(pw.energy),
        free_energy=finite(pw.free_energy),
        fermi_level=finite(pw.fermi_level),
        work_function=finite(pw.work_function),
        work_function_bottom=finite(pw.work_function_bottom),
        ladder_level=pw.level,
        relaxed=pw.relaxed,
        scf_iterations={
            name: st["scf_iterations"]
            for name, st in record["stages"].items()
            if name != "prerelax"
        },
    )
    if pw.relaxed is False:
        log.warning(
            "plane-wave relaxation stopped after %d steps with max force %.3f eV/Å > fmax %.3f",
            pw.ionic_steps, pw.max_force, fmax,
        )  # fmt: skip


def label_slab(
    atoms, meta: Mapping, slab_id: str, settings: LabelSettings, workdir: str | Path
) -> dict:
    """The record of one slab (see the module docstring for what fails and what raises)."""
    dft = settings.dft
    check_prerelax_config(dft.prerelax)
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    record = new_record(slab_id, meta, settings.labeller)
    record["structure"] = structure_dict(atoms)
    t0 = time.perf_counter()
    try:
        if settings.labeller == "chgnet":
            label_with_chgnet(atoms, dft, workdir, record)
        else:
            _label_with_gpaw(atoms, dft, settings.initial_moments, workdir, record)
    except (MemoryError, KeyboardInterrupt, PrerelaxConfigError):
        raise
    except Exception as err:
        log.error("slab %s failed:\n%s", slab_id, traceback.format_exc())
        for key in ("magmoms", "abs_magmoms", "total_magmom"):
            record.pop(key, None)
        record.update(status="failed", reason=f"{type(err).__name__}: {err}")
    if settings.labeller == "gpaw":
        stage_times = {k: v["wall_time"] for k, v in record.get("stages", {}).items()}
        total = record.pop("wall_time_all_starts", float(sum(stage_times.values())))
        record["wall_time"] = {**stage_times, "total": total}
    record["wall_time_this_run"] = time.perf_counter() - t0
    log.info(
        "slab %s: %s%s", slab_id, record["status"],
        f" ({record['reason']})" if record["status"] == "failed" else "",
    )  # fmt: skip
    return record


def label_slab_in_db(
    db_path: str | Path, slab_id: str, settings: LabelSettings | Mapping, workdir: str | Path
) -> dict:
    """The record of ``slab_id`` in the initial-structure db ``db_path`` (:func:`label_slab`).

    ``settings`` may come as :meth:`LabelSettings.as_dict` (how the MPI ranks get them).
    """
    if not isinstance(settings, LabelSettings):
        settings = LabelSettings.from_dict(settings)
    atoms, meta = read_initial_slab(db_path, slab_id, settings.fixed_layers)
    return label_slab(atoms, meta, slab_id, settings, workdir)


def label_slab_from_db(
    db_path: str | Path,
    slab_id: str,
    settings: LabelSettings,
    workdir: str | Path,
    output: str | Path,
) -> dict:
    """:func:`label_slab_in_db` in this process, the record written to ``output``."""
    record = label_slab_in_db(db_path, slab_id, settings, workdir)
    write_record(output, record)
    return record


def label_slab_job(
    db_path: str | Path,
    slab_id: str,
    settings: LabelSettings,
    workdir: str | Path,
    output: str | Path,
    tasks: int = 1,
    launcher: str = "auto",
) -> dict:
    """Rule ``dft_slab``: label one slab, GPAW on ``tasks`` MPI ranks when it can (module doc).

    The pre-relaxation runs here, once, and is checkpointed; the ranks read the checkpoint.
    """

    def prerelax_once():
        atoms, _ = read_initial_slab(db_path, slab_id, settings.fixed_layers)
        check_prerelax_config(settings.dft.prerelax)
        Path(workdir).mkdir(parents=True, exist_ok=True)
        prerelax_checkpointed(atoms, settings.dft.prerelax, workdir)

    kwargs = {"db_path": str(db_path), "slab_id": slab_id, "settings": settings.as_dict(),
              "workdir": str(workdir)}  # fmt: skip
    return run_job(
        label_slab_in_db,
        kwargs,
        output,
        tasks,
        launcher,
        gpaw=settings.labeller == "gpaw",
        before_ranks=prerelax_once,
        write=write_record,
    )
