"""The per-slab record ``<results_dir>/dft/{slab_id}.json`` written by rule ``dft_slab``.

One JSON object per slab, whatever the labeller and whatever the outcome::

    schema_version  2 (1: before the equal-settings comparison of the starts; read alike)
    slab_id         the slab (key of <results_dir>/recipe/initial_slabs.db)
    meta            the slab's key-value pairs from the initial-structure db (composition_id,
                    comp_type, lattice, placement, variant, ...)
    status          "ok" | "failed"
    reason          null, or why the slab failed (ladder exhausted, the GPAW error, ...)
    labeller        "gpaw" | "chgnet";   surrogate: true for chgnet
    structure       final (or, when failed, last known) geometry: numbers, positions (Å),
                    cell (Å), pbc, fixed (indices under FixAtoms), tags
    magmoms         signed per-atom moments (μB) — ok records only; abs_magmoms = |magmoms|
    total_magmom    sum of the per-atom moments (μB)
    energy          eV (GPAW: extrapolated to zero smearing; chgnet: CHGNet energy)
    free_energy     eV (GPAW's force-consistent energy)
    fermi_level     eV;  work_function / work_function_bottom: eV (dipole-corrected GPAW slabs)
    spinpol         whether the calculation was spin-polarised
    initial_magmoms the initial moments (μB) of the start that was kept (GPAW)
    initial_moments ``dft.initial_moments`` (:mod:`magmom.dft.initial_moments`; the choice
                    at equal settings: :mod:`magmom.dft.equal_settings`):
                    ``policy``;
                    ``kept``: the start whose labels these are (null when every start failed);
                    ``kept_by``: equal_settings_energy | own_energy | only_start | null;
                    ``comparison``: "single" (one start ran) | "complete" | "partial" (a start
                    failed, did not finish relaxing, has no energy at the common level or
                    left its state there);
                    ``comparison_reasons``: why partial (list of str);
                    ``common_level``: {level 0, smearing, smearing_width (eV), eigenstates,
                    [density], [magmoms]}: the settings every start is compared at;
                    ``equal_settings_energies``: {start: eV or null} (empty for one start);
                    ``energy_gap``: eV from the kept start to the next-lowest at equal settings;
                    ``starts``: per start (``floor``, ``eos``, ``afm``; ``none`` without spin)
                    initial_magmoms, status ("ok" | "failed" | "skipped"), reason, energy (eV,
                    at its own ladder level), magmoms (final), total_magmom, ladder_level (of
                    its plane-wave stage; null when failed), relaxed (bool; null: single point),
                    stages, scf_attempts, scf_iterations ({lcao, pw, failed_levels}), layout, and
                    equal_settings: null (one start, or failed) or {level, source ("own": it
                    finished at the common level's settings | "single_point"), status, energy
                    (eV at the common level), magmoms (at the common level), max_abs_dm (vs its
                    own final moments), scf_iterations, wall_time, attempts, reason}; a skipped
                    start (the same moments as an earlier one, not run) names it in
                    ``duplicate_of``. The CHGNet surrogate has none (``note`` says why)
    ladder_level    ladder level at which the plane-wave stage finished (GPAW)
    relaxed         whether the final relaxation reached its fmax within its step budget; null
                    for a single point (``dft.relax.steps: 0``: no relaxation asked for)
    stages          per stage (prerelax, lcao, pw): wall_time (s), ionic_steps, scf_iterations
                    (total) and scf_iterations_per_step, level, max_force (eV/Å), ...
    scf_attempts    every (stage, ladder level) attempt: mixer, criterion, smearing, maxiter,
                    the GPAW realisation, SCF iterations per ionic step, outcome, error
    scf_iterations  {stage: total SCF iterations};  wall_time: {stage: s, "total": s} (the
                    stages of the kept start; the total over every start and its
                    equal-settings single point)
    versions        gpaw, ase, chgnet, numpy, python
    parameters      every setting of the labeller;  parameters_sha256: its SHA-256

Missing or non-finite numbers are ``null`` (JSON has no NaN).
"""

from __future__ import annotations

import json
import math
import platform
from collections.abc import Mapping
from importlib import metadata
from pathlib import Path

import numpy as np

from magmom.io import write_json

SCHEMA_VERSION = 2
STATUSES = ("ok", "failed")


