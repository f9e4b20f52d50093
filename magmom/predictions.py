"""The predictions contract: every model's per-atom test predictions, one CSV per model.

``<results_dir>/predictions/{model_id}.csv`` (:meth:`magmom.layout.Layout.predictions`) has the
columns :data:`COLUMNS`, one row per test atom, sorted by ``(slab_id, atom_index)``:

``slab_id``     the slab (str, also when it looks like a number)
``atom_index``  the atom's position in the slab (= node order of its graph)
``element``     chemical symbol
``y_true``      the target (μB; ``|m|`` or signed, ``dataset.target``)
``y_pred``      the model's prediction (μB)

and, optionally, :data:`RAW_COLUMN` ``y_raw``: a GNN's raw output before the target's clip
(:mod:`magmom.models.output`; ``y_pred = max(y_raw, 0)`` for ``|m|``). Producers whose output is
the prediction itself (the baselines) leave it out.

Every producer (GNN ``predict``, the baselines) builds its rows with :func:`predictions_frame` and
writes them with :func:`write_predictions`; every consumer reads them with
:func:`read_predictions`, which checks the contract.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd

from magmom.io import atomic_path

COLUMNS: tuple[str, ...] = ("slab_id", "atom_index", "element", "y_true", "y_pred")
RAW_COLUMN = "y_raw"
KEY: list[str] = ["slab_id", "atom_index"]


class PredictionsError(ValueError):
    """Predictions break the contract; the message names the file or the slab."""


def predictions_frame(slab_id, atom_index, element, y_true, y_pred, y_raw=None) -> pd.DataFrame:
    """The contract's frame of equal-length per-atom columns (``y_raw`` only when given), sorted
    by ``(slab_id, atom_index)``; :class:`PredictionsError` when an atom occurs twice."""
    columns = {
        "slab_id": np.asarray(slab_id).astype(str),
        "atom_index": np.asarray(atom_index, dtype=np.int64),
        "element": np.asarray(element, dtype=object),
        "y_true": np.asarray(y_true, dtype=np.float64),
        "y_pred": np.asarray(y_pred, dtype=np.float64),
    }
    if y_raw is not None:
        columns[RAW_COLUMN] = np.asarray(y_raw, dtype=np.float64)
    frame = pd.DataFrame(columns)
    duplicated = frame.duplicated(KEY)
    if duplicated.any():
        first = frame.loc[duplicated].iloc[0]
        raise PredictionsError(
            f"slab {first['slab_id']!r} atom {first['atom_index']} occurs more than once"
        )
    return frame.sort_values(KEY, kind="stable").reset_index(drop=True)


def write_predictions(frame: pd.DataFrame, path: str | os.PathLike) -> None:
    """Write ``frame`` (columns :data:`COLUMNS`, and ``y_raw`` when present; sorted) atomically
    as CSV."""
    missing = [c for c in COLUMNS if c not in frame.columns]
    if missing:
        raise PredictionsError(f"predictions for {path} lack columns {missing}")
    rows = frame.loc[:, _columns(frame)].sort_values(KEY, kind="stable")
    with atomic_path(path) as tmp:
        rows.to_csv(tmp, index=False, float_format="%.7g")


def read_predictions(path: str | Path) -> pd.DataFrame:
    """Read and check a predictions CSV.

    Raises :class:`PredictionsError` naming the file when a column is missing, a value is not
    finite, a ``(slab_id, atom_index)`` pair repeats or the file is empty.
    """
    path = Path(path)
    try:
        df = pd.read_csv(
            path,
            dtype={"slab_id": str, "atom_index": np.int64, "element": str},
            keep_default_na=False,
            na_values={c: ["", "nan", "NaN"] for c in ("y_true", "y_pred", RAW_COLUMN)},
        )
    except (ValueError, pd.errors.ParserError) as exc:
        raise PredictionsError(f"{path}: cannot parse predictions CSV ({exc})") from exc
    missing = [c for c in COLUMNS if c not in df.columns]
    if missing:
        raise PredictionsError(
            f"{path}: missing column(s) {', '.join(missing)}; expected {', '.join(COLUMNS)}"
        )
    if df.empty:
        raise PredictionsError(f"{path}: no prediction rows (is the test split empty?)")
    for col in [c for c in ("y_true", "y_pred", RAW_COLUMN) if c in df.columns]:
        bad = ~np.isfinite(df[col].to_numpy(dtype=float))
        if bad.any():
            first = df.loc[bad].iloc[0]
            raise PredictionsError(
                f"{path}: {int(bad.sum())} non-finite value(s) in {col}, first at slab "
                f"{first['slab_id']} atom {first['atom_index']}"
            )
    dup = df.duplicated(KEY)
    if dup.any():
        first = df.loc[dup].iloc[0]
        raise PredictionsError(
            f"{path}: repeated atom (slab {first['slab_id']}, atom {first['atom_index']})"
        )
    return df[_columns(df)]


def _columns(frame: pd.DataFrame) -> list[str]:
    return [*COLUMNS, RAW_COLUMN] if RAW_COLUMN in frame.columns else list(COLUMNS)
