"""Per-atom test predictions of a trained model, written in the predictions contract
(:mod:`magmom.predictions`; ``y_true`` is the cache's target ``y``, ``atom_index`` the node order
of the slab's graph, ``y_pred`` the prediction of the target and ``y_raw`` the raw output it was
clipped from, :mod:`magmom.models.output`)."""

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

from magmom.evaluation.metrics import negative_fraction
from magmom.models.output import to_target
from magmom.predictions import predictions_frame, write_predictions
from magmom.training.checkpoint import graph_settings, load_model
from magmom.training.device import select_device
from magmom.training.loader import graph_loader

log = logging.getLogger(__name__)


@torch.no_grad()
def predict(
    model: torch.nn.Module,
    dataset: Sequence,
    *,
    batch_size: int = 32,
    device: str | torch.device = "cpu",
    num_workers: int = 0,
    progress: bool = True,
    target: str = "abs",
) -> pd.DataFrame:
    """Run ``model`` over ``dataset``: a DataFrame in the predictions contract (rows sorted),
    ``y_pred`` the prediction of ``target`` and ``y_raw`` the model's raw output."""
    device = torch.device(device)
    model = model.to(device).eval()
    loader = graph_loader(
        dataset, batch_size, shuffle=False, num_workers=num_workers, device=device
    )
    slab_ids, atom_index, z, y_true, y_raw = [], [], [], [], []
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
        y_raw.append(pred.cpu().numpy())
    if not slab_ids:
        raise ValueError("the test set holds no graphs; nothing to predict")
    return predictions_frame(
        np.concatenate(slab_ids),
        np.concatenate(atom_index),
        np.asarray(chemical_symbols, dtype=object)[np.concatenate(z)],
        np.concatenate(y_true),
        to_target(torch.from_numpy(np.concatenate(y_raw)), target).numpy(),
        y_raw=np.concatenate(y_raw),
    )


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
    target = graph_settings(ckpt)["target"]
    frame = predict(
        model,
        test_set,
        batch_size=batch_size,
        device=device,
        num_workers=num_workers,
        target=target,
    )
    write_predictions(frame, out_csv)
    mae = float(np.mean(np.abs(frame["y_pred"] - frame["y_true"])))
    log.info(
        "%s: %d atoms of %d slabs predicted (epoch %d checkpoint), test MAE %.5f, raw outputs "
        "below 0: %.2f%% (target %s) -> %s",
        ckpt["model_id"],
        len(frame),
        frame["slab_id"].nunique(),
        ckpt["epoch"],
        mae,
        100 * negative_fraction(frame["y_raw"]),
        target,
        Path(out_csv),
    )
    return frame
