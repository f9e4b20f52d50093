"""What a prediction run writes: the per-atom moments table, the failures table, the structures.

``moments`` CSV (:data:`COLUMNS`): ``file, frame, atom_index, element, moment, flag``; one row per
atom of every predicted frame, in input order; ``moment`` in μB (|m| for ``target: abs`` models);
``flag`` empty, or ``unseen_element`` / ``structure_has_unseen_element``
(:mod:`magmom.predict.structures`).

``failures`` CSV (:data:`FAILURE_COLUMNS`): ``file, frame, error``; one row per refused frame
(``frame`` empty when the whole file failed).

Structures: one extxyz file per input file with the predicted frames, ``initial_magmoms`` set
to the predictions (ready for GPAW) and ``info["source_file"]``, ``info["source_frame"]``.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from magmom.io import atomic_path
from magmom.predict.predictor import Prediction

COLUMNS = ("file", "frame", "atom_index", "element", "moment", "flag")
FAILURE_COLUMNS = ("file", "frame", "error")


def moments_table(predictions: Sequence[Prediction]) -> pd.DataFrame:
    rows = []
    for p in predictions:
        if not p.ok:
            continue
        symbols = p.atoms.get_chemical_symbols()
        for k, (symbol, m, flag) in enumerate(zip(symbols, p.moments, p.flags, strict=True)):
            rows.append((p.file, p.frame, k, symbol, float(m), flag))
    frame = pd.DataFrame(rows, columns=list(COLUMNS))
    return frame.astype({"frame": "Int64", "atom_index": "int64", "moment": "float64"})


def failures_table(predictions: Sequence[Prediction]) -> pd.DataFrame:
    rows = [(p.file, p.frame, p.error) for p in predictions if not p.ok]
    return pd.DataFrame(rows, columns=list(FAILURE_COLUMNS)).astype({"frame": "Int64"})


def write_csv(frame: pd.DataFrame, path: str | os.PathLike) -> None:
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        frame.to_csv(tmp, index=False, float_format="%.6g")


def structures_name(file: str) -> str:
    """The output name of input ``file``'s structures: its stem (``slab.cif`` -> ``slab``)."""
    return f"{Path(file).stem}.extxyz"


def write_structures(predictions: Sequence[Prediction], path: str | os.PathLike) -> int:
    """Write the predicted frames of ``predictions`` (one input file) to extxyz; frame count."""
    import ase.io

    images = []
    for p in predictions:
        if not p.ok:
            continue
        atoms = p.atoms.copy()
        atoms.calc = None
        atoms.set_initial_magnetic_moments(p.moments)
        atoms.info.update(source_file=p.file, source_frame=-1 if p.frame is None else p.frame)
        images.append(atoms)
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        ase.io.write(tmp, images, format="extxyz")
    return len(images)
