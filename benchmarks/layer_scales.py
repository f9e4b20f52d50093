r"""Feature RMS per layer of MagmomGNN after the layer-scale calibration, old rule against new.

:meth:`magmom.models.magmom_gnn.MagmomGNN.calibrate` fits each layer's scale :math:`s_t` so that
the scaled output has RMS at most 1. Before issue 22 it measured the RMS with the network in
eval mode (reproduced here by :func:`eval_mode_calibration`), where cgconv's BatchNorm
normalises with its initial running statistics; since the layers train in training mode, cgconv
then trained with features far below RMS 1. Printed for ``--architectures`` at the study's widths
(``config.yaml`` ``models``: 128 channels, 3 layers) on a first training batch of ``--batch``
study-size slabs (:func:`graph_cache.synthetic_slabs`, 64/16 atoms, the graph cache's default
rule, ``radius``) at ``--cutoff``: the scales and the training-mode RMS of every layer's scaled
output, for the old (eval-mode) and the new (training-mode) calibration. Reference: RMS 1, what
the scales aim at.

Run:  .venv/bin/python benchmarks/layer_scales.py [--cutoff 6] [--batch 32]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch
import yaml
from torch_geometric.data import Batch

from magmom.graphs.builder import graph_arrays
from magmom.graphs.dataset import arrays_to_data
from magmom.models import build_model
from magmom.models.operators import ConvLayer

sys.path.insert(0, str(Path(__file__).resolve().parent))
from graph_cache import synthetic_slabs  # noqa: E402

REPO = Path(__file__).resolve().parents[1]


@torch.no_grad()
def eval_mode_calibration(model, batch) -> None:
    """The calibration before issue 22: the same rule, measured in eval mode."""
    model.eval()
    model.layer_scale.fill_(1.0)
    h = model.embedding(batch.z)
    for t, layer in enumerate(model.layers):
        out = layer(h, batch.edge_index, batch.edge_dist)
        rms = float(out.pow(2).mean().sqrt())
        if isinstance(layer, ConvLayer) and rms > 1.0:
            model.layer_scale[t] = 1.0 / rms
        h = out * model.layer_scale[t]


@torch.no_grad()
def training_mode_rms(model, batch) -> list[float]:
    """RMS of each scaled layer output with the model in training mode (running stats kept)."""
    kept = {k: v.clone() for k, v in model.named_buffers()}
    model.train()
    h, out = model.embedding(batch.z), []
    for layer, scale in zip(model.layers, model.layer_scale, strict=True):
        h = layer(h, batch.edge_index, batch.edge_dist) * scale
        out.append(float(h.pow(2).mean().sqrt()))
    for k, v in model.named_buffers():
        v.copy_(kept[k])
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cutoff", type=float, default=6.0)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--architectures", nargs="+", default=["cgconv", "transformerconv"])
    args = ap.parse_args()
    torch.set_num_threads(1)
    models_cfg = yaml.safe_load((REPO / "config.yaml").read_text())["models"]
    graphs = [arrays_to_data(graph_arrays(s, args.cutoff, None)) for s in synthetic_slabs(200)]
    batch = Batch.from_data_list(graphs[: args.batch])
    print(
        f"first batch: {args.batch} slabs, {batch.num_nodes} atoms, r{args.cutoff:g}; "
        f"width {models_cfg['hidden']}, {models_cfg['layers']} layers; reference RMS 1"
    )
    for architecture in args.architectures:
        for name in ("old (eval mode)", "new (training mode)"):
            torch.manual_seed(0)
            model = build_model(architecture, args.cutoff, models_cfg)
            if name.startswith("old"):
                eval_mode_calibration(model, batch)
            else:
                model.calibrate(batch)
            rms = training_mode_rms(model, batch)
            scales = ", ".join(f"{s:.3f}" for s in model.layer_scale.tolist())
            values = ", ".join(f"{r:.3f}" for r in rms)
            print(f"{architecture:16s} {name:20s} scales [{scales}]  training-mode RMS [{values}]")


if __name__ == "__main__":
    main()
