r"""Per-atom regression metrics of one model's test predictions.

For targets :math:`y_i` and predictions :math:`\hat y_i` over :math:`n` atoms,

.. math::
    \mathrm{MAE} = \frac{1}{n}\sum_i |\hat y_i - y_i|, \qquad
    \mathrm{RMSE} = \Big(\frac{1}{n}\sum_i (\hat y_i - y_i)^2\Big)^{1/2},

.. math::
    R^2 = 1 - \frac{\sum_i (\hat y_i - y_i)^2}{\sum_i (y_i - \bar y)^2}, \qquad
    \text{max error} = \max_i |\hat y_i - y_i|.

:math:`R^2` is undefined (``None``) when all targets are equal. Every set is reported for all test
atoms, per element, and once more with ``excluded_elements`` (V, Cr, Mn in the study: atoms whose
moment is not a function of local structure) removed.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pandas as pd

PREDICTION_COLUMNS: tuple[str, ...] = ("slab_id", "atom_index", "element", "y_true", "y_pred")
"""The predictions contract: one row per test atom, ordered by (slab_id, atom_index), μB."""


class PredictionsError(ValueError):
    """A predictions CSV breaks the predictions contract; the message names the file."""


def read_predictions(path: str | Path) -> pd.DataFrame:
    """Read and check a ``<results_dir>/predictions/{model_id}.csv`` file.

    Raises :class:`PredictionsError` naming the file when a column is missing, a value is not
    finite, an (slab_id, atom_index) pair repeats or the file is empty.
    """
    path = Path(path)
    try:
        df = pd.read_csv(
            path,
            dtype={"slab_id": str, "atom_index": np.int64, "element": str},
            keep_default_na=False,
            na_values={"y_true": ["", "nan", "NaN"], "y_pred": ["", "nan", "NaN"]},
        )
    except (ValueError, pd.errors.ParserError) as exc:
        raise PredictionsError(f"{path}: cannot parse predictions CSV ({exc})") from exc
    missing = [c for c in PREDICTION_COLUMNS if c not in df.columns]
    if missing:
        raise PredictionsError(
            f"{path}: missing column(s) {', '.join(missing)}; "
            f"expected {', '.join(PREDICTION_COLUMNS)}"
        )
    if df.empty:
        raise PredictionsError(f"{path}: no prediction rows (is the test split empty?)")
    for col in ("y_true", "y_pred"):
        bad = ~np.isfinite(df[col].to_numpy(dtype=float))
        if bad.any():
            first = df.loc[bad].iloc[0]
            raise PredictionsError(
                f"{path}: {int(bad.sum())} non-finite value(s) in {col}, first at slab "
                f"{first['slab_id']} atom {first['atom_index']}"
            )
    dup = df.duplicated(["slab_id", "atom_index"])
    if dup.any():
        first = df.loc[dup].iloc[0]
        raise PredictionsError(
            f"{path}: repeated atom (slab {first['slab_id']}, atom {first['atom_index']})"
        )
    return df[list(PREDICTION_COLUMNS)]


def regression_metrics(y_true, y_pred) -> dict:
    """MAE, RMSE, R², max error (μB) and ``n_atoms`` of two equal-length 1-D arrays.

    Empty input gives ``n_atoms = 0`` and ``None`` for every metric; R² is ``None`` when the
    targets have zero variance.
    """
    y_true = np.asarray(y_true, dtype=np.float64).ravel()
    y_pred = np.asarray(y_pred, dtype=np.float64).ravel()
    if y_true.shape != y_pred.shape:
        raise ValueError(f"y_true has {y_true.size} values but y_pred has {y_pred.size}")
    n = int(y_true.size)
    if n == 0:
        return {"mae": None, "rmse": None, "r2": None, "max_error": None, "n_atoms": 0}
    err = y_pred - y_true
    sse = float(np.sum(err**2))
    sst = float(np.sum((y_true - y_true.mean()) ** 2))
    return {
        "mae": float(np.mean(np.abs(err))),
        "rmse": float(np.sqrt(sse / n)),
        "r2": None if sst == 0.0 else 1.0 - sse / sst,
        "max_error": float(np.max(np.abs(err))),
        "n_atoms": n,
    }


def per_element_metrics(df: pd.DataFrame) -> dict[str, dict]:
    """:func:`regression_metrics` of each element present in ``df`` (keys sorted by symbol)."""
    return {
        str(el): regression_metrics(g["y_true"].to_numpy(), g["y_pred"].to_numpy())
        for el, g in df.groupby("element", sort=True)
    }


def metric_set(df: pd.DataFrame) -> dict:
    """Overall metrics, ``n_slabs`` and the per-element breakdown of one predictions frame."""
    out = regression_metrics(df["y_true"].to_numpy(), df["y_pred"].to_numpy())
    out["n_slabs"] = int(df["slab_id"].nunique())
    out["per_element"] = per_element_metrics(df)
    return out


def evaluate(df: pd.DataFrame, excluded_elements: Iterable[str] = ("V", "Cr", "Mn")) -> dict:
    """Metrics of a predictions frame: ``all`` atoms and ``excluded`` (without those elements).

    ``excluded["elements_removed"]`` lists the excluded symbols; ``n_slabs`` there counts the slabs
    that still hold at least one atom.
    """
    excluded = sorted(set(excluded_elements))
    keep = ~df["element"].isin(excluded)
    rest = metric_set(df.loc[keep])
    rest["elements_removed"] = excluded
    return {"all": metric_set(df), "excluded": rest}
