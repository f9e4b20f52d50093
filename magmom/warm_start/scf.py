r"""The SCF runs of one slab from every start, and whether each reached the converged state.

Every start runs the same GPAW single point: the slab's labelled geometry, the plane-wave
parameters of the labeller (:func:`magmom.dft.gpaw_params.planewave_params`, with
``warm_start.planewave`` overriding ``dft.planewave`` keys for cheap presets) and the SCF ladder
(:func:`magmom.dft.scf_ladder.converge_single_point`: a level that fails hands over to the next).
Only the initial moments differ.

Recorded per start: ``scf_iterations`` (of the level that converged), ``total_scf_iterations``
(failed levels counted at their ``maxiter``), ``ladder_level``, ``wall_time`` (s, every attempt
of the SCF), ``start_time`` (s to compute the start: the model's prediction, ``start_time`` of the
``starts.json`` entry; 0 for the table, uniform and converged starts; null for the model when the
entry predates it), ``energy`` (eV), ``final_magmoms`` (μB), and against the run from the
converged moments
(the *best case*, start ``converged``), both at one common level
(:mod:`magmom.dft.equal_settings`: ladder level 0's smearing width and criteria; a run that
converged on a higher level gets one single point there from its final moments, recorded as
``equal_settings``, so that two runs are never called different states because they ended at
different smearing widths):

.. math::
    \Delta m_{\max} = \max_a |m^{\mathrm{eq}}_a - m_a^{\mathrm{eq,best}}|, \qquad
    \Delta E = E^{\mathrm{eq}} - E^{\mathrm{eq,best}}, \qquad
    \text{same state} \iff \Delta m_{\max} \le \delta_m \ \wedge\ |\Delta E| \le \delta_E

(``warm_start.same_state``: :math:`\delta_m` = ``max_abs_dm`` μB, :math:`\delta_E` =
``max_abs_de`` eV; ``same_state`` is null when either run has no energy at the common level;
``state``: ``same``, or ``lower``, ``higher`` or ``degenerate`` by :math:`\Delta E` against
:math:`\pm\delta_E`, :func:`magmom.warm_start.final_state`; ``de_own_level`` keeps
:math:`E - E^{\mathrm{best}}` at the levels the runs converged on).
``warm_start.maxiter`` caps every ladder level's ``maxiter`` (a bound on the run time for cheap
presets: a start that needs more fails and is reported so). When the slab's label is not DFT,
the ``eos`` run is the reference SCF: its converged moments become the ``converged``
start (``converged_source: reference_scf``). When it is a GPAW label, the record's
``label_settings`` says whether the experiment ran at the label's own settings (``equal``) or
not (``different``: the label's moments are then converged at other settings, and the runs are
compared with a run from them, not with the label; :func:`label_settings`).

Each finished run is kept in ``{workdir}/{start}.json`` (its single point at the common level in
``{workdir}/{start}-equal.json``), so a killed job resumes with the next start, and a slab whose
work directory holds the runs of an older set of starts runs only the new ones; GPAW's text logs
are ``{workdir}/{start}-L{level}.txt`` (``{start}-equal-L{level}.txt``). A run kept under the old
name of its start (``eos_table.json``, :data:`magmom.warm_start.OLD_START_NAMES`) is resumed too.

**Starts with the same moments run once.** A start whose moments equal, within
:data:`magmom.dft.initial_moments.DUPLICATE_TOLERANCE` μB on every atom, those of a start run
before it (:data:`ORDER`; e.g. ``floor`` and ``eos`` on a slab whose table moments all reach
their floors) is not run: its entry is that run's, with ``duplicate_of`` naming it (and no file
of its own in ``workdir``). Unlike the labeller's starts, a global spin flip is no duplicate
here: the final moments are compared with the converged run's, sign included.

**MPI.** :func:`run_slab_job` (the rule's entry point) runs the SCFs on ``dft.resources.tasks``
MPI ranks like a ``dft_slab`` job (:func:`magmom.dft.parallel.run_job`; serial with one
task or a GPAW without MPI). Every run records its process layout (``layout``: world size,
k-point/domain/band split, chosen per start since the moments set the symmetry); the record's
``parallel`` holds the world size, the GPAW build and the layout of each start.
"""

from __future__ import annotations

