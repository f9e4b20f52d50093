r"""The 15 message-passing operators of MagmomGNN, each wrapped as one layer ``h -> h'``.

Every layer has the call signature ``layer(h, edge_index, edge_dist) -> h'`` with ``h`` of width
``d`` (the model's ``hidden``). Operators marked (d) consume the edge distance :math:`d_{ji}`; the
others see only the connectivity:

=====================  ====  ==============================================================
operator               uses  wiring (PyG 2.8 class unless stated)
=====================  ====  ==============================================================
cgconv                 d     ``CGConv(d, dim=1, batch_norm=True)``
schnetconv             d     50 Gaussians on [0, r_c] + ``InteractionBlock``, residual
                             (:mod:`magmom.models.schnet_interaction`)
graphconv                    ``GraphConv(d, d)``
sageconv                     ``SAGEConv(d, d)``
gatv2conv              d     ``GATv2Conv(d, d, heads=1, edge_dim=1)``, self_loop
gcnconv                      ``GCNConv(d, d)``, self_loop
transformerconv        d     ``TransformerConv(d, d, heads=1, edge_dim=1)``
gineconv               d     ``GINEConv(MLP d→d→d, edge_dim=1)``
nnconv                 d     ``NNConv(d, d, MLP 1→d→d²)`` (edge-conditioned weights)
genconv                      ``GENConv(d, d)`` (softmax aggregation)
gmmconv                d     ``GMMConv(d, d, dim=1, kernel_size=8)`` on the raw distance
resgatedgraphconv      d     ``ResGatedGraphConv(d, d, edge_dim=1)``
generalconv            d     ``GeneralConv(d, d, in_edge_channels=1)``
pdnconv                d     ``PDNConv(d, d, edge_dim=1, hidden_channels=d)``, self_loop
splineconv             d     B-spline ``SplineConv(d, d, dim=1, kernel_size=8)`` on
                             :math:`\mathrm{clamp}(d_{ji}/r_c, 0, 1)`
                             (plain torch, :mod:`magmom.models.spline_conv`)
=====================  ====  ==============================================================

All PyG classes above run on plain torch in PyG 2.8 (no ``torch_sparse``/``pyg-lib``):
``GMMConv`` falls back to its dense torch path and the attention/softmax operators use
``torch_geometric.utils.softmax``; only ``SplineConv`` needs ``pyg-lib`` and is reimplemented.
The (d) edge feature is the distance itself, shape ``(E, 1)``. Each non-residual layer is
:math:`h' = \mathrm{ReLU}(\mathrm{conv}(h))`; ``schnetconv`` is :math:`h' = h + \mathrm{block}(h)`.

**Self-loops and periodic self-images.** In a periodic graph an atom can neighbour its own images:
edges :math:`i \to i` with cell offset :math:`S \neq 0`. ``edge_index`` cannot tell them from a
self-loop, and PyG's self-loop handling (``add_self_loops=True`` of ``GATv2Conv``, ``GCNConv``
and ``PDNConv``: ``remove_self_loops`` / ``add_remaining_self_loops``) deletes or merges every
:math:`i \to i` edge, so those operators never saw the images. These three (marked
``self_loop``) are therefore built with ``add_self_loops=False``, and the layer appends the atom's
own loop explicitly: one edge :math:`i \to i` per atom with :math:`S = 0` and distance
:math:`0`, beside every image edge. No other operator treats :math:`i \to i` edges specially (the
others have a root/self term instead of a loop), so every operator uses every edge.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor, nn
from torch_geometric import nn as gnn

from magmom.models.schnet_interaction import SchNetInteraction
from magmom.models.spline_conv import SplineConv

GMM_KERNELS = 8
SPLINE_KERNELS = 8
EDGE_DIM = 1


class ConvLayer(nn.Module):
    """``ReLU(conv(h, edge_index[, edge feature]))``.

    ``edge_input``: ``"none"`` (connectivity only), ``"distance"`` (``d`` as an ``(E, 1)``
    feature) or ``"scaled_distance"`` (``clamp(d / cutoff, 0, 1)``, the spline pseudo-coordinate).
    With ``self_loop`` each atom's own loop (``i -> i`` at distance 0) is appended to the edges
    (module docstring); ``conv`` must then add none itself.
    """

    EDGE_INPUTS = ("none", "distance", "scaled_distance")

    def __init__(self, conv: nn.Module, edge_input: str, cutoff: float, self_loop: bool = False):
        super().__init__()
        if edge_input not in self.EDGE_INPUTS:
            raise ValueError(f"edge_input {edge_input!r}; allowed: {self.EDGE_INPUTS}")
        if getattr(conv, "add_self_loops", False):
            raise ValueError(
                f"{type(conv).__name__} adds self-loops itself, which drops periodic self-images; "
                f"build it with add_self_loops=False"
            )
        self.conv = conv
        self.edge_input = edge_input
        self.cutoff = float(cutoff)
        self.self_loop = bool(self_loop)

    def forward(self, h: Tensor, edge_index: Tensor, edge_dist: Tensor) -> Tensor:
        if self.self_loop:
            loops = torch.arange(h.shape[0], device=edge_index.device).expand(2, -1)
            edge_index = torch.cat([edge_index, loops], dim=1)
            edge_dist = torch.cat([edge_dist, edge_dist.new_zeros(h.shape[0])])
        if self.edge_input == "none":
            out = self.conv(h, edge_index)
        elif self.edge_input == "distance":
            out = self.conv(h, edge_index, edge_dist[:, None])
        else:
            pseudo = (edge_dist / self.cutoff).clamp(0.0, 1.0)[:, None]
            out = self.conv(h, edge_index, pseudo)
        return torch.relu(out)

    def extra_repr(self) -> str:
        return f"edge_input={self.edge_input!r}, self_loop={self.self_loop}"


@dataclass(frozen=True)
class Operator:
    """How to build one layer of an operator.

    ``build(hidden, cutoff)`` returns the convolution, which :func:`build_layer` wraps in a
    :class:`ConvLayer` fed ``edge_input`` (and each atom's own loop when ``self_loop``); when
    ``is_layer`` it already is a complete layer with the ``(h, edge_index, edge_dist)`` signature
    (``schnetconv``).
    """

    name: str
    uses_distance: bool
    build: Callable[[int, float], nn.Module]
    edge_input: str = "none"
    is_layer: bool = False
    self_loop: bool = False


def _mlp(*widths: int) -> nn.Sequential:
    layers: list[nn.Module] = []
    for k, (a, b) in enumerate(zip(widths[:-1], widths[1:], strict=True)):
        if k:
            layers.append(nn.ReLU())
        layers.append(nn.Linear(a, b))
    return nn.Sequential(*layers)


def _operators() -> dict[str, Operator]:
    table = [
        Operator("cgconv", True, lambda d, c: gnn.CGConv(d, dim=EDGE_DIM, batch_norm=True),
                 "distance"),
        Operator("schnetconv", True, lambda d, c: SchNetInteraction(d, c), is_layer=True),
        Operator("graphconv", False, lambda d, c: gnn.GraphConv(d, d)),
        Operator("sageconv", False, lambda d, c: gnn.SAGEConv(d, d)),
        Operator("gatv2conv", True,
                 lambda d, c: gnn.GATv2Conv(d, d, heads=1, edge_dim=EDGE_DIM,
                                            add_self_loops=False),
                 "distance", self_loop=True),
        Operator("gcnconv", False, lambda d, c: gnn.GCNConv(d, d, add_self_loops=False),
                 self_loop=True),
        Operator("transformerconv", True,
                 lambda d, c: gnn.TransformerConv(d, d, heads=1, edge_dim=EDGE_DIM), "distance"),
        Operator("gineconv", True, lambda d, c: gnn.GINEConv(_mlp(d, d, d), edge_dim=EDGE_DIM),
                 "distance"),
        Operator("nnconv", True, lambda d, c: gnn.NNConv(d, d, _mlp(EDGE_DIM, d, d * d)),
                 "distance"),
        Operator("genconv", False, lambda d, c: gnn.GENConv(d, d)),
        Operator("gmmconv", True,
                 lambda d, c: gnn.GMMConv(d, d, dim=EDGE_DIM, kernel_size=GMM_KERNELS),
                 "distance"),
        Operator("resgatedgraphconv", True,
                 lambda d, c: gnn.ResGatedGraphConv(d, d, edge_dim=EDGE_DIM), "distance"),
        Operator("generalconv", True,
                 lambda d, c: gnn.GeneralConv(d, d, in_edge_channels=EDGE_DIM), "distance"),
        Operator("pdnconv", True,
                 lambda d, c: gnn.PDNConv(d, d, edge_dim=EDGE_DIM, hidden_channels=d,
                                          add_self_loops=False),
                 "distance", self_loop=True),
        Operator("splineconv", True,
                 lambda d, c: SplineConv(d, d, dim=EDGE_DIM, kernel_size=SPLINE_KERNELS),
                 "scaled_distance"),
    ]  # fmt: skip
    return {op.name: op for op in table}


OPERATORS: dict[str, Operator] = _operators()
"""The 15 MagmomGNN operators in the study's order."""


def build_layer(name: str, hidden: int, cutoff: float) -> nn.Module:
    """One layer ``h -> h'`` of operator ``name`` at width ``hidden``."""
    if name not in OPERATORS:
        raise ValueError(f"unknown operator {name!r}; allowed: {', '.join(OPERATORS)}")
    op = OPERATORS[name]
    conv = op.build(hidden, float(cutoff))
    return conv if op.is_layer else ConvLayer(conv, op.edge_input, cutoff, op.self_loop)
