r"""The dataset slabs the CHGNet baselines work on: a split's slabs with :math:`|m|` as the target,
and the predictions frame of CHGNet's output on them.

CHGNet predicts the magnitude of the moment only (:mod:`magmom.chgnet`), so a CHGNet baseline
needs ``dataset.target: abs`` (:func:`check_target`). Kept apart from :mod:`magmom.chgnet`, which
the DFT stage uses too and which therefore reads no dataset or split file.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from magmom.config import ConfigError, signed_target_message
from magmom.data.dataset import iter_labelled_slabs
from magmom.data.split import read_split
from magmom.layout import TARGETS
from magmom.predictions import predictions_frame


@dataclass
class Slab:
    """One labelled slab: id, final structure and per-atom target (μB)."""

    slab_id: str
    atoms: object  # ase.Atoms
    y: np.ndarray  # float64 (n_atoms,) the configured target


def check_target(target: str, key: str = "baselines.chgnet_zeroshot") -> None:
    """Refuse any ``dataset.target`` but ``abs``: CHGNet predicts :math:`|m|` only.

    The config check stops such a run at parse time (:func:`magmom.config.chgnet_target_errors`);
    this guards direct library use. ``key`` is the config key that switched the baseline on.
    """
    if target == "signed":
        raise ConfigError(signed_target_message(key))
    if target != "abs":
        raise ConfigError(
            f"config key 'dataset.target': {target!r} is not allowed; allowed values: "
            + ", ".join(TARGETS)
        )


def split_slabs(db_path, split_path, splits: Iterable[str], target: str = "abs") -> list[Slab]:
    """Slabs of ``db_path`` whose split (from ``split_path``) is in ``splits``, sorted by id,
    with :math:`|m|` as the target (``target`` must be ``abs``, see :func:`check_target`).

    Raises ``ValueError`` naming both files when a slab of the split file is missing from the
    dataset, so a stale split is caught instead of silently shrinking the test set.
    """
    check_target(target)
    wanted = {s for s, sp in read_split(split_path).items() if sp in set(splits)}
    out = []
    for slab in iter_labelled_slabs(db_path):
        slab_id = str(slab.meta["slab_id"])
        if slab_id in wanted:
            out.append(Slab(slab_id, slab.atoms, np.abs(np.asarray(slab.magmoms, np.float64))))
    missing = wanted - {s.slab_id for s in out}
    if missing:
        raise ValueError(
            f"{len(missing)} slab(s) of split(s) {sorted(splits)} in {split_path} are not in "
            f"{db_path} (first: {sorted(missing)[0]}); rerun the split rule for this dataset"
        )
    return sorted(out, key=lambda s: s.slab_id)


def slab_predictions(slabs: Sequence[Slab], y_pred: Sequence[np.ndarray]) -> pd.DataFrame:
    """The predictions contract's frame (:func:`magmom.predictions.predictions_frame`) of
    ``slabs`` and their per-slab predictions."""
    if not slabs:
        raise ValueError("no slabs to write predictions for")
    for slab, pred in zip(slabs, y_pred, strict=True):
        if len(pred) != len(slab.atoms):
            raise ValueError(
                f"slab {slab.slab_id}: {len(pred)} predictions for {len(slab.atoms)} atoms"
            )
    return predictions_frame(
        np.concatenate([[s.slab_id] * len(s.atoms) for s in slabs]),
        np.concatenate([np.arange(len(s.atoms)) for s in slabs]),
        np.concatenate([s.atoms.get_chemical_symbols() for s in slabs]),
        np.concatenate([s.y for s in slabs]),
        np.concatenate(list(y_pred)),
    )