import copy
import json
import logging
import os
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from magmom.dft.initial_moments import EOS, FLOOR, MATERIALS_PROJECT, same_start
from magmom.dft.parallel import gpaw_build, is_master, run_job, world
from magmom.dft.settings import DftSettings
from magmom.io import write_json
from magmom.warm_start import (
    OLD_START_NAMES,
    STARTS,
    complete_starts,
    current_starts_entry,
    final_state,
)

log = logging.getLogger(__name__)

SCHEMA_VERSION = 4
"""4: the starts ``floor`` and ``materials_project``, ``duplicate_of``, ``start_time`` and
``state``; 3 holds the four other starts (still read; :func:`run_slab` adds the new starts to a
work directory of schema 3); 3: the EOS-table start is ``eos``; schema 2 called it ``eos_table``
(still read, :data:`magmom.warm_start.OLD_START_NAMES`)."""

ORDER = (EOS, "converged", "model", "uniform", FLOOR, MATERIALS_PROJECT)
"""The order the starts run in: the EOS-table run first, since it is the reference SCF when the
slab's label is not DFT; the starts added in schema 4 last, so that an older job resumes with its
own starts first."""

FREE_STARTS = (EOS, FLOOR, MATERIALS_PROJECT, "uniform", "converged")
"""Starts that cost nothing to compute (a table look-up, or moments given): ``start_time`` 0."""


def kept_run(workdir: Path, name: str, suffix: str = "") -> Path:
    """``{workdir}/{name}{suffix}.json``, where run ``name`` is kept; the file of the start's old
    name (:data:`magmom.warm_start.OLD_START_NAMES`) when only that one exists."""
    path = workdir / f"{name}{suffix}.json"
    for old in (k for k, v in OLD_START_NAMES.items() if v == name):
        legacy = workdir / f"{old}{suffix}.json"
        if not path.exists() and legacy.is_file():
            return legacy
    return path


def experiment_dft(
    dft: DftSettings, planewave_overrides: Mapping | None, maxiter: int | None = None
) -> DftSettings:
    """``dft`` with ``warm_start.planewave`` overrides applied to ``dft.planewave`` and every
    ladder level's ``maxiter`` capped at ``warm_start.maxiter`` (when set)."""
    return dft.with_planewave(planewave_overrides, "warm_start.planewave").with_maxiter_cap(maxiter)


def _run_one(atoms, moments, base, smearing, ladder, txt_prefix: Path) -> dict:
    from magmom.dft.parallel import gpaw_parallel, slab_layout
    from magmom.dft.scf_ladder import SinglePointFailed, converge_single_point

    start = atoms.copy()
    start.set_initial_magnetic_moments(np.asarray(moments, dtype=np.float64))
    layout = slab_layout(start, base, world().size)  # the moments set the k-point symmetry
    try:
        energy, final, attempts = converge_single_point(
            start, base, smearing, ladder, str(txt_prefix), parallel=gpaw_parallel(layout)
        )
    except SinglePointFailed as err:
        attempts, energy, final = err.attempts, None, None
    converged = attempts[-1] if attempts and attempts[-1]["outcome"] == "converged" else None
    return {
        "status": "ok" if converged else "failed",
        "initial_magmoms": [float(m) for m in moments],
        "energy": energy,
        "final_magmoms": final,
        "scf_iterations": converged["scf_iterations"] if converged else None,
        "total_scf_iterations": int(
            sum(
                a["scf_iterations"] if a["outcome"] == "converged" else a["maxiter"]
                for a in attempts
            )
        ),
        "ladder_level": converged["level"] if converged else None,
        "wall_time": float(sum(a["wall_time"] for a in attempts)),
        "layout": layout,
        "attempts": attempts,
    }


def at_common_level(run: dict, atoms, base, smearing, ladder, workdir: Path, name: str) -> dict:
    """``run``'s entry at the common level (:func:`magmom.dft.equal_settings.at_common_level`):
    its own energy when it converged at level 0's settings, else one single point from its final
    moments at level 0's smearing and criteria (kept in ``{workdir}/{name}-equal.json``). Its
    cost is in the entry's ``wall_time``, not in the run's (the start's own cost)."""
    from magmom.dft.equal_settings import at_common_level as common
    from magmom.dft.parallel import gpaw_parallel, slab_layout

    final = atoms.copy()
    final.set_initial_magnetic_moments(np.asarray(run["final_magmoms"], dtype=np.float64))
    layout = slab_layout(final, base, world().size)
    return common(
        final,
        run["final_magmoms"],
        int(run["ladder_level"]),
        run["energy"],
        base,
        smearing,
        ladder,
        workdir / f"{name}-equal",
        parallel=gpaw_parallel(layout),
        cache=kept_run(workdir, name, "-equal"),
    )


