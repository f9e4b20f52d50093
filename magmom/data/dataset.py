"""The labelled dataset ``<results_dir>/dataset/{name}.db`` (contract: docs/architecture.md).

An ASE SQLite db with one row per successfully labelled slab:

* ``row.toatoms()``: the final structure (pbc T,T,F; FixAtoms and tags kept);
* ``row.data["magmoms"]``: float64 ``(n_atoms,)`` **signed** per-atom moments (μB);
* key-value pairs ``slab_id``, ``composition_id``, ``comp_type``, ``lattice``, ``placement``,
  ``variant``, ``labeller`` (gpaw | chgnet | imported), ``spinpol``, and when known
  ``fermi_level``, ``work_function`` (eV) and ``start_comparison`` (GPAW labels: single |
  complete | partial, how the initial-moment starts were compared,
  :mod:`magmom.dft.equal_settings`) and ``parameters_sha256`` (the hash of the labeller's
  settings, :mod:`magmom.dft.record`);
* ``energy`` (eV): ASE reserves the key ``energy`` for the calculator's energy, so it is stored
  through a single-point calculator (``row.energy``); :func:`iter_labelled_slabs` puts it into
  ``meta["energy"]``. Unknown energies are omitted, never NaN;
* ``db.metadata``: ``{"name", "labellers", "surrogate", "schema_version"}``.

Imported datasets may hold ``lattice: unknown`` where neither the source nor the geometry fixes
the lattice (:mod:`magmom.data.importers`).

Beside the db, every producer writes ``{name}-failures.csv`` (:data:`FAILURE_COLUMNS`: one row per
slab or record that did not make it into the db, with the reason) and ``{name}-summary.json``
(:func:`summarise`: counts per type / lattice / status, moment distribution per element).
"""

from __future__ import annotations

import contextlib
import csv
import io
import logging
import math
import os
import shutil
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from magmom.io import atomic_path, write_json, write_text
from magmom.layout import (
    COMPOSITION_TYPES,
    DATASET_LABELLERS,
    DATASET_LATTICES,
    SURROGATE_LABELLERS,
)

log = logging.getLogger(__name__)

SCHEMA_VERSION = 1
REQUIRED_KEYS: tuple[str, ...] = (
    "slab_id", "composition_id", "comp_type", "lattice", "placement", "variant", "labeller",
    "spinpol",
)  # fmt: skip
OPTIONAL_FLOAT_KEYS: tuple[str, ...] = ("fermi_level", "work_function")
OPTIONAL_STR_KEYS: tuple[str, ...] = ("start_comparison", "parameters_sha256")
FAILURE_COLUMNS: tuple[str, ...] = (
    "slab_id", "composition_id", "comp_type", "lattice", "status", "labeller", "source", "reason",
)  # fmt: skip


class DatasetError(ValueError):
    """A slab or a dataset file breaks the contract; the message names the file and the slab."""


@dataclass
class LabelledSlab:
    """One dataset row: the final structure, its signed moments (μB) and its key-value pairs."""

    atoms: object  # ase.Atoms
    magmoms: np.ndarray
    meta: dict = field(default_factory=dict)


def check_labelled_slab(slab: LabelledSlab, where: str = "slab") -> None:
    """Raise :class:`DatasetError` naming ``where`` when ``slab`` breaks the contract."""
    meta = slab.meta
    sid = meta.get("slab_id", "?")
    where = f"{where} (slab {sid!r})"
    missing = [k for k in REQUIRED_KEYS if k not in meta or meta[k] is None or meta[k] == ""]
    if missing:
        raise DatasetError(f"{where}: missing key(s) {', '.join(missing)}")
    if meta["comp_type"] not in COMPOSITION_TYPES:
        raise DatasetError(
            f"{where}: comp_type {meta['comp_type']!r} is not one of {', '.join(COMPOSITION_TYPES)}"
        )
    if meta["lattice"] not in DATASET_LATTICES:
        raise DatasetError(
            f"{where}: lattice {meta['lattice']!r} is not one of {', '.join(DATASET_LATTICES)}"
        )
    if meta["labeller"] not in DATASET_LABELLERS:
        raise DatasetError(
            f"{where}: labeller {meta['labeller']!r} is not one of {', '.join(DATASET_LABELLERS)}"
        )
    m = np.asarray(slab.magmoms)
    n = len(slab.atoms)
    if n == 0:
        raise DatasetError(f"{where}: no atoms")
    if m.shape != (n,):
        raise DatasetError(f"{where}: {n} atoms but magmoms of shape {m.shape}")
    if not np.all(np.isfinite(m)):
        raise DatasetError(f"{where}: non-finite magnetic moment(s) at atom(s) "
                           f"{np.flatnonzero(~np.isfinite(m)).tolist()}")  # fmt: skip
    if not np.all(np.isfinite(slab.atoms.positions)):
        raise DatasetError(f"{where}: non-finite positions")
    for key in ("energy", *OPTIONAL_FLOAT_KEYS):
        value = meta.get(key)
        if value is not None and not math.isfinite(float(value)):
            raise DatasetError(f"{where}: {key} is {value} (omit unknown values, never NaN)")


