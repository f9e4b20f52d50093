r"""CHGNet zero-shot: the pretrained foundation model, used as shipped, predicting |m| per atom.

CHGNet's magnetic-moment head reads the atom features after the second-to-last interaction block,
:math:`\hat m_i = |\mathbf{w}^\top \mathbf{h}_i^{(L-1)} + b|`, so it predicts the magnitude of the
moment. The test structures are rebuilt from the labelled dataset (final structures, pbc T,T,F)
and the split file, converted to CHGNet crystal graphs (5 Å atom graph, 3 Å bond graph) and
predicted in batches without gradients. The weights ship in the ``chgnet`` wheel, so this runs
offline.

When the labels themselves come from CHGNet (the surrogate labeller of the demo/tiny presets), this
baseline scores the labeller against itself and the report marks its row as not meaningful.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
from tqdm import tqdm

log = logging.getLogger(__name__)

PRETRAINED = "0.3.0"
"""CHGNet checkpoint name shipped in the chgnet wheel (the default of ``CHGNet.load``)."""


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
    from magmom.config import ConfigError, signed_target_message

    if target == "signed":
        raise ConfigError(signed_target_message(key))
    if target != "abs":
        raise ConfigError(
            f"config key 'dataset.target': {target!r} is not allowed; allowed values: abs, signed"
        )


def split_slabs(db_path, split_path, splits: Iterable[str], target: str = "abs") -> list[Slab]:
    """Slabs of ``db_path`` whose split (from ``split_path``) is in ``splits``, sorted by id,
    with :math:`|m|` as the target (``target`` must be ``abs``, see :func:`check_target`).

    Raises ``ValueError`` naming both files when a slab of the split file is missing from the
    dataset, so a stale split is caught instead of silently shrinking the test set.
    """
    from magmom.data.dataset import iter_labelled_slabs
    from magmom.data.split import read_split

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


def load_pretrained(device: torch.device | str = "cpu"):
    """The pretrained CHGNet shipped with the wheel, on ``device``, in eval mode."""
    from chgnet.model import CHGNet

    model = CHGNet.load(model_name=PRETRAINED, use_device=str(device), verbose=False)
    return model.eval()


def crystal_graphs(model, slabs: Sequence[Slab], desc: str = "CHGNet graphs") -> list:
    """CHGNet crystal graphs of ``slabs`` (pymatgen structures with the slab's pbc)."""
    from pymatgen.io.ase import AseAtomsAdaptor

    graphs = []
    for slab in tqdm(slabs, desc=desc, unit="slab", mininterval=5):
        structure = AseAtomsAdaptor.get_structure(slab.atoms)
        try:
            graphs.append(model.graph_converter(structure, graph_id=slab.slab_id))
        except (ValueError, RuntimeError) as exc:
            raise ValueError(f"slab {slab.slab_id}: CHGNet cannot build its graph ({exc})") from exc
    return graphs


def predict_magmoms(model, graphs: Sequence, batch_size: int = 16) -> list[np.ndarray]:
    """|m| per atom (μB) of every graph, batched, without gradients."""
    device = next(model.parameters()).device
    model.eval()
    out: list[np.ndarray] = []
    with torch.no_grad():
        for start in tqdm(
            range(0, len(graphs), batch_size), desc="CHGNet predict", unit="batch", mininterval=5
        ):
            chunk = [g.to(device) for g in graphs[start : start + batch_size]]
            pred = model(chunk, task="em")
            out.extend(m.detach().cpu().numpy().astype(np.float64).ravel() for m in pred["m"])
    return out


def predictions_frame(slabs: Sequence[Slab], y_pred: Sequence[np.ndarray]) -> pd.DataFrame:
    """Per-atom rows of the predictions contract for ``slabs`` and per-slab predictions."""
    frames = []
    for slab, pred in zip(slabs, y_pred, strict=True):
        if len(pred) != len(slab.atoms):
            raise ValueError(
                f"slab {slab.slab_id}: {len(pred)} predictions for {len(slab.atoms)} atoms"
            )
        frames.append(
            pd.DataFrame(
                {
                    "slab_id": slab.slab_id,
                    "atom_index": np.arange(len(slab.atoms), dtype=np.int64),
                    "element": slab.atoms.get_chemical_symbols(),
                    "y_true": slab.y,
                    "y_pred": pred,
                }
            )
        )
    return pd.concat(frames, ignore_index=True)


def run(
    slabs: Sequence[Slab], device: torch.device | str = "cpu", batch_size: int = 16
) -> tuple[pd.DataFrame, dict]:
    """Zero-shot predictions of ``slabs`` and timings (load, graph building, inference per slab)."""
    if not slabs:
        raise ValueError("no test slabs to predict")
    t0 = time.perf_counter()
    model = load_pretrained(device)
    t1 = time.perf_counter()
    graphs = crystal_graphs(model, slabs)
    t2 = time.perf_counter()
    pred = predict_magmoms(model, graphs, batch_size=batch_size)
    t3 = time.perf_counter()
    n_atoms = sum(len(s.atoms) for s in slabs)
    timing = {
        "device": str(device),
        "n_slabs": len(slabs),
        "n_atoms": n_atoms,
        "load_seconds": t1 - t0,
        "graph_seconds_per_slab": (t2 - t1) / len(slabs),
        "predict_seconds_per_slab": (t3 - t2) / len(slabs),
        "batch_size": batch_size,
    }
    log.info("CHGNet zero-shot timings: %s", timing)
    return predictions_frame(slabs, pred), timing