def compare_to_best(runs: dict, max_abs_dm: float, max_abs_de: float) -> None:
    """Add ``max_abs_dm``, ``mean_abs_dm``, ``de``, ``de_own_level``, ``same_state`` and
    ``state`` to every run (in place), comparing the energies and moments of its
    ``equal_settings`` entry (the common level, module docstring); ``de_own_level``: the energy
    difference at the levels the runs converged on, for reference. No entry at the common level:
    ``same_state`` and ``state`` are None."""
    best = runs.get("converged")
    for run in runs.values():
        blank = dict(
            max_abs_dm=None, mean_abs_dm=None, de=None, de_own_level=None, same_state=None,
            state=None,
        )  # fmt: skip
        if run["status"] != "ok" or best is None or best["status"] != "ok":
            run.update(blank)
            continue
        run["de_own_level"] = float(run["energy"] - best["energy"])
        eq, eq_best = run.get("equal_settings") or {}, best.get("equal_settings") or {}
        if eq.get("energy") is None or eq_best.get("energy") is None:
            run.update({**blank, "de_own_level": run["de_own_level"]})
            continue
        dm = np.abs(np.asarray(eq["magmoms"]) - np.asarray(eq_best["magmoms"]))
        de = float(eq["energy"] - eq_best["energy"])
        run.update(
            max_abs_dm=float(dm.max()),
            mean_abs_dm=float(dm.mean()),
            de=de,
            same_state=bool(dm.max() <= max_abs_dm and abs(de) <= max_abs_de),
        )
        run["state"] = final_state(run["same_state"], de, max_abs_de)


def label_settings(
    entry: Mapping, atoms, dft: DftSettings, settings: Mapping, spinpol: bool
) -> str | None:
    """Whether the experiment runs at the settings of the slab's GPAW label: ``equal`` when
    ``dft`` with the ``warm_start.planewave`` overrides hashes as the label did
    (:func:`magmom.dft.label.settings_sha256` against the entry's ``label_parameters_sha256``),
    ``different`` when not, None when the converged start is no DFT label or its hash is
    unknown. The ``warm_start.maxiter`` cap is left out: it moves no converged state, it only
    makes a slow start fail (the record's ``scf_ladder`` shows it)."""
    label_sha = entry.get("label_parameters_sha256")
    if label_sha is None:
        return None
    from magmom.dft.label import settings_sha256

    own = dft.with_planewave(settings.get("planewave"), "warm_start.planewave")
    return "equal" if settings_sha256(atoms, own, spinpol) == label_sha else "different"


def same_moments_run(moments, runs: Mapping[str, Mapping]) -> str | None:
    """The first of ``runs`` that started from ``moments`` (within
    :data:`magmom.dft.initial_moments.DUPLICATE_TOLERANCE` on every atom, sign included), or
    None."""
    return next(
        (
            name
            for name, run in runs.items()
            if run.get("initial_magmoms") is not None
            and same_start(run["initial_magmoms"], moments, up_to_sign=False)
        ),
        None,
    )


