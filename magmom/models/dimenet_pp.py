r"""Periodic DimeNet++ with one output per atom.

DimeNet++ (Gasteiger et al., 2020) keeps a message :math:`m_{ji}` on every directed edge
:math:`j \to i` and updates it from the messages :math:`m_{kj}` arriving at :math:`j`, weighted
by a basis of the distance :math:`d_{kj}` and the angle :math:`\alpha_{kji}` between the two edges:

.. math::
    m_{ji}' = f_{\mathrm{update}}\Big(m_{ji},\; W_{\mathrm{up}}\,\sigma\Big(\sum_{k}
        \big(W_{\mathrm{sbf}}\, a_{\mathrm{SBF}}(d_{kj}, \alpha_{kji})\big) \odot
        \sigma\big(W_{\mathrm{down}}\,[\sigma(W_{kj} m_{kj}) \odot W_{\mathrm{rbf}}\,
        e_{\mathrm{RBF}}(d_{kj})]\big)\Big)\Big),

summed over the triplets of :mod:`magmom.models.triplets` (a path back to atom :math:`i` itself
is removed; :math:`i` seen through another periodic image is kept). Every output block maps the
edge messages into atoms, :math:`t_i^{(b)} = \mathrm{MLP}\big(\sum_j W_{\mathrm{rbf}}
e_{\mathrm{RBF}}(d_{ji}) \odot m_{ji}\big)`, and the prediction of atom :math:`i` is
:math:`\sum_b t_i^{(b)}` — there is no sum over the atoms of a graph.

Periodicity: distances and angles come from the cached displacement vectors
:math:`D_{ji} = r_j + S_{ji} C - r_i` (``edge_vec``), never from raw positions, so the model sees
every periodic neighbour and is invariant to translating atoms and wrapping them into the cell.
The angle :math:`\alpha_{kji}` between :math:`r_i - r_j` and :math:`r_j - r_k` (PyG's convention)
satisfies :math:`\cos\alpha = \hat D_{ji} \cdot \hat D_{kj}`.

Speed: with :math:`a_{\mathrm{SBF}} = R_{ln}(d_{kj})\,Y_l(\alpha)` and the two bias-free basis
projections composed into one matrix :math:`M` (they are linear), the triplet sum factorises as

.. math::
    \sum_k\sum_l Y_l(\alpha_{kji})\; \underbrace{x_{kj} \odot \sum_n M_{:,ln} R_{ln}(d_{kj})}_
        {P_{kj,l}\ \text{(per edge)}},

which per middle atom :math:`j` is one dense product of a ``(D_out, D_in·L)`` angular matrix
with a ``(D_in·L, C)`` edge matrix (:func:`~magmom.models.triplets.dense_triplets`). PyG's
blocks instead gather, scale and scatter a ``(T, C)`` tensor per triplet in every block.

Parameter names and shapes equal PyG's ``DimeNetPlusPlus`` (the embedding, interaction and output
blocks are PyG's classes), so a ``state_dict`` moves between the two; the spherical basis is
evaluated numerically (:mod:`magmom.models.dimenet_basis`) instead of through sympy.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor
from torch_geometric.nn.models.dimenet import (
    BesselBasisLayer,
    EmbeddingBlock,
    InteractionPPBlock,
    OutputPPBlock,
)
from torch_geometric.nn.resolver import activation_resolver

from magmom.models.dimenet_basis import SphericalBasis
from magmom.models.triplets import DenseTriplets, dense_triplets


class DenseInteractionPPBlock(InteractionPPBlock):
    """PyG's ``InteractionPPBlock`` (same parameters) with the triplet sum as batched matmuls."""

    def forward(  # type: ignore[override]
        self,
        x: Tensor,
        rbf: Tensor,
        radial_sbf: Tensor,
        angular: Tensor,
        layout: DenseTriplets,
        in_index: Tensor,
    ) -> Tensor:
        """Update the edge messages ``x`` (E, C).

        Args:
            rbf: ``(E, K)`` radial Bessel basis of each edge.
            radial_sbf: ``(E, L, K)`` radial factor of the spherical basis of each edge.
            angular: ``(N, D_out, D_in * L)`` zonal harmonics of every triplet angle, zero where
                ``layout.mask`` is false.
            in_index: ``(N, D_in)`` edge ids of ``layout.in_edge`` with padding mapped to ``E``.
        """
        x_ji = self.act(self.lin_ji(x))
        x_kj = self.act(self.lin_kj(x))
        x_kj = x_kj * self.lin_rbf2(self.lin_rbf1(rbf))
        x_kj = self.act(self.lin_down(x_kj))  # (E, I)

        num_edges, int_emb = x_kj.shape
        num_spherical, num_radial = radial_sbf.shape[1:]
        basis = (self.lin_sbf2.weight @ self.lin_sbf1.weight).view(
            int_emb, num_spherical, num_radial
        )
        per_edge = torch.einsum("elk,ilk->eli", radial_sbf, basis) * x_kj[:, None, :]
        per_edge = torch.cat([per_edge, per_edge.new_zeros(1, num_spherical, int_emb)])
        num_nodes, in_width = in_index.shape
        per_edge = per_edge[in_index].view(num_nodes, in_width * num_spherical, int_emb)
        summed = torch.bmm(angular, per_edge)  # (N, D_out, I)
        x_kj = summed.reshape(-1, int_emb)[layout.out_position]
        x_kj = self.act(self.lin_up(x_kj))

        h = x_ji + x_kj
        for layer in self.layers_before_skip:
            h = layer(h)
        h = self.act(self.lin(h)) + x
        for layer in self.layers_after_skip:
            h = layer(h)
        return h