def _key_value_pairs(meta: Mapping) -> dict:
    kvp = {k: meta[k] for k in REQUIRED_KEYS}
    kvp["slab_id"] = str(kvp["slab_id"])
    kvp["variant"] = int(kvp["variant"])
    kvp["spinpol"] = bool(kvp["spinpol"])
    for key in OPTIONAL_FLOAT_KEYS:
        if meta.get(key) is not None:
            kvp[key] = float(meta[key])
    for key in OPTIONAL_STR_KEYS:
        if meta.get(key) is not None:
            kvp[key] = str(meta[key])
    return kvp


def write_dataset(
    path: str | Path, slabs: Iterable[LabelledSlab], name: str, progress: bool = True
) -> dict:
    """Atomically write ``slabs`` to the ASE db ``path``; return its metadata.

    Each slab is checked (:func:`check_labelled_slab`); slab ids must be unique.
    """
    from ase.calculators.singlepoint import SinglePointCalculator
    from ase.db import connect
    from tqdm import tqdm

    seen: set[str] = set()
    labellers: Counter[str] = Counter()
    with atomic_path(path) as tmp:
        db = connect(str(tmp), type="db", append=False)
        with db:
            for slab in tqdm(slabs, desc="writing dataset", unit="slab", disable=not progress):
                check_labelled_slab(slab, str(path))
                sid = str(slab.meta["slab_id"])
                if sid in seen:
                    raise DatasetError(f"{path}: slab id {sid!r} occurs twice")
                seen.add(sid)
                labellers[slab.meta["labeller"]] += 1
                atoms = slab.atoms.copy()
                atoms.calc = None
                atoms.set_initial_magnetic_moments(None)
                atoms.pbc = (True, True, False)
                if slab.meta.get("energy") is not None:
                    atoms.calc = SinglePointCalculator(atoms, energy=float(slab.meta["energy"]))
                db.write(
                    atoms,
                    key_value_pairs=_key_value_pairs(slab.meta),
                    data={"magmoms": np.asarray(slab.magmoms, dtype=np.float64)},
                )
        metadata = {
            "name": name,
            "schema_version": SCHEMA_VERSION,
            "labellers": dict(sorted(labellers.items())),
            "surrogate": bool(SURROGATE_LABELLERS & set(labellers)),
            "n_slabs": len(seen),
        }
        db.metadata = metadata
    return metadata


def iter_labelled_slabs(path: str | Path) -> Iterator[LabelledSlab]:
    """Every row of the dataset ``path`` as a :class:`LabelledSlab`, in insertion order."""
    from ase.db import connect

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"dataset {path} does not exist")
    db = connect(str(path), type="db")
    for row in db.select(sort="id"):
        meta = dict(row.key_value_pairs)
        energy = row.get("energy")
        if energy is not None:
            meta["energy"] = float(energy)
        try:
            magmoms = np.asarray(row.data["magmoms"], dtype=np.float64)
        except (KeyError, AttributeError):
            raise DatasetError(
                f"{path}: row {row.id} (slab {meta.get('slab_id')!r}) has no data['magmoms']"
            ) from None
        atoms = row.toatoms()
        atoms.calc = None
        yield LabelledSlab(atoms=atoms, magmoms=magmoms, meta=meta)


def read_metadata(path: str | Path) -> dict:
    from ase.db import connect

    return dict(connect(str(path), type="db").metadata)


# ---- failures table and summary --------------------------------------------------------------
def write_failures(path: str | Path, failures: Iterable[Mapping]) -> int:
    """Write the failures table (``FAILURE_COLUMNS``, sorted by slab id); return its rows."""
    rows = sorted(
        ({c: "" if f.get(c) is None else str(f.get(c)) for c in FAILURE_COLUMNS} for f in failures),
        key=lambda r: (r["slab_id"], r["source"]),
    )
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=FAILURE_COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    write_text(path, buf.getvalue())
    return len(rows)


def read_failures(path: str | Path) -> list[dict]:
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def _stats(values: list[float]) -> dict:
    a = np.asarray(values, dtype=float)
    q = np.quantile(a, [0.05, 0.25, 0.5, 0.75, 0.95])
    return {
        "n_atoms": int(a.size),
        "mean": float(a.mean()),
        "std": float(a.std()),
        "min": float(a.min()),
        "max": float(a.max()),
        "q05": float(q[0]),
        "q25": float(q[1]),
        "median": float(q[2]),
        "q75": float(q[3]),
        "q95": float(q[4]),
    }


