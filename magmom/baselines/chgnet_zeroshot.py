r"""CHGNet zero-shot: the pretrained foundation model, used as shipped, predicting |m| per atom.

CHGNet predicts the magnitude of the moment (:mod:`magmom.chgnet`, which holds the helpers every
CHGNet consumer shares). The test structures are rebuilt from the labelled dataset (final
structures, pbc T,T,F) and the split file (:mod:`magmom.baselines.chgnet_slabs`), converted to
CHGNet crystal graphs (5 Å atom graph, 3 Å bond graph) and predicted in batches without gradients.
The weights ship in the ``chgnet`` wheel, so this runs offline.

When the labels themselves come from CHGNet (the surrogate labeller of the demo/tiny presets), this
baseline scores the labeller against itself and the report marks its row as not meaningful.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence

import pandas as pd
import torch

from magmom.baselines.chgnet_slabs import Slab, slab_predictions
from magmom.chgnet import crystal_graphs, load_pretrained, predict_magmoms

log = logging.getLogger(__name__)


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
    return slab_predictions(slabs, pred), timing
