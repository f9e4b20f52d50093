r"""SplineCNN's B-spline convolution in plain torch (PyG's ``SplineConv`` needs ``pyg-lib``).

Fey et al. (2018) weight each neighbour by a continuous kernel of its pseudo-coordinates
:math:`\mathbf{u}_{ji} \in [0, 1]^D`:

.. math::
    \mathbf{x}'_i = \mathbf{W}_{\mathrm{root}}\,\mathbf{x}_i + \mathbf{b}
        + \operatorname*{agg}_{j \in \mathcal{N}(i)} \sum_{\mathbf{p} \in P(\mathbf{u}_{ji})}
        B_{\mathbf{p}}(\mathbf{u}_{ji})\; \mathbf{x}_j \mathbf{W}_{\mathbf{p}},

with one weight matrix :math:`\mathbf{W}_{\mathbf{p}}` per knot of a tensor-product grid of
:math:`K_1 \times \dots \times K_D` knots, and :math:`B_{\mathbf{p}}` the product over dimensions
of 1-D B-spline bases of degree :math:`m`. Per dimension the coordinate is stretched to
:math:`v = u\,(K - m)` for an open spline (:math:`v = u K` for a closed one); the
:math:`m + 1` non-zero bases sit on knots :math:`(\lfloor v \rfloor + s) \bmod K`,
:math:`s = 0..m`, with weights given by the fractional part :math:`t = v - \lfloor v \rfloor`
(degree 1: :math:`1 - t,\ t`; degrees 2 and 3: the uniform quadratic/cubic B-spline pieces).
So every edge touches :math:`(m + 1)^D` weight matrices.

This follows the reference kernels of ``torch-spline-conv``/``pyg-lib`` (basis, knot index and
:math:`(m+1)^D` enumeration order) and keeps PyG's parameter names (``weight`` of shape
``(K, C_in, C_out)``, ``lin`` for the root weight, ``bias``), so state dicts are interchangeable.
The weighting is done node-first: :math:`\mathbf{x}\mathbf{W}_{\mathbf{p}}` is computed once per
node and knot, then gathered per edge, which needs no custom kernel.
"""

from __future__ import annotations

import itertools

import torch
from torch import Tensor
from torch.nn import Parameter
from torch_geometric.nn.dense.linear import Linear
from torch_geometric.nn.inits import uniform, zeros
from torch_geometric.utils import scatter

AGGREGATIONS = ("sum", "add", "mean", "max", "min")


def _basis_1d(t: Tensor, s: int, degree: int) -> Tensor:
    """Uniform B-spline piece ``s`` of ``degree`` at fractional position ``t`` in [0, 1)."""
    if degree == 1:
        return 1.0 - t if s == 0 else t
    if degree == 2:
        return (0.5 * t * t - t + 0.5, -t * t + t + 0.5, 0.5 * t * t)[s]
    if degree == 3:
        pieces = (
            (1.0 - t) ** 3 / 6.0,
            (3.0 * t**3 - 6.0 * t**2 + 4.0) / 6.0,
            (-3.0 * t**3 + 3.0 * t**2 + 3.0 * t + 1.0) / 6.0,
            t**3 / 6.0,
        )
        return pieces[s]
    raise ValueError(f"B-spline degree must be 1, 2 or 3, got {degree}")


