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
"""

from __future__ import annotations

from torch import Tensor, nn

from magmom.layout import NUM_Z
from magmom.models.operators import OPERATORS, build_layer


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

    def forward(self, batch) -> Tensor:
        h = self.embedding(batch.z)
        edge_index, edge_dist = batch.edge_index, batch.edge_dist
        for layer in self.layers:
            h = layer(h, edge_index, edge_dist)
        return self.readout(h).squeeze(-1)

    def extra_repr(self) -> str:
        return f"operator={self.operator!r}, cutoff={self.cutoff:g}"
