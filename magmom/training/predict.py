"""Per-atom test predictions of a trained model, written in the predictions contract.

``<results_dir>/predictions/{model_id}.csv`` has the columns ``slab_id, atom_index, element, y_true,
y_pred`` (μB), one row per test atom, ordered by ``(slab_id, atom_index)``; ``atom_index`` is the
atom's position in the slab (node order of its graph), ``y_true`` the cache's target ``y``.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from ase.data import chemical_symbols
from tqdm.auto import tqdm

from magmom.io import atomic_path
from magmom.training.checkpoint import load_model
from magmom.training.device import select_device
from magmom.training.trainer import graph_loader

log = logging.getLogger(__name__)

COLUMNS = ("slab_id", "atom_index", "element", "y_true", "y_pred")


@torch.no_grad()
def predict(
    model: torch.nn.Module,
    dataset: Sequence,
    *,
    batch_size: int = 32,
    device: str | torch.device = "cpu",
    num_workers: int = 0,
    progress: bool = True,
) -> pd.DataFrame:
    """Run ``model`` over ``dataset``: a DataFrame in the predictions contract (rows sorted)."""
    device = torch.device(device)
    model = model.to(device).eval()
    loader = graph_loader(
        dataset, batch_size, shuffle=False, num_workers=num_workers, device=device
    )
    slab_ids, atom_index, z, y_true, y_pred = [], [], [], [], []
    for batch in tqdm(loader, desc="predict", unit="batch", mininterval=5.0):
        batch = batch.to(device, non_blocking=device.type == "cuda")
        pred = model(batch)
        if pred.shape != batch.y.shape:
            raise RuntimeError(
                f"the model returned shape {tuple(pred.shape)} for {batch.num_nodes} atoms"
            )
        counts = torch.diff(batch.ptr).cpu()
        slab_ids.append(np.repeat(np.asarray(batch.slab_id, dtype=object), counts.numpy()))
        local = torch.arange(batch.num_nodes, device=device) - batch.ptr[batch.batch]
        atom_index.append(local.cpu().numpy())
        z.append(batch.z.cpu().numpy())
        y_true.append(batch.y.cpu().numpy())
        y_pred.append(pred.cpu().numpy())
    if not slab_ids:
        raise ValueError("the test set holds no graphs; nothing to predict")
    frame = pd.DataFrame(
        {
            "slab_id": np.concatenate(slab_ids).astype(str),
            "atom_index": np.concatenate(atom_index).astype(np.int64),
            "element": np.asarray(chemical_symbols, dtype=object)[np.concatenate(z)],
            "y_true": np.concatenate(y_true).astype(np.float64),
            "y_pred": np.concatenate(y_pred).astype(np.float64),
        }
    )
    duplicated = frame.duplicated(["slab_id", "atom_index"])
    if duplicated.any():
        slab = frame.loc[duplicated, "slab_id"].iloc[0]
        raise ValueError(f"slab {slab!r} occurs more than once in the test set")
    return frame.sort_values(["slab_id", "atom_index"], kind="stable").reset_index(drop=True)


def write_predictions(frame: pd.DataFrame, path: str | os.PathLike) -> None:
    """Write ``frame`` (columns :data:`COLUMNS`) atomically as CSV."""
    missing = [c for c in COLUMNS if c not in frame.columns]
    if missing:
        raise ValueError(f"predictions for {path} lack columns {missing}")
    with atomic_path(path) as tmp:
        frame.loc[:, list(COLUMNS)].to_csv(tmp, index=False, float_format="%.7g")


def predict_checkpoint(
    checkpoint: str | os.PathLike,
    test_set: Sequence,
    out_csv: str | os.PathLike,
    *,
    device: str | torch.device | None = None,
    num_workers: int = 0,
    batch_size: int | None = None,
    model_factory=None,
) -> pd.DataFrame:
    """Load ``checkpoint`` (``best.pt``), predict ``test_set`` and write ``out_csv``.

    ``model_factory`` defaults to :func:`magmom.models.build_model`.
    """
    device = select_device(device)
    model, ckpt = load_model(checkpoint, device, model_factory)
    header = getattr(test_set, "header", None)
    if header and "cutoff" in header and not np.isclose(float(header["cutoff"]), ckpt["cutoff"]):
        raise ValueError(
            f"{checkpoint} was trained at cutoff {ckpt['cutoff']:g} Å but the test cache was "
            f"built with cutoff {header['cutoff']} Å"
        )
    batch_size = batch_size or int(ckpt["config"]["training"]["batch_size"])
    frame = predict(model, test_set, batch_size=batch_size, device=device, num_workers=num_workers)
    write_predictions(frame, out_csv)
    mae = float(np.mean(np.abs(frame["y_pred"] - frame["y_true"])))
    log.info(
        "%s: %d atoms of %d slabs predicted (epoch %d checkpoint), test MAE %.5f -> %s",
        ckpt["model_id"],
        len(frame),
        frame["slab_id"].nunique(),
        ckpt["epoch"],
        mae,
        Path(out_csv),
    )
    return frame