def spline_basis(
    pseudo: Tensor, kernel_size: Tensor, is_open_spline: Tensor, degree: int
) -> tuple[Tensor, Tensor]:
    """Non-zero B-spline products and their flat knot indices, both ``(E, (degree + 1)^D)``.

    Column ``s`` enumerates the knot offsets with the first dimension varying fastest, and flat
    knot indices put the first dimension fastest too, as in the reference kernels.
    """
    num_dims = pseudo.size(1)
    stretch = kernel_size.to(pseudo.dtype) - degree * is_open_spline.to(pseudo.dtype)
    v = pseudo * stretch  # (E, D)
    floor = v.floor()
    frac = v - floor
    floor = floor.long()
    basis_cols, index_cols = [], []
    # itertools.product varies its last factor fastest: reverse to make dimension 0 fastest
    for offsets in itertools.product(range(degree + 1), repeat=num_dims):
        offsets = offsets[::-1]
        b = torch.ones_like(pseudo[:, 0])
        wi = torch.zeros_like(floor[:, 0])
        stride = 1
        for d, s in enumerate(offsets):
            b = b * _basis_1d(frac[:, d], s, degree)
            wi = wi + ((floor[:, d] + s) % kernel_size[d]) * stride
            stride *= int(kernel_size[d])
        basis_cols.append(b)
        index_cols.append(wi)
    return torch.stack(basis_cols, dim=1), torch.stack(index_cols, dim=1)


class SplineConv(torch.nn.Module):
    """B-spline convolution (see module docstring); ``forward(x, edge_index, pseudo)``.

    Args mirror PyG's ``SplineConv``: ``dim`` pseudo-coordinate dimensions, ``kernel_size`` knots
    per dimension, open or closed splines, ``degree`` 1–3, aggregation ``aggr`` (default mean),
    optional root weight and bias. Pseudo-coordinates must lie in [0, 1].
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        dim: int,
        kernel_size: int | list[int],
        is_open_spline: bool | list[bool] = True,
        degree: int = 1,
        aggr: str = "mean",
        root_weight: bool = True,
        bias: bool = True,
    ):
        super().__init__()
        if aggr not in AGGREGATIONS:
            raise ValueError(f"aggr {aggr!r} not allowed; allowed: {', '.join(AGGREGATIONS)}")
        if degree not in (1, 2, 3):
            raise ValueError(f"degree must be 1, 2 or 3, got {degree}")
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.dim = dim
        self.degree = degree
        self.aggr = aggr
        self.root_weight = root_weight
        sizes = [kernel_size] * dim if isinstance(kernel_size, int) else list(kernel_size)
        opens = [is_open_spline] * dim if isinstance(is_open_spline, bool) else list(is_open_spline)
        if len(sizes) != dim or len(opens) != dim:
            raise ValueError(f"kernel_size and is_open_spline need {dim} entries")
        self.register_buffer("kernel_size", torch.tensor(sizes, dtype=torch.long))
        self.register_buffer("is_open_spline", torch.tensor(opens, dtype=torch.uint8))
        self.K = int(torch.tensor(sizes).prod())
        self.weight = Parameter(torch.empty(self.K, in_channels, out_channels))
        if root_weight:
            self.lin = Linear(in_channels, out_channels, bias=False, weight_initializer="uniform")
        if bias:
            self.bias = Parameter(torch.empty(out_channels))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        uniform(self.weight.size(0) * self.weight.size(1), self.weight)
        if self.root_weight:
            self.lin.reset_parameters()
        zeros(self.bias)

    def forward(self, x: Tensor, edge_index: Tensor, pseudo: Tensor) -> Tensor:
        if pseudo.dim() == 1:
            pseudo = pseudo[:, None]
        source, target = edge_index
        basis, knot = spline_basis(pseudo, self.kernel_size, self.is_open_spline, self.degree)
        # x W_p for every node and knot, then one gather per non-zero basis function
        per_knot = torch.einsum("ni,kio->nko", x, self.weight).reshape(-1, self.out_channels)
        rows = source[:, None] * self.K + knot  # (E, S)
        messages = (basis[..., None] * per_knot[rows]).sum(dim=1)  # (E, C_out)
        out = scatter(messages, target, dim=0, dim_size=x.size(0), reduce=self.aggr)
        if self.root_weight:
            out = out + self.lin(x)
        if self.bias is not None:
            out = out + self.bias
        return out

    def __repr__(self) -> str:
        return (
            f"{self.__class__.__name__}({self.in_channels}, {self.out_channels}, dim={self.dim}, "
            f"kernel_size={self.kernel_size.tolist()}, degree={self.degree}, aggr={self.aggr!r})"
        )
