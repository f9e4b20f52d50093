r"""Periodic edge triplets :math:`k \to j \to i` for directional message passing, in plain torch.

Edges follow PyG's source-to-target flow: edge :math:`e = (j \to i)` has ``edge_index[0, e] = j``
(the neighbour) and ``edge_index[1, e] = i`` (the centre), and in a periodic graph it carries the
integer cell offset :math:`S_{ji}` of the image of :math:`j` that :math:`i` sees,
:math:`D_{ji} = r_j + S_{ji} C - r_i`. DimeNet pairs every edge :math:`j \to i` with every edge
:math:`k \to j` that ends where it starts,

.. math::
    \mathcal{T} = \{(kj, ji) : \mathrm{target}(kj) = \mathrm{source}(ji)\}
        \setminus \{(kj, ji) : k = i \wedge S_{kj} + S_{ji} = 0\}.

Seen from :math:`i`, the far end of the path :math:`k \to j \to i` sits at
:math:`r_k + (S_{kj} + S_{ji}) C`, so the removed triplets are exactly the paths that return to the
very atom :math:`i` (its own image). PyG's ``triplets()`` removes every :math:`k = i`, which in a
small periodic cell also drops real neighbours (:math:`i` seen through another image); it also
needs ``torch_sparse``. Without offsets (``cell_offset=None``) the rule reduces to PyG's.

Two layouts of the same set are built:

* :func:`triplets` — flat index lists in PyG's order of return
  ``(i, j, idx_i, idx_j, idx_k, idx_kj, idx_ji)``, grouped by ``idx_ji``;
* :func:`dense_triplets` — per middle atom :math:`j`, its incoming edges (:math:`k \to j`, padded
  to ``(N, D_in)``) and outgoing edges (:math:`j \to i`, padded to ``(N, D_out)``) plus a
  ``(N, D_out, D_in)`` mask of valid pairs, so triplet sums become batched matrix products.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor


class Triplets(NamedTuple):
    """Flat triplet lists, PyG's convention (``i``/``j`` are the targets/sources of the edges)."""

    i: Tensor
    j: Tensor
    idx_i: Tensor
    idx_j: Tensor
    idx_k: Tensor
    idx_kj: Tensor
    idx_ji: Tensor


class DenseTriplets(NamedTuple):
    """Triplets laid out per middle atom ``j``.

    ``in_edge[j, a]``: id of the ``a``-th edge ``k -> j`` (``-1`` = padding);
    ``out_edge[j, b]``: id of the ``b``-th edge ``j -> i`` (``-1`` = padding);
    ``mask[j, b, a]``: edge pair (``in_edge[j, a]``, ``out_edge[j, b]``) is a triplet;
    ``out_position[e]``: flat position ``j * D_out + b`` of edge ``e`` in the ``out_edge`` table.
    """

    in_edge: Tensor
    out_edge: Tensor
    mask: Tensor
    out_position: Tensor

    @property
    def count(self) -> int:
        return int(self.mask.sum())


def _slots(node: Tensor, num_nodes: int) -> tuple[Tensor, Tensor, int]:
    """Group edges by ``node``: per-edge slot within its group, the padded table, its width."""
    num_edges = node.numel()
    count = torch.bincount(node, minlength=num_nodes)
    order = torch.argsort(node, stable=True)
    start = torch.cumsum(count, 0) - count
    slot = torch.empty_like(node)
    slot[order] = torch.arange(num_edges, device=node.device) - start[node[order]]
    width = int(count.max()) if num_edges else 0
    table = torch.full((num_nodes, width), -1, dtype=torch.long, device=node.device)
    table[node, slot] = torch.arange(num_edges, device=node.device)
    return slot, table, width


def _same_image(k: Tensor, i: Tensor, offset_kj: Tensor | None, offset_ji: Tensor | None) -> Tensor:
    """True where the path ``k -> j -> i`` returns to atom ``i`` itself (same periodic image)."""
    same = k == i
    if offset_kj is not None:
        same = same & (offset_kj + offset_ji == 0).all(dim=-1)
    return same


