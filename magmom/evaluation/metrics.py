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

``mae_ci95``: a 95 % bootstrap interval of the MAE over test **slabs** (atoms of one slab share
its errors, so slabs, not atoms, are the independent draws): with per-slab absolute-error sums
:math:`A_s` and atom counts :math:`n_s`, each of :data:`BOOTSTRAP_RESAMPLES` resamples draws the
test slabs with replacement and gives :math:`\sum_s A_s / \sum_s n_s` over the drawn slabs; the
interval is their 2.5th and 97.5th percentile. The draws depend only on the seed and the number of
test slabs (slabs in sorted order), so every model scored on the same test split is resampled with
the same slab draws, and the ranking can read overlapping intervals as ties.

``raw_negative_fraction``: the share of atoms whose raw model output was below zero, i.e. where
the clip of an ``|m|`` prediction acted (:mod:`magmom.models.output`); from the predictions'
``y_raw`` column, or from ``y_pred`` for producers without one (the baselines' output is their
prediction). Negative ``y_pred`` values of such a producer are not clipped here.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd

from magmom.predictions import RAW_COLUMN


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


BOOTSTRAP_RESAMPLES = 2000
BOOTSTRAP_SEED = 0


def _per_slab_errors(df: pd.DataFrame) -> pd.DataFrame:
    """Per test slab (sorted by id): the sum of absolute errors and the atom count."""
    return (
        df.assign(abs_err=(df["y_pred"] - df["y_true"]).abs())
        .groupby("slab_id", sort=True)["abs_err"]
        .agg(["sum", "count"])
    )


def _slab_draws(n_slabs: int, resamples: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, n_slabs, size=(resamples, n_slabs))


def _percentiles(values: np.ndarray, level: float) -> list[float]:
    tail = 100 * (1 - level) / 2
    low, high = np.percentile(values, [tail, 100 - tail])
    return [float(low), float(high)]


def bootstrap_mae_interval(
    df: pd.DataFrame,
    level: float = 0.95,
    resamples: int = BOOTSTRAP_RESAMPLES,
    seed: int = BOOTSTRAP_SEED,
) -> list[float] | None:
    """``[low, high]`` bootstrap interval of the MAE over test slabs (module docstring); None
    without atoms."""
    if df.empty:
        return None
    per_slab = _per_slab_errors(df)
    sums, counts = per_slab["sum"].to_numpy(), per_slab["count"].to_numpy()
    draws = _slab_draws(len(sums), resamples, seed)
    return _percentiles(sums[draws].sum(axis=1) / counts[draws].sum(axis=1), level)


def bootstrap_mae_difference(
    a: pd.DataFrame,
    b: pd.DataFrame,
    level: float = 0.95,
    resamples: int = BOOTSTRAP_RESAMPLES,
    seed: int = BOOTSTRAP_SEED,
) -> list[float] | None:
    r"""``[low, high]`` bootstrap interval of :math:`\mathrm{MAE}_a - \mathrm{MAE}_b` for two
    models' predictions of the same test atoms, paired: each resample draws the test slabs once
    and scores both models on them (the draws of :func:`bootstrap_mae_interval`). An interval
    that excludes 0 separates the two models where their own intervals may overlap. None
    without atoms; ``ValueError`` when the frames hold different slabs or atom counts."""
    if a.empty or b.empty:
        return None
    pa, pb = _per_slab_errors(a), _per_slab_errors(b)
    if not pa.index.equals(pb.index) or not (pa["count"] == pb["count"]).all():
        raise ValueError(
            "a paired MAE difference needs the same test slabs and atoms in both predictions"
        )
    counts = pa["count"].to_numpy()
    draws = _slab_draws(len(counts), resamples, seed)
    n = counts[draws].sum(axis=1)
    diff = pa["sum"].to_numpy()[draws].sum(axis=1) / n - pb["sum"].to_numpy()[draws].sum(axis=1) / n
    return _percentiles(diff, level)


def negative_fraction(raw) -> float | None:
    """Fraction of raw outputs below zero (None for no outputs)."""
    raw = np.asarray(raw, dtype=np.float64)
    return float(np.mean(raw < 0.0)) if raw.size else None


def per_element_metrics(df: pd.DataFrame) -> dict[str, dict]:
    """:func:`regression_metrics` of each element present in ``df`` (keys sorted by symbol)."""
    return {
        str(el): regression_metrics(g["y_true"].to_numpy(), g["y_pred"].to_numpy())
        for el, g in df.groupby("element", sort=True)
    }


def metric_set(df: pd.DataFrame) -> dict:
    """Overall metrics, ``n_slabs`` and the per-element breakdown of one predictions frame."""
    out = regression_metrics(df["y_true"].to_numpy(), df["y_pred"].to_numpy())
    out["raw_negative_fraction"] = negative_fraction(
        df[RAW_COLUMN if RAW_COLUMN in df else "y_pred"]
    )
    out["mae_ci95"] = bootstrap_mae_interval(df)
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
