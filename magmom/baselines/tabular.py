r"""Linear regression and gradient-boosted trees on the hand-built atom features.

Both regress :math:`y_i` on :math:`\mathbf{x}_i \in \mathbb{R}^{2K+4}`
(:mod:`magmom.baselines.atom_features`), fitted on the training split of one cutoff's graph cache:

* **linear**: ordinary least squares :math:`\hat y = \mathbf{w}^\top \mathbf{x} + b`
  (scikit-learn ``LinearRegression``; the one-hot block is collinear with the intercept, and the
  minimum-norm least-squares solution is used);
* **xgboost**: ``XGBRegressor`` with squared error, ``n_estimators`` trees of depth ``max_depth``,
  learning rate ``learning_rate`` and the ``hist`` tree method (config ``baselines.xgboost``; the
  study: 500, 6, 0.1, hist), seeded, without early stopping (all trees are kept as in the study;
  the validation MAE is logged and stored beside the model).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from magmom.io import atomic_path, write_json

log = logging.getLogger(__name__)

KINDS = ("linear", "xgboost")


def make_regressor(kind: str, xgb_cfg: Mapping | None = None, seed: int = 0, threads: int = 1):
    """An unfitted regressor of ``kind`` (``linear`` or ``xgboost``)."""
    if kind == "linear":
        from sklearn.linear_model import LinearRegression

        return LinearRegression()
    if kind == "xgboost":
        from xgboost import XGBRegressor

        cfg = dict(xgb_cfg or {})
        return XGBRegressor(
            n_estimators=int(cfg.get("n_estimators", 500)),
            max_depth=int(cfg.get("max_depth", 6)),
            learning_rate=float(cfg.get("learning_rate", 0.1)),
            tree_method=str(cfg.get("tree_method", "hist")),
            objective="reg:squarederror",
            random_state=int(seed),
            n_jobs=max(1, int(threads)),
        )
    raise ValueError(f"unknown tabular baseline {kind!r}; expected one of {', '.join(KINDS)}")


def _mae(y, p) -> float:
    return float(np.mean(np.abs(np.asarray(p, dtype=np.float64) - y))) if len(y) else float("nan")


def fit_predict(
    kind: str,
    train,
    test,
    val=None,
    xgb_cfg: Mapping | None = None,
    seed: int = 0,
    threads: int = 1,
):
    """Fit on ``train`` and predict ``test`` (:class:`~.atom_features.AtomTable` each).

    Returns ``(y_pred_test, regressor, summary)``; ``summary`` holds the fit time and the train
    (and validation, when ``val`` is given) MAE in μB.
    """
    if train.x.shape[0] == 0:
        raise ValueError(f"{kind}: the training split has no atoms")
    reg = make_regressor(kind, xgb_cfg, seed=seed, threads=threads)
    start = time.perf_counter()
    reg.fit(train.x, train.y)
    fit_s = time.perf_counter() - start
    summary = {
        "kind": kind,
        "n_features": int(train.x.shape[1]),
        "n_train_atoms": int(train.x.shape[0]),
        "fit_seconds": fit_s,
        "train_mae": _mae(train.y, reg.predict(train.x)),
    }
    if val is not None and val.x.shape[0]:
        summary["val_mae"] = _mae(val.y, reg.predict(val.x))
        summary["n_val_atoms"] = int(val.x.shape[0])
    log.info("%s fitted in %.1f s: %s", kind, fit_s, summary)
    return np.asarray(reg.predict(test.x), dtype=np.float64), reg, summary


def save_regressor(reg, kind: str, feature_names, summary: Mapping, model_dir: str | Path) -> None:
    """Store the fitted model in ``model_dir``: ``model.json`` (XGBoost's own JSON format) or the
    linear coefficients by feature name, plus ``fit.json`` with the fit summary."""
    model_dir = Path(model_dir)
    if kind == "xgboost":
        with atomic_path(model_dir / "model.json") as tmp:
            reg.save_model(tmp)
    else:
        coef = {name: float(c) for name, c in zip(feature_names, reg.coef_, strict=True)}
        write_json(model_dir / "model.json", {"intercept": float(reg.intercept_), "coef": coef})
    clean = {
        k: (None if isinstance(v, float) and not np.isfinite(v) else v) for k, v in summary.items()
    }
    write_json(model_dir / "fit.json", clean)