def run_slab(
    slab_id: str,
    entry: Mapping,
    dft: DftSettings,
    settings: Mapping,
    workdir: str | os.PathLike,
) -> dict:
    """Every start of one slab of ``starts.json`` (``entry``): the slab's record."""
    from magmom.dft.gpaw_params import planewave_params
    from magmom.dft.record import atoms_from_structure
    from magmom.dft.scf_ladder import ladder_from_config
    from magmom.elements import is_spin_polarised

    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    entry = complete_starts(
        current_starts_entry(entry, f"starts of slab {slab_id}"), f"starts of slab {slab_id}"
    )
    atoms = atoms_from_structure(entry["structure"])
    spinpol = is_spin_polarised(atoms.get_chemical_symbols())
    at_label = label_settings(entry, atoms, dft, settings, spinpol)
    dft = experiment_dft(dft, settings.get("planewave"), settings.get("maxiter"))
    base = planewave_params(dft.planewave, atoms, spinpol)
    ladder = ladder_from_config(dft.scf_ladder)
    smearing = dft.planewave.smearing
    starts = dict(entry["starts"])
    runs: dict[str, dict] = {}
    duplicates: dict[str, str] = {}  # start -> the earlier run with the same moments
    for name in ORDER:
        if starts[name] is None:  # converged moments from the reference SCF
            reference = runs[EOS]
            if reference["status"] != "ok":
                runs[name] = {"status": "failed", "reason": "the reference SCF failed"}
                continue
            starts[name] = reference["final_magmoms"]
        done = kept_run(workdir, name)
        kept = json.loads(done.read_text()) if done.is_file() else None
        if kept is not None and not same_start(
            kept.get("initial_magmoms") or [], starts[name], up_to_sign=False
        ):
            log.warning(
                "%s %s: the run kept in %s started from other moments (a retrained model?); "
                "running it again",
                slab_id, name, done,
            )  # fmt: skip
            kept = None
        if kept is not None:
            runs[name] = kept
            log.info("%s %s: resumed from %s", slab_id, name, done)
        else:
            twin = same_moments_run(starts[name], runs)
            if twin is not None:
                duplicates[name] = twin
                log.info(
                    "%s %s: the same moments as the %s start, its run reused", slab_id, name, twin
                )
                continue
            log.info("%s: SCF from the %s start (%d atoms)", slab_id, name, len(atoms))
            runs[name] = _run_one(atoms, starts[name], base, smearing, ladder, workdir / name)
            if is_master():
                write_json(done, runs[name])
        run = runs[name]
        log.info(
            "%s %s: %s, %s SCF iterations (level %s), %.1f s, E = %s eV",
            slab_id,
            name,
            run["status"],
            run.get("scf_iterations"),
            run.get("ladder_level"),
            run.get("wall_time", float("nan")),
            run.get("energy"),
        )
    reference_ok = runs["converged"].get("status") == "ok"  # else nothing to compare with
    for name, run in runs.items():  # the runs of duplicates are copied below
        if reference_ok and run["status"] == "ok" and "equal_settings" not in run:
            run["equal_settings"] = at_common_level(
                run, atoms, base, smearing, ladder, workdir, name
            )
    for name, twin in duplicates.items():
        runs[name] = {**copy.deepcopy(runs[twin]), "duplicate_of": twin}
    start_time = entry.get("start_time", {})
    for name, run in runs.items():
        run["start_time"] = start_time.get(name, 0.0 if name in FREE_STARTS else None)
    same = settings.get("same_state", {})
    compare_to_best(runs, float(same.get("max_abs_dm", 0.1)), float(same.get("max_abs_de", 0.01)))
    return {
        "schema_version": SCHEMA_VERSION,
        "slab_id": slab_id,
        "n_atoms": entry["n_atoms"],
        "formula": entry["formula"],
        "labeller": entry["labeller"],
        "converged_source": entry["converged_source"],
        "label_settings": at_label,
        "spinpol": bool(spinpol),
        "gpaw": {k: v for k, v in base.items() if k != "txt"},
        "parallel": {
            "world_size": int(world().size),
            "gpaw_build": gpaw_build(),
            "layout": {name: run["layout"] for name, run in runs.items() if "layout" in run},
        },
        "scf_ladder": dft.ladder_config(),
        "runs": {name: runs[name] for name in STARTS},
    }


def run_slab_job(
    starts_path: str | os.PathLike,
    slab_id: str,
    dft: DftSettings,
    settings: Mapping,
    workdir: str | os.PathLike,
    output: str | os.PathLike,
    tasks: int = 1,
    launcher: str = "auto",
) -> dict:
    """Rule ``warm_start_slab``: slab ``slab_id`` of ``starts.json`` from every start, GPAW on
    ``tasks`` MPI ranks when it can (module docstring); the record, written to ``output``."""
    entry = current_starts_entry(
        json.loads(Path(starts_path).read_text())["slabs"][slab_id],
        f"{starts_path}: slab {slab_id}",
    )
    kwargs = {
        "slab_id": slab_id,
        "entry": entry,
        "dft": dft.config(),  # plain data for the MPI ranks; run_slab_from_config reads it
        "settings": dict(settings),
        "workdir": str(workdir),
    }
    return run_job(run_slab_from_config, kwargs, output, tasks, launcher)


def run_slab_from_config(slab_id: str, entry: Mapping, dft: Mapping, settings: Mapping, workdir):
    """:func:`run_slab` with ``dft`` as the config spells it (how :func:`run_slab_job` hands
    the settings to the MPI ranks)."""
    return run_slab(slab_id, entry, DftSettings.from_config(dft), settings, workdir)