_OFFSET_BITS = 12  # offsets |S| < 2**11 per direction are packed with the atom index


def _image_key(atom: Tensor, offset: Tensor) -> Tensor:
    """One int64 per (atom, offset): equal keys <=> same atom and same image."""
    half = 1 << (_OFFSET_BITS - 1)
    key = atom
    for d in range(3):
        key = (key << _OFFSET_BITS) + (offset[..., d] + half)
    return key


def triplets(edge_index: Tensor, num_nodes: int, cell_offset: Tensor | None = None) -> Triplets:
    """Flat triplet lists, grouped by ``idx_ji`` (ascending) and, within, by edge id of ``kj``.

    Args:
        edge_index: ``(2, E)``, row 0 = source ``j``, row 1 = target ``i``.
        num_nodes: number of atoms ``N``.
        cell_offset: ``(E, 3)`` integer offsets ``S`` of each edge, or ``None`` for a
            non-periodic graph (then every ``k = i`` is removed, as in PyG).
    """
    row, col = edge_index  # j -> i
    num_edges = row.numel()
    device = row.device
    in_count = torch.bincount(col, minlength=num_nodes)
    in_start = torch.cumsum(in_count, 0) - in_count
    in_sorted = torch.argsort(col, stable=True)  # edges grouped by their target
    per_edge = in_count[row]  # edges k -> j available to each edge j -> i
    idx_ji = torch.repeat_interleave(torch.arange(num_edges, device=device), per_edge)
    first = torch.cumsum(per_edge, 0) - per_edge
    rank = torch.arange(idx_ji.numel(), device=device) - first[idx_ji]
    idx_kj = in_sorted[in_start[row[idx_ji]] + rank]
    idx_i, idx_j, idx_k = col[idx_ji], row[idx_ji], row[idx_kj]
    offsets = (None, None) if cell_offset is None else (cell_offset[idx_kj], cell_offset[idx_ji])
    keep = ~_same_image(idx_k, idx_i, *offsets)
    return Triplets(
        i=col,
        j=row,
        idx_i=idx_i[keep],
        idx_j=idx_j[keep],
        idx_k=idx_k[keep],
        idx_kj=idx_kj[keep],
        idx_ji=idx_ji[keep],
    )


def dense_triplets(
    edge_index: Tensor, num_nodes: int, cell_offset: Tensor | None = None
) -> DenseTriplets:
    """Per-atom padded layout of the same triplet set as :func:`triplets`."""
    row, col = edge_index  # j -> i
    _, in_edge, _ = _slots(col, num_nodes)  # edges k -> j, grouped by j = target
    out_slot, out_edge, out_width = _slots(row, num_nodes)  # edges j -> i, grouped by j = source
    in_valid, out_valid = in_edge >= 0, out_edge >= 0
    in_safe, out_safe = in_edge.clamp_min(0), out_edge.clamp_min(0)
    k = row[in_safe][:, None, :]  # (N, 1, D_in)
    i = col[out_safe][:, :, None]  # (N, D_out, 1)
    half = 1 << (_OFFSET_BITS - 1)
    if cell_offset is None:
        returns = k == i
    elif cell_offset.numel() == 0 or int(cell_offset.abs().max()) < half:
        # k's image lies on i iff k = i and S_kj = -S_ji: compare one packed key per slot
        key_in = _image_key(row[in_safe], cell_offset[in_safe])[:, None, :]
        key_out = _image_key(col[out_safe], -cell_offset[out_safe])[:, :, None]
        returns = key_in == key_out
    else:
        offsets = (cell_offset[in_safe][:, None, :, :], cell_offset[out_safe][:, :, None, :])
        returns = _same_image(k, i, *offsets)
    mask = out_valid[:, :, None] & in_valid[:, None, :] & ~returns
    return DenseTriplets(
        in_edge=in_edge,
        out_edge=out_edge,
        mask=mask,
        out_position=row * out_width + out_slot,
    )
