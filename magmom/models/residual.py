r"""Residual-target variant: a fixed per-element bias plus a learned correction.

With :math:`\bar y_Z` the mean target of element :math:`Z` over the training split, the model
predicts

.. math::
    \hat y_i = \bar y_{Z_i} + f_\theta(\mathcal{G})_i ,

so the network :math:`f_\theta` only learns the deviation of each atom from its element's mean.
:math:`\bar y` is a buffer (length 119, indexed by atomic number; the global training mean for
elements unseen in training, :meth:`magmom.graphs.element_stats.ElementStats.mean`): it is saved in
the ``state_dict`` and restored by ``load_state_dict``, but never trained.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from magmom.layout import NUM_Z


class ResidualTarget(nn.Module):
    """``element_mean[batch.z] + network(batch)``."""

    element_mean: Tensor

    def __init__(self, network: nn.Module, element_mean: Tensor):
        super().__init__()
        element_mean = torch.as_tensor(element_mean, dtype=torch.float32).detach().clone()
        if element_mean.shape != (NUM_Z,):
            raise ValueError(
                f"element_mean must have shape ({NUM_Z},) (indexed by atomic number), "
                f"got {tuple(element_mean.shape)}"
            )
        if not bool(torch.isfinite(element_mean).all()):
            raise ValueError("element_mean has non-finite entries")
        self.network = network
        self.register_buffer("element_mean", element_mean)

    def forward(self, batch) -> Tensor:
        return self.element_mean[batch.z] + self.network(batch)
