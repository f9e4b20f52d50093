r"""MagmomGNN: atomic numbers in, one value per atom out, through one of 15 operators.

For a graph with atomic numbers :math:`Z_i` and edges :math:`j \to i` of length :math:`d_{ji}`,

.. math::
    \mathbf{h}_i^{(0)} = \mathbf{E}[Z_i], \qquad
    \mathbf{h}^{(t+1)} = \mathrm{layer}_t\big(\mathbf{h}^{(t)}, \mathcal{E}, d\big),
    \quad t = 0..T-1, \qquad
    \hat y_i = \mathrm{MLP}\big(\mathbf{h}_i^{(T)}\big) \in \mathbb{R},

with :math:`\mathbf{E}` a learned ``Embedding(119, d)`` (row 0, no element, is padding), ``layers``
layers of one operator from :mod:`magmom.models.operators` (:math:`\mathrm{ReLU}` after each
convolution; ``schnetconv`` is residual instead), and a per-node readout MLP with
``readout_hidden_layers`` hidden layers of width :math:`d` and ReLU. There is no pooling: the
output is one number per atom. The study's token ``c128l3h1`` is ``hidden=128, layers=3,
readout_hidden_layers=1``.

**Layer scales (data-dependent initialisation).** Operators that sum messages without
normalisation (``graphconv``, ``gineconv``, ``nnconv``, ``resgatedgraphconv``, ``generalconv``)
multiply the feature scale by roughly the number of neighbours in every layer: at 6 Å (about 40
edges per atom) three layers of freshly initialised ``nnconv`` (width 32) predict ~10⁵–10⁶ μB for
targets of ~1 μB, and a short run cannot climb down from there. Each layer's output is therefore
multiplied by a fixed scale :math:`s_t` (a buffer, not a parameter):

.. math::
    \mathbf{h}^{(t+1)} = s_t \, \mathrm{layer}_t\big(\mathbf{h}^{(t)}, \mathcal{E}, d\big),
    \qquad s_t = \min\big(1, 1 / \mathrm{RMS}(\mathrm{layer}_t(\ldots))\big),

set once before training by :meth:`MagmomGNN.calibrate` on the first training batch (layer by layer,
each seeing the already scaled output of the previous one; :math:`s_t = 1` for the ``schnetconv``
residual layers and for every layer whose output RMS is at most 1, so the well-scaled operators are
untouched). The RMS is that of the network **in training mode**, the statistics the layers train
with: ``cgconv``'s BatchNorm normalises with the batch's statistics there, while in eval mode it
would use its initial running statistics (mean 0, variance 1) and a scale fitted to those would
shrink cgconv's training-mode features to ~0.05 RMS. Calibration changes no other buffer:
BatchNorm's running statistics are restored afterwards. Since :math:`s_t > 0` and ReLU is positively
homogeneous, this equals scaling the pre-activation. The scales are saved with the weights; a
checkpoint written before they existed loads with :math:`s_t = 1`.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from magmom.layout import NUM_Z
from magmom.models.operators import OPERATORS, ConvLayer, build_layer


def readout_mlp(hidden: int, hidden_layers: int) -> nn.Sequential:
    """``hidden_layers`` x (Linear(d, d) + ReLU), then Linear(d, 1)."""
    layers: list[nn.Module] = []
    for _ in range(hidden_layers):
        layers += [nn.Linear(hidden, hidden), nn.ReLU()]
    layers.append(nn.Linear(hidden, 1))
    return nn.Sequential(*layers)


class MagmomGNN(nn.Module):
    """Per-atom regression with one message-passing operator; ``forward(batch) -> (N,)``.

    Reads ``batch.z`` (long, ``(N,)``), ``batch.edge_index`` (row 0 = source ``j``, row 1 = target
    ``i``) and ``batch.edge_dist`` (``(E,)``).
    """

    def __init__(
        self,
        operator: str,
        cutoff: float,
        hidden: int = 128,
        layers: int = 3,
        readout_hidden_layers: int = 1,
    ):
        super().__init__()
        if operator not in OPERATORS:
            raise ValueError(f"unknown operator {operator!r}; allowed: {', '.join(OPERATORS)}")
        if hidden < 1 or layers < 1 or readout_hidden_layers < 0:
            raise ValueError(
                f"need hidden >= 1, layers >= 1, readout_hidden_layers >= 0; got {hidden}, "
                f"{layers}, {readout_hidden_layers}"
            )
        self.operator = operator
        self.cutoff = float(cutoff)
        self.embedding = nn.Embedding(NUM_Z, hidden, padding_idx=0)
        self.layers = nn.ModuleList(build_layer(operator, hidden, cutoff) for _ in range(layers))
        self.readout = readout_mlp(hidden, readout_hidden_layers)
        self.register_buffer("layer_scale", torch.ones(layers))

    def forward(self, batch) -> Tensor:
        h = self.embedding(batch.z)
        edge_index, edge_dist = batch.edge_index, batch.edge_dist
        for layer, scale in zip(self.layers, self.layer_scale, strict=True):
            h = layer(h, edge_index, edge_dist) * scale
        return self.readout(h).squeeze(-1)

    @torch.no_grad()
    def calibrate(self, batch) -> Tensor:
        """Set :attr:`layer_scale` from ``batch`` (module docstring); returns the scales."""
        was_training = self.training
        # training-mode statistics, without letting this pass update BatchNorm's running ones
        kept = {name: b.clone() for name, b in self.named_buffers() if name != "layer_scale"}
        self.train()
        self.layer_scale.fill_(1.0)
        h = self.embedding(batch.z)
        for t, layer in enumerate(self.layers):
            out = layer(h, batch.edge_index, batch.edge_dist)
            rms = float(out.pow(2).mean().sqrt())
            if isinstance(layer, ConvLayer) and rms > 1.0:
                self.layer_scale[t] = 1.0 / rms
            h = out * self.layer_scale[t]
        for name, buffer in self.named_buffers():
            if name in kept:
                buffer.copy_(kept[name])
        self.train(was_training)
        return self.layer_scale.clone()

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        # checkpoints written before the layer scales existed: every scale is 1
        state_dict.setdefault(prefix + "layer_scale", torch.ones_like(self.layer_scale))
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def extra_repr(self) -> str:
        return f"operator={self.operator!r}, cutoff={self.cutoff:g}"


def calibrate_layer_scales(model: nn.Module, batch) -> list[Tensor]:
    """:meth:`MagmomGNN.calibrate` every MagmomGNN inside ``model`` (also when wrapped, e.g. by
    :class:`~magmom.models.residual.ResidualTarget`); other models are left alone."""
    return [m.calibrate(batch) for m in model.modules() if isinstance(m, MagmomGNN)]
