"""Per-atom models of magmom21: MagmomGNN with 15 operators, periodic DimeNet++, residual bias.

``build_model(architecture, cutoff, models_cfg, element_mean=None)`` returns a module whose
``forward(batch)`` gives one prediction per atom, shape ``(num_nodes,)``, from a batch that follows
the graph contract (``z``, ``edge_index``, ``edge_dist``, ``edge_vec``, ``cell_offset``).

Modules: :mod:`~magmom.models.magmom_gnn` (embedding → layers → readout),
:mod:`~magmom.models.operators` (the 15 layers), :mod:`~magmom.models.spline_conv`,
:mod:`~magmom.models.schnet_interaction`, :mod:`~magmom.models.dimenet_pp`,
:mod:`~magmom.models.dimenet_basis`, :mod:`~magmom.models.triplets`,
:mod:`~magmom.models.residual`.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import nn

from magmom.layout import ARCHITECTURES
from magmom.models.dimenet_pp import PeriodicDimeNetPlusPlus
from magmom.models.magmom_gnn import MagmomGNN
from magmom.models.operators import OPERATORS
from magmom.models.pyg_codegen import private_codegen_dir
from magmom.models.residual import ResidualTarget

if ARCHITECTURES != (*OPERATORS, "dimenet"):  # the names the config and the files use
    raise ImportError("magmom.layout.ARCHITECTURES must list magmom.models.operators.OPERATORS"
                      " and 'dimenet'")  # fmt: skip

# The study's sizes (config.yaml ``models``); used for keys a config leaves out.
DEFAULTS = {"hidden": 128, "layers": 3, "readout_hidden_layers": 1}
DIMENET_DEFAULTS = {
    "hidden_channels": 128,
    "num_blocks": 3,
    "int_emb_size": 64,
    "basis_emb_size": 8,
    "out_emb_channels": 128,
    "num_spherical": 7,
    "num_radial": 6,
    "envelope_exponent": 5,
    "num_before_skip": 1,
    "num_after_skip": 2,
}


def build_model(
    architecture: str,
    cutoff: float,
    models_cfg: Mapping | None = None,
    element_mean: torch.Tensor | None = None,
) -> nn.Module:
    """The model of one architecture at one cutoff, sized by the ``models`` config section.

    ``dimenet`` takes its sizes from ``models_cfg["dimenet"]``; its output blocks have
    ``readout_hidden_layers + 1`` dense layers (2 in the study: 764,294 parameters). With
    ``element_mean`` (float ``(119,)``, per-Z training mean) the model is the residual variant;
    to load a residual checkpoint, pass any ``(119,)`` tensor (e.g. zeros): ``load_state_dict``
    restores the saved bias.
    """
    if architecture not in ARCHITECTURES:
        raise ValueError(
            f"unknown architecture {architecture!r} (config key models.architectures); "
            f"allowed: {', '.join(ARCHITECTURES)}"
        )
    cfg = {**DEFAULTS, **dict(models_cfg or {})}
    if cutoff is None or not float(cutoff) > 0:
        raise ValueError(f"cutoff must be a positive distance in Å, got {cutoff!r}")
    # PyG writes each operator class's generated code to a temporary file it never removes
    with private_codegen_dir():
        if architecture == "dimenet":
            dimenet_cfg = {**DIMENET_DEFAULTS, **dict(cfg.get("dimenet") or {})}
            unknown = sorted(set(dimenet_cfg) - set(DIMENET_DEFAULTS))
            if unknown:
                allowed = sorted(DIMENET_DEFAULTS)
                raise ValueError(f"unknown key(s) {unknown} in models.dimenet; allowed: {allowed}")
            model: nn.Module = PeriodicDimeNetPlusPlus(
                cutoff=float(cutoff),
                num_output_layers=int(cfg["readout_hidden_layers"]) + 1,
                **dimenet_cfg,
            )
        else:
            model = MagmomGNN(
                architecture,
                float(cutoff),
                hidden=int(cfg["hidden"]),
                layers=int(cfg["layers"]),
                readout_hidden_layers=int(cfg["readout_hidden_layers"]),
            )
    if element_mean is not None:
        model = ResidualTarget(model, element_mean)
    return model


__all__ = [
    "ARCHITECTURES",
    "MagmomGNN",
    "PeriodicDimeNetPlusPlus",
    "ResidualTarget",
    "build_model",
]