def structure_dict(atoms) -> dict:
    """A JSON-able description of ``atoms`` (geometry, pbc, fixed atoms, tags)."""
    from ase.constraints import FixAtoms

    fixed: list[int] = []
    for c in atoms.constraints:
        if isinstance(c, FixAtoms):
            fixed.extend(int(i) for i in c.get_indices())
    return {
        "numbers": [int(z) for z in atoms.numbers],
        "positions": np.round(atoms.positions, 10).tolist(),
        "cell": np.round(np.asarray(atoms.cell), 10).tolist(),
        "pbc": [bool(p) for p in atoms.pbc],
        "fixed": sorted(set(fixed)),
        "tags": [int(t) for t in atoms.get_tags()],
    }


def atoms_from_structure(structure: Mapping):
    """The :class:`ase.Atoms` of a record's ``structure`` (FixAtoms and tags restored)."""
    from ase import Atoms
    from ase.constraints import FixAtoms

    atoms = Atoms(
        numbers=structure["numbers"],
        positions=structure["positions"],
        cell=structure["cell"],
        pbc=structure["pbc"],
        tags=structure.get("tags"),
    )
    if structure.get("fixed"):
        atoms.set_constraint(FixAtoms(indices=structure["fixed"]))
    return atoms


def finite(x) -> float | None:
    """``float(x)`` when finite, else None (records hold no NaN/inf)."""
    if x is None:
        return None
    x = float(x)
    return x if math.isfinite(x) else None


def versions() -> dict:
    out = {"python": platform.python_version()}
    for pkg in ("gpaw", "ase", "chgnet", "numpy"):
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            out[pkg] = None
    return out


def new_record(slab_id: str, meta: Mapping, labeller: str) -> dict:
    """The fields every record has; the labeller fills in the rest."""
    return {
        "schema_version": SCHEMA_VERSION,
        "slab_id": str(slab_id),
        "meta": {k: _plain(v) for k, v in meta.items()},
        "status": "failed",
        "reason": "not finished",
        "labeller": labeller,
        "surrogate": labeller != "gpaw",
        "versions": versions(),
    }


def set_moments(record: dict, magmoms) -> None:
    m = np.asarray(magmoms, dtype=float)
    if not np.all(np.isfinite(m)):
        raise ValueError(f"slab {record['slab_id']}: non-finite magnetic moments {m.tolist()}")
    record["magmoms"] = m.tolist()
    record["abs_magmoms"] = np.abs(m).tolist()
    record["total_magmom"] = float(m.sum())


def _plain(v):
    if isinstance(v, np.generic):
        return v.item()
    return v


def write_record(path: str | Path, record: Mapping) -> None:
    """Atomically write ``record`` (checked first: a malformed record is a bug, not a slab)."""
    check_record(record, str(path))
    write_json(path, record)


def check_record(record: Mapping, where: str = "record") -> None:
    """Raise ``ValueError`` naming ``where`` when ``record`` breaks the format above."""
    for key in ("schema_version", "slab_id", "status", "labeller", "meta"):
        if key not in record:
            raise ValueError(f"{where}: missing key {key!r}")
    if record["status"] not in STATUSES:
        raise ValueError(f"{where}: status {record['status']!r} is not one of {STATUSES}")
    if record["status"] == "ok":
        for key in ("structure", "magmoms"):
            if key not in record:
                raise ValueError(f"{where}: an ok record needs {key!r}")
        n = len(record["structure"]["numbers"])
        if len(record["magmoms"]) != n or len(record["structure"]["positions"]) != n:
            raise ValueError(
                f"{where}: {n} atoms but {len(record['magmoms'])} moments and "
                f"{len(record['structure']['positions'])} positions"
            )
    elif not record.get("reason"):
        raise ValueError(f"{where}: a failed record needs a reason")


def read_record(path: str | Path) -> dict:
    """Read and check one record; errors name the file."""
    try:
        with open(path) as fh:
            record = json.load(fh)
    except json.JSONDecodeError as err:
        raise ValueError(f"{path}: not valid JSON ({err})") from err
    if not isinstance(record, dict):
        raise ValueError(f"{path}: expected a JSON object")
    check_record(record, str(path))
    return record


def read_records(paths) -> list[dict]:
    """Every record of ``paths`` (files, or directories whose ``*.json`` are read), sorted by
    slab id; a malformed file is an error naming it."""
    files: list[Path] = []
    for p in map(Path, paths):
        files.extend(sorted(p.glob("*.json")) if p.is_dir() else [p])
    if not files:
        raise FileNotFoundError(f"no record (*.json) in {', '.join(map(str, paths))}")
    return sorted((read_record(f) for f in files), key=lambda r: r["slab_id"])
