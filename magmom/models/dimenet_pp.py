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
import torch.nn.functional as F
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


class NodeFirstEmbeddingBlock(EmbeddingBlock):
    """PyG's ``EmbeddingBlock`` (same parameters), with the atom terms projected per atom.

    ``lin([h_i, h_j, r_ji])`` splits into ``W_a h_i + W_b h_j + W_c r_ji + b``; the first two are
    computed once per atom and gathered, instead of once per edge.
    """

    def forward(self, x: Tensor, rbf: Tensor, i: Tensor, j: Tensor) -> Tensor:
        h = self.emb(x)
        hidden = h.size(1)
        weight = self.lin.weight  # (H, 3H): [W_a | W_b | W_c]
        # (N, 2H): [h W_a^T | h W_b^T]
        atom_terms = h @ torch.cat([weight[:, :hidden], weight[:, hidden : 2 * hidden]]).T
        term_i, term_j = atom_terms[:, :hidden], atom_terms[:, hidden:]
        rbf = self.act(self.lin_rbf(rbf))
        return self.act(
            term_i.index_select(0, i)
            + term_j.index_select(0, j)
            + F.linear(rbf, weight[:, 2 * hidden :], self.lin.bias)
        )


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
            in_index: ``(N, D_in)`` edge ids of ``layout.in_edge``, padding mapped to any edge.
        """
        both = F.linear(
            x,
            torch.cat([self.lin_ji.weight, self.lin_kj.weight]),
            torch.cat([self.lin_ji.bias, self.lin_kj.bias]),
        )
        x_ji, x_kj = self.act(both).chunk(2, dim=1)
        x_kj = x_kj * self.lin_rbf2(self.lin_rbf1(rbf))
        x_kj = self.act(self.lin_down(x_kj))  # (E, I)

        int_emb = x_kj.size(1)
        num_spherical, num_radial = radial_sbf.shape[1:]
        basis = (self.lin_sbf2.weight @ self.lin_sbf1.weight).view(
            int_emb, num_spherical, num_radial
        )
        per_edge = torch.einsum("elk,ilk->eli", radial_sbf, basis) * x_kj[:, None, :]
        # padding slots gather an arbitrary edge: their angular weights are exactly zero
        num_nodes, in_width = in_index.shape
        per_edge = per_edge.index_select(0, in_index.flatten())
        per_edge = per_edge.view(num_nodes, in_width * num_spherical, int_emb)
        summed = torch.bmm(angular, per_edge)  # (N, D_out, I)
        x_kj = summed.reshape(-1, int_emb).index_select(0, layout.out_position)
        x_kj = self.act(self.lin_up(x_kj))

        h = x_ji + x_kj
        for layer in self.layers_before_skip:
            h = layer(h)
        h = self.act(self.lin(h)) + x
        for layer in self.layers_after_skip:
            h = layer(h)
        return h


class PeriodicDimeNetPlusPlus(torch.nn.Module):
    r"""DimeNet++ on a cached periodic graph; ``forward(batch)`` returns ``(num_nodes,)``.

    Reads ``batch.z``, ``batch.edge_index`` (row 0 = source ``j``, row 1 = target ``i``),
    ``batch.edge_vec`` and, when present, ``batch.cell_offset``. Atomic numbers up to 94 (PyG's
    embedding table has 95 rows).

    Args:
        hidden_channels (int, optional): Size of the edge messages :math:`m_{ji}` and of the atom
            embeddings. (default: :obj:`128`)
        num_blocks (int, optional): Number of interaction blocks; there is one output block more
            (the embedding's). (default: :obj:`3`)
        int_emb_size (int, optional): Size of the message after the down projection
            :math:`W_{\mathrm{down}}`, where the triplet sum runs. (default: :obj:`64`)
        basis_emb_size (int, optional): Size of the radial and spherical basis embeddings
            inside an interaction block. (default: :obj:`8`)
        out_emb_channels (int, optional): Width of the output blocks' MLP after their up
            projection. (default: :obj:`128`)
        num_spherical (int, optional): Number of spherical harmonics :math:`l` of the angular
            basis :math:`Y_l(\alpha)`. (default: :obj:`7`)
        num_radial (int, optional): Number of radial basis functions :math:`n`, for
            :math:`e_{\mathrm{RBF}}` and :math:`R_{ln}`. (default: :obj:`6`)
        cutoff (float, optional): Cutoff distance in Å of the bases' envelope; the graph's own
            cutoff, which chose the edges. (default: :obj:`5.0`)
        envelope_exponent (int, optional): Exponent :math:`p` of the smooth envelope that takes
            the bases to zero at the cutoff. (default: :obj:`5`)
        num_before_skip (int, optional): Residual layers of an interaction block before its skip
            connection. (default: :obj:`1`)
        num_after_skip (int, optional): Residual layers after the skip connection.
            (default: :obj:`2`)
        num_output_layers (int, optional): Hidden layers of each output block's MLP.
            (default: :obj:`2`)
        out_channels (int, optional): Outputs per atom; the moment models use :obj:`1` (the
            result is squeezed to ``(num_nodes,)``, else ``(num_nodes, out_channels)``).
            (default: :obj:`1`)
        act (str or Callable, optional): The activation function; ``"swish"`` and ``"silu"``
            both mean :math:`x\,\sigma(x)` (computed by ``F.silu``), other names go through
            PyG's ``activation_resolver``. (default: :obj:`"swish"`)
        output_initializer (str, optional): Initialisation of the output blocks' last layer:
            ``"zeros"`` (every model starts at a zero prediction) or ``"glorot_orthogonal"``.
            (default: :obj:`"zeros"`)
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
        # PyG's "swish" is x * sigmoid(x); F.silu is the same function as one fused kernel
        act = F.silu if act in ("swish", "silu") else activation_resolver(act)
        self.cutoff = float(cutoff)
        self.out_channels = out_channels
        self.rbf = BesselBasisLayer(num_radial, cutoff, envelope_exponent)
        self.sbf = SphericalBasis(num_spherical, num_radial, cutoff, envelope_exponent)
        self.emb = NodeFirstEmbeddingBlock(num_radial, hidden_channels, act)
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
        j, i = edge_index
        layout = dense_triplets(edge_index, num_nodes, cell_offset)

        dist = edge_vec.norm(dim=-1)
        unit = edge_vec / dist[:, None]
        # padding slots (-1) point at edge 0; layout.mask zeroes whatever they produce
        in_index, out_index = layout.in_edge.clamp_min(0), layout.out_edge.clamp_min(0)
        unit_out = unit.index_select(0, out_index.flatten()).view(*out_index.shape, 3)
        unit_in = unit.index_select(0, in_index.flatten()).view(*in_index.shape, 3)
        cos_angle = torch.bmm(unit_out, unit_in.transpose(1, 2)).clamp(-1.0, 1.0)
        angular = self.sbf.angular(cos_angle) * layout.mask[..., None]  # (N, D_out, D_in, L)
        _, out_width, in_width = layout.mask.shape
        angular = angular.view(num_nodes, out_width, in_width * self.sbf.num_spherical)

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
