r"""SchNet's continuous-filter interaction as a residual MagmomGNN layer (``schnetconv``).

Schütt et al. (2017) filter neighbour features with a function of the distance. Each edge's
distance is expanded in :math:`G = 50` Gaussians on :math:`[0, r_c]`,

.. math::
    e_k(d) = \exp\!\big(-\gamma\,(d - \mu_k)^2\big), \qquad
    \mu_k = \frac{k\,r_c}{G - 1}, \quad \gamma = \frac{1}{2\,(\mu_1 - \mu_0)^2},

and PyG's ``InteractionBlock`` (CFConv) computes

.. math::
    \mathbf{v}_i = \mathbf{W}_3\,\mathrm{ssp}\Big(\mathbf{W}_2 \sum_{j \in \mathcal{N}(i)}
        \mathbf{W}_1\mathbf{x}_j \odot \mathrm{MLP}\big(\mathbf{e}(d_{ji})\big)\,
        \tfrac12\big(\cos(\pi d_{ji}/r_c) + 1\big)\Big) + \mathbf{b},

with the shifted softplus :math:`\mathrm{ssp}(x) = \ln(\tfrac12 e^x + \tfrac12)` and a cosine
envelope that brings each filter smoothly to zero at the cutoff. The layer is residual,
:math:`\mathbf{x}_i' = \mathbf{x}_i + \mathbf{v}_i`, and adds no further activation (the block
has its own non-linearity), as in the study.
"""

from __future__ import annotations

import torch
from torch import Tensor
from torch_geometric.nn.models.schnet import GaussianSmearing, InteractionBlock

NUM_GAUSSIANS = 50


class SchNetInteraction(torch.nn.Module):
    """``x + InteractionBlock(x, edges, d, gaussians(d))`` with Gaussians on ``[0, cutoff]``."""

    def __init__(self, hidden: int, cutoff: float, num_gaussians: int = NUM_GAUSSIANS):
        super().__init__()
        self.distance_expansion = GaussianSmearing(0.0, float(cutoff), num_gaussians)
        self.block = InteractionBlock(hidden, num_gaussians, hidden, float(cutoff))

    def forward(self, x: Tensor, edge_index: Tensor, edge_dist: Tensor) -> Tensor:
        gaussians = self.distance_expansion(edge_dist)
        return x + self.block(x, edge_index, edge_dist, gaussians)