def summarise(slabs: Iterable[LabelledSlab], failures: Iterable[Mapping], name: str) -> dict:
    """Counts per type / lattice / status and the moment distribution per element.

    ``moments_by_element[el]``: statistics of |m| (``abs``) and of the signed m (``signed``),
    plus the fraction of atoms with a negative moment (antiparallel to the slab's majority).
    """
    from ase.data import chemical_symbols

    by_type: dict[str, Counter] = defaultdict(Counter)
    by_lattice: dict[str, Counter] = defaultdict(Counter)
    labellers: Counter[str] = Counter()
    absm: dict[str, list[float]] = defaultdict(list)
    signed: dict[str, list[float]] = defaultdict(list)
    n_ok = n_atoms = 0
    for slab in slabs:
        n_ok += 1
        n_atoms += len(slab.atoms)
        by_type[slab.meta["comp_type"]]["ok"] += 1
        by_lattice[slab.meta["lattice"]]["ok"] += 1
        labellers[slab.meta["labeller"]] += 1
        for z, m in zip(slab.atoms.numbers, slab.magmoms, strict=True):
            el = chemical_symbols[int(z)]
            absm[el].append(abs(float(m)))
            signed[el].append(float(m))
    statuses: Counter[str] = Counter({"ok": n_ok})
    for f in failures:
        status = f.get("status") or "failed"
        statuses[status] += 1
        by_type[f.get("comp_type") or "unknown"][status] += 1
        by_lattice[f.get("lattice") or "unknown"][status] += 1
    moments = {
        el: {
            "abs": _stats(absm[el]),
            "signed": _stats(signed[el]),
            "negative_fraction": float(np.mean(np.asarray(signed[el]) < 0)),
        }
        for el in sorted(absm)
    }
    return {
        "name": name,
        "schema_version": SCHEMA_VERSION,
        "labellers": dict(sorted(labellers.items())),
        "surrogate": bool(SURROGATE_LABELLERS & set(labellers)),
        "n_slabs": n_ok,
        "n_atoms": n_atoms,
        "status": dict(sorted(statuses.items())),
        "by_type": {t: dict(sorted(c.items())) for t, c in sorted(by_type.items())},
        "by_lattice": {t: dict(sorted(c.items())) for t, c in sorted(by_lattice.items())},
        "moments_by_element": moments,
    }


def write_dataset_files(
    outputs: Mapping[str, str | Path],
    slabs: list[LabelledSlab],
    failures: list[Mapping],
    name: str,
    extra_summary: Mapping | None = None,
) -> dict:
    """Write ``outputs["db"]``, ``outputs["failures"]`` and ``outputs["summary"]``.

    The three files are built in a staging folder beside the outputs and moved into place only
    once all three are complete, so an error leaves the previous dataset files as they were. A
    dataset without a single slab is an error (listing the first failures' reasons).
    """
    if not slabs:
        reasons = "; ".join(f"{f.get('slab_id')}: {f.get('reason')}" for f in failures[:5])
        raise DatasetError(
            f"no slab made it into the dataset ({len(failures)} failed"
            + (f"; first: {reasons}" if reasons else "")
            + ")"
        )
    targets = {k: Path(outputs[k]) for k in ("db", "failures", "summary")}
    targets["db"].parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{targets['db'].name}.new-", dir=targets["db"].parent))
    try:
        staged = {k: staging / path.name for k, path in targets.items()}
        write_failures(staged["failures"], failures)
        write_dataset(staged["db"], slabs, name)
        summary = summarise(slabs, failures, name)
        summary.update(extra_summary or {})
        write_json(staged["summary"], summary)
        for key, path in targets.items():
            path.parent.mkdir(parents=True, exist_ok=True)
            os.replace(staged[key], path)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return summary


def publish_dataset(staged: Mapping[str, str | Path], outputs: Mapping[str, str | Path]) -> None:
    """Put the staged dataset files in place: each ``outputs[k]`` becomes a hard link to
    ``staged[k]`` (a copy where the file system has no hard links), renamed over the target.

    Every output then gets one common modification time, "now": a hard link shares its staged
    file's mtime, and the staged files were written one after the other, so without it the first
    output would look older than a later staged input and Snakemake would reject the job.
    """
    for key, target in outputs.items():
        source, target = Path(staged[key]), Path(target)
        with atomic_path(target) as tmp:
            try:
                os.link(source, tmp)
            except OSError:
                shutil.copy2(source, tmp)
        log.info("published %s -> %s", source, target)
    now = time.time_ns()
    for target in outputs.values():
        os.utime(target, ns=(now, now))


@contextlib.contextmanager
def keeping_previous(previous: str | Path, what: str) -> Iterator[None]:
    """Say, when the block fails, whether the previous dataset ``previous`` is still in place.

    ``what`` names the input for the message (e.g. the source file and its config key). A
    :class:`DatasetError` is re-raised with ``what`` and the note in its message; any other
    error gets the note attached (``add_note``).
    """
    previous = Path(previous)
    try:
        yield
    except Exception as exc:
        note = (
            f"the previous dataset {previous} (with its failures and summary files) is left as "
            "it was"
            if previous.exists()
            else f"no dataset was written ({previous} does not exist)"
        )
        log.error("%s: %s; %s", what, exc, note)
        if isinstance(exc, DatasetError):
            raise DatasetError(f"{what}: {exc}; {note}") from exc
        exc.add_note(f"{what}: {note}")
        raise
