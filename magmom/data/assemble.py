"""Per-slab DFT records → the labelled dataset (rule ``assemble_dataset``).

Every ``<results_dir>/dft/{slab_id}.json`` of the configured slabs is read
(:func:`magmom.dft.record.read_record`). An ``ok`` record becomes a dataset row: its final
structure, its signed moments, the slab's key-value pairs from the initial-structure db
(``composition_id``, ``comp_type``, ``lattice``, ``placement``, ``variant``) and the labeller's
(``labeller``, ``spinpol``, ``energy``, ``fermi_level``, ``work_function``, and
``start_comparison``: how its initial-moment starts were compared; ``parameters_sha256``: the
hash of the labeller's settings, which the warm-start experiment compares with its own). The
summary counts the labelled slabs per ``start_comparison`` (``not_recorded`` where the record
has none) and lists the slabs whose comparison was partial (``start_comparison_partial``). A
``failed`` record, or an ``ok`` record whose content breaks the dataset contract (status
``invalid``), becomes a row of the failures table instead — the assembly itself still succeeds.
A record that is not a valid record at all (unreadable JSON, missing keys, another slab's id) is
an error naming the file: it means the record was not written by ``dft_slab``.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterable, Mapping
from pathlib import Path

import numpy as np

from magmom.dft.record import atoms_from_structure, read_record

from .dataset import (
    DatasetError,
    LabelledSlab,
    check_labelled_slab,
    keeping_previous,
    write_dataset_files,
)

log = logging.getLogger(__name__)

META_KEYS = ("composition_id", "comp_type", "lattice", "placement", "variant")
# the summary's count of a record's ``relaxed``: a single point (dft.relax.steps 0) has None
RELAXED_KEYS = {True: "True", False: "False", None: "single_point"}


def labelled_slab_from_record(record: Mapping, where: str) -> LabelledSlab:
    """The dataset row of an ``ok`` record (checked against the contract)."""
    meta = {"slab_id": record["slab_id"]}
    src = record.get("meta", {})
    for key in META_KEYS:
        if key in src:
            meta[key] = src[key]
    meta["labeller"] = record["labeller"]
    meta["spinpol"] = bool(record.get("spinpol", src.get("spinpol", False)))
    for key in ("energy", "fermi_level", "work_function"):
        if record.get(key) is not None:
            meta[key] = float(record[key])
    comparison = start_comparison(record)
    if comparison is not None:
        meta["start_comparison"] = comparison
    if record.get("parameters_sha256") is not None:
        meta["parameters_sha256"] = record["parameters_sha256"]
    slab = LabelledSlab(
        atoms=atoms_from_structure(record["structure"]),
        magmoms=np.asarray(record["magmoms"], dtype=np.float64),
        meta=meta,
    )
    check_labelled_slab(slab, where)
    return slab


def start_comparison(record: Mapping) -> str | None:
    """How the record's initial-moment starts were compared (single | complete | partial;
    :mod:`magmom.dft.equal_settings`), or None where the record does not say (surrogate labels,
    records written before the comparison existed)."""
    return (record.get("initial_moments") or {}).get("comparison")


def failure_row(record: Mapping, status: str, reason: str, source: str) -> dict:
    meta = record.get("meta", {})
    return {
        "slab_id": record.get("slab_id"),
        "composition_id": meta.get("composition_id"),
        "comp_type": meta.get("comp_type"),
        "lattice": meta.get("lattice"),
        "status": status,
        "labeller": record.get("labeller"),
        "source": source,
        "reason": reason,
    }


def assemble_dataset(
    record_paths: Iterable[str | Path],
    outputs: Mapping[str, str | Path],
    name: str,
    progress: bool = True,
    previous: str | Path | None = None,
) -> dict:
    """Write the dataset files (``outputs``: db, failures, summary) from the records; return
    the summary. On any error the files written before stay in place, and the message says so
    for ``previous`` (the dataset in use; default ``outputs["db"]``)."""
    from tqdm import tqdm

    paths = [Path(p) for p in record_paths]
    previous = outputs["db"] if previous is None else previous
    with keeping_previous(previous, f"assembling {len(paths)} DFT records"):
        slabs: list[LabelledSlab] = []
        failures: list[dict] = []
        ladder: Counter[str] = Counter()
        relaxed: Counter[str] = Counter()
        scf_iterations: list[int] = []
        comparisons: Counter[str] = Counter()
        partial: list[str] = []
        wall_time = 0.0
        for path in tqdm(paths, desc="reading DFT records", unit="slab", disable=not progress):
            record = read_record(path)
            if record["slab_id"] != path.stem:
                raise ValueError(f"{path}: holds slab {record['slab_id']!r}, not {path.stem!r}")
            wall_time += float((record.get("wall_time") or {}).get("total") or 0.0)
            if record["status"] != "ok":
                failures.append(failure_row(record, "failed", record["reason"], str(path)))
                continue
            try:
                slabs.append(labelled_slab_from_record(record, str(path)))
            except (DatasetError, KeyError, ValueError) as err:
                log.warning("%s: not a valid dataset row: %s", path, err)
                failures.append(failure_row(record, "invalid", str(err), str(path)))
                continue
            if record.get("ladder_level") is not None:
                ladder[str(record["ladder_level"])] += 1
            relaxed[RELAXED_KEYS[record.get("relaxed")]] += 1
            comparison = start_comparison(record)
            comparisons[comparison or "not_recorded"] += 1
            if comparison == "partial":
                partial.append(record["slab_id"])
            scf_iterations.extend(int(v) for v in (record.get("scf_iterations") or {}).values())
        log.info("%d of %d slabs labelled, %d failed", len(slabs), len(paths), len(failures))
        if partial:
            log.warning(
                "%d labelled slab(s) with a partial comparison of their starts (a start failed, "
                "did not finish relaxing or has no equal-settings energy): %s",
                len(partial), ", ".join(partial[:20]) + (" ..." if len(partial) > 20 else ""),
            )  # fmt: skip
        for f in failures:
            log.warning("slab %s %s: %s", f["slab_id"], f["status"], f["reason"])
        extra = {
            "source": "dft records",
            "records": len(paths),
            "ladder_levels": dict(sorted(ladder.items())),
            "relaxed": dict(sorted(relaxed.items())),
            "start_comparison": dict(sorted(comparisons.items())),
            "start_comparison_partial": sorted(partial),
            "scf_iterations_total": int(sum(scf_iterations)),
            "labelling_wall_time_s": wall_time,
        }
        return write_dataset_files(outputs, slabs, failures, name, extra)