class PeriodicDimeNetPlusPlus(torch.nn.Module):
    """DimeNet++ on a cached periodic graph; ``forward(batch)`` returns ``(num_nodes,)``.

    Reads ``batch.z``, ``batch.edge_index`` (row 0 = source ``j``, row 1 = target ``i``),
    ``batch.edge_vec`` and, when present, ``batch.cell_offset``. Atomic numbers up to 94 (PyG's
    embedding table has 95 rows).
    """

    def __init__(
        self,
        hidden_channels: int = 128,
        num_blocks: int = 3,
        int_emb_size: int = 64,
        basis_emb_size: int = 8,
        out_emb_channels: int = 128,
        num_spherical: int = 7,
        num_radial: int = 6,
        cutoff: float = 5.0,
        envelope_exponent: int = 5,
        num_before_skip: int = 1,
        num_after_skip: int = 2,
        num_output_layers: int = 2,
        out_channels: int = 1,
        act: str | Callable = "swish",
        output_initializer: str = "zeros",
    ):
        super().__init__()
        act = activation_resolver(act)
        self.cutoff = float(cutoff)
        self.out_channels = out_channels
        self.rbf = BesselBasisLayer(num_radial, cutoff, envelope_exponent)
        self.sbf = SphericalBasis(num_spherical, num_radial, cutoff, envelope_exponent)
        self.emb = EmbeddingBlock(num_radial, hidden_channels, act)
        self.output_blocks = torch.nn.ModuleList(
            OutputPPBlock(
                num_radial,
                hidden_channels,
                out_emb_channels,
                out_channels,
                num_output_layers,
                act,
                output_initializer,
            )
            for _ in range(num_blocks + 1)
        )
        self.interaction_blocks = torch.nn.ModuleList(
            DenseInteractionPPBlock(
                hidden_channels,
                int_emb_size,
                basis_emb_size,
                num_spherical,
                num_radial,
                num_before_skip,
                num_after_skip,
                act,
            )
            for _ in range(num_blocks)
        )

    def reset_parameters(self) -> None:
        self.rbf.reset_parameters()
        self.emb.reset_parameters()
        for block in self.output_blocks:
            block.reset_parameters()
        for block in self.interaction_blocks:
            block.reset_parameters()

    def forward(self, batch) -> Tensor:
        z, edge_index, edge_vec = batch.z, batch.edge_index, batch.edge_vec
        cell_offset = getattr(batch, "cell_offset", None)
        return self.per_atom(z, edge_index, edge_vec, cell_offset)

    def per_atom(
        self,
        z: Tensor,
        edge_index: Tensor,
        edge_vec: Tensor,
        cell_offset: Tensor | None = None,
    ) -> Tensor:
        """Per-atom outputs, ``(N,)`` (``(N, out_channels)`` when ``out_channels > 1``)."""
        num_nodes = z.numel()
        num_edges = edge_index.size(1)
        j, i = edge_index
        layout = dense_triplets(edge_index, num_nodes, cell_offset)

        dist = edge_vec.norm(dim=-1)
        unit = torch.cat([edge_vec / dist[:, None], edge_vec.new_zeros(1, 3)])
        in_index = torch.where(layout.in_edge >= 0, layout.in_edge, num_edges)
        out_index = torch.where(layout.out_edge >= 0, layout.out_edge, num_edges)
        cos_angle = torch.bmm(unit[out_index], unit[in_index].transpose(1, 2)).clamp(-1.0, 1.0)
        angular = self.sbf.angular(cos_angle) * layout.mask[..., None]  # (N, D_out, D_in, L)
        angular = angular.view(num_nodes, layout.out_edge.size(1), -1)

        rbf = self.rbf(dist)
        radial_sbf = self.sbf.radial(dist)

        x = self.emb(z, rbf, i, j)
        out = self.output_blocks[0](x, rbf, i, num_nodes=num_nodes)
        for interaction, output in zip(
            self.interaction_blocks, self.output_blocks[1:], strict=True
        ):
            x = interaction(x, rbf, radial_sbf, angular, layout, in_index)
            out = out + output(x, rbf, i, num_nodes=num_nodes)
        return out.squeeze(-1) if self.out_channels == 1 else out
