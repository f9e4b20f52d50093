"""Predict the moments of every frame of a list of structure files and write the outputs.

The unit of work of the command line (``python -m magmom.predict``) and of the workflow's
``predict_structures`` rule: read every file (:mod:`magmom.predict.structures`), predict in
batches with one loaded model (:class:`~magmom.predict.predictor.MomentPredictor`), write the
moments table, the failures table and, on request, the structures with ``initial_magmoms``
(:mod:`magmom.predict.output`). A refused frame or unreadable file is logged and listed in the
failures table; the other frames are still predicted.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from magmom.predict.output import (
    failures_table,
    moments_table,
    structures_name,
    write_csv,
    write_structures,
)
from magmom.predict.predictor import MomentPredictor, Prediction
from magmom.predict.structures import read_frames

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Summary:
    frames: int
    predicted: int
    failed: int
    atoms: int


def structure_outputs(
    files: Sequence[str | os.PathLike], directory: str | os.PathLike
) -> dict[str, Path]:
    """``{input file: directory/<stem>.extxyz}``; two inputs with the same stem are an error."""
    out: dict[str, Path] = {}
    seen: dict[str, str] = {}
    for f in files:
        name = structures_name(str(f))
        if name in seen and seen[name] != str(f):
            raise ValueError(
                f"{seen[name]} and {f} would both be written to {name}; rename one of them"
            )
        seen[name] = str(f)
        out[str(f)] = Path(directory) / name
    return out


def predict_files(
    predictor: MomentPredictor,
    files: Sequence[str | os.PathLike],
    moments_csv: str | os.PathLike,
    failures_csv: str | os.PathLike | None = None,
    structures: Mapping[str, str | os.PathLike] | None = None,
    progress: bool = True,
) -> Summary:
    """Predict every frame of ``files``; write ``moments_csv`` (+ ``failures_csv``, and for each
    file in ``structures`` its extxyz path)."""
    frames = [frame for f in files for frame in read_frames(f)]
    predictions: list[Prediction] = list(predictor.predict_frames(frames, progress=progress))
    for p in predictions:
        for warning in p.warnings:
            log.warning(warning)
        if not p.ok:
            log.error("skipped: %s", p.error)
    write_csv(moments_table(predictions), moments_csv)
    if failures_csv is not None:
        write_csv(failures_table(predictions), failures_csv)
    for f, path in (structures or {}).items():
        mine = [p for p in predictions if p.file == str(f) and p.ok]
        if not mine:  # no empty extxyz: nothing of this file was predicted
            log.error("%s: no structure predicted, so no %s is written", f, path)
            continue
        n = write_structures(mine, path)
        log.info("%s: %d structure(s) with initial_magmoms -> %s", f, n, path)
    ok = [p for p in predictions if p.ok]
    summary = Summary(
        frames=len(predictions),
        predicted=len(ok),
        failed=len(predictions) - len(ok),
        atoms=sum(len(p.moments) for p in ok),
    )
    log.info(
        "%s: %d of %d structure(s) predicted (%d atoms), %d refused -> %s",
        predictor.model_id,
        summary.predicted,
        summary.frames,
        summary.atoms,
        summary.failed,
        moments_csv,
    )
    return summary


def refusal_summary(file: str | os.PathLike, summary: Summary, failures_csv) -> str:
    """One line for the console about the frames of ``file`` that were refused."""
    return (
        f"{file}: {summary.failed} of {summary.frames} structure(s) refused, "
        f"{summary.predicted} predicted; the reasons are in the job log (and in {failures_csv})"
    )
