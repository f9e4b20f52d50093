r"""DimeNet's spherical Fourier–Bessel basis, evaluated numerically (no sympy).

DimeNet (Gasteiger et al., 2020) expands an edge of length :math:`d` and the angle
:math:`\alpha` it makes with a neighbouring edge in the 2-D spherical Fourier–Bessel basis

.. math::
    a_{ln}(d, \alpha) = u\!\left(\frac{d}{c}\right)\,
        \sqrt{\frac{2}{j_{l+1}(z_{ln})^2}}\; j_l\!\left(z_{ln}\,\frac{d}{c}\right)\;
        Y_l^0(\alpha),
    \qquad l = 0..L-1,\; n = 1..K,

with :math:`j_l` the spherical Bessel function of the first kind, :math:`z_{ln}` its
:math:`n`-th positive zero, :math:`c` the cutoff, :math:`u` the polynomial envelope of
exponent :math:`p` (PyG's ``Envelope``) and the zonal real spherical harmonic

.. math::
    Y_l^0(\alpha) = \sqrt{\frac{2l + 1}{4\pi}}\; P_l(\cos\alpha).

PyG's ``SphericalBasisLayer`` derives the closed forms of :math:`j_l` and :math:`P_l` with sympy
and lambdifies them, which costs ~11 s per model build. Here

* the zeros :math:`z_{ln}` come from bisection on the interlacing brackets
  :math:`z_{l-1,n} < z_{ln} < z_{l-1,n+1}` (starting from :math:`z_{0n} = n\pi`), the same scheme
  PyG runs with ``scipy.optimize.brentq``, in float64 to machine precision;
* :math:`j_l(x)` is evaluated in float64 (all orders at once) by the ascending series
  :math:`j_l(x) = x^l \sum_m (-x^2/2)^m / (m!\,(2l+2m+1)!!)` where :math:`x < l + 1` and by the
  upward recurrence :math:`j_{l+1} = \frac{2l+1}{x} j_l - j_{l-1}` elsewhere (stable there);
* :math:`P_l` follows Bonnet's recurrence :math:`l P_l = (2l-1)\,t\,P_{l-1} - (l-1) P_{l-2}`
  directly on :math:`t = \cos\alpha` (no ``atan2``/``cos`` round trip).

The values agree with PyG's sympy basis to ~1e-6 (see ``tests/test_models_dimenet.py``);
construction takes well under a millisecond.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import Tensor
from torch_geometric.nn.models.dimenet import Envelope

_SERIES_TERMS = 22  # enough for float64 wherever the series is used (x < l + 1 <= 7)


def _spherical_bessel_np(order: int, x: np.ndarray) -> np.ndarray:
    """:math:`j_l(x)` for one order on positive ``x`` where the upward recurrence is stable."""
    j_prev = np.sin(x) / x
    if order == 0:
        return j_prev
    j_cur = np.sin(x) / x**2 - np.cos(x) / x
    for n in range(1, order):
        j_prev, j_cur = j_cur, (2 * n + 1) / x * j_cur - j_prev
    return j_cur


def spherical_bessel_zeros(num_spherical: int, num_radial: int) -> np.ndarray:
    r"""The first ``num_radial`` positive zeros of :math:`j_0 .. j_{L-1}`, float64 ``(L, K)``.

    Zeros of consecutive orders interlace, so the :math:`n`-th zero of :math:`j_l` is bracketed by
    the :math:`n`-th and :math:`(n+1)`-th zeros of :math:`j_{l-1}`; each order therefore needs
    ``K + L - 1 - l`` zeros of the previous one. All brackets of one order are bisected at once.
    """
    count = num_radial + num_spherical - 1
    zeros = np.zeros((num_spherical, num_radial))
    points = np.arange(1, count + 1) * math.pi  # zeros of j_0
    zeros[0] = points[:num_radial]
    for order in range(1, num_spherical):
        lo, hi = points[:-1].copy(), points[1:].copy()
        f_lo = _spherical_bessel_np(order, lo)
        for _ in range(80):  # interval halves 80 times: far below float64 resolution
            mid = 0.5 * (lo + hi)
            f_mid = _spherical_bessel_np(order, mid)
            left = np.sign(f_mid) == np.sign(f_lo)
            lo = np.where(left, mid, lo)
            f_lo = np.where(left, f_mid, f_lo)
            hi = np.where(left, hi, mid)
        points = 0.5 * (lo + hi)
        zeros[order] = points[:num_radial]
    return zeros


def spherical_bessel(order: Tensor | int, x: Tensor, max_order: int | None = None) -> Tensor:
    r""":math:`j_l(x)` elementwise, with ``order`` broadcastable to ``x`` (use float64 ``x``).

    ``x`` must be non-negative. All orders up to ``max_order`` run through the upward recurrence
    together; below :math:`x = l + 1`, where that recurrence loses digits by cancellation, the
    ascending series replaces it.
    """
    order = torch.as_tensor(order, device=x.device).expand_as(x)
    if max_order is None:
        max_order = int(order.max()) if order.numel() else 0
    x_safe = x.clamp_min(1e-6)
    j_prev = torch.sin(x_safe) / x_safe
    out = torch.where(x < 1e-6, torch.ones_like(x), j_prev)  # order 0
    if max_order >= 1:
        j_cur = (j_prev - torch.cos(x_safe)) / x_safe
        out = torch.where(order == 1, j_cur, out)
        for n in range(1, max_order):
            j_prev, j_cur = j_cur, (2 * n + 1) / x_safe * j_cur - j_prev
            out = torch.where(order == n + 1, j_cur, out)
    small = (x < order + 1) & (order > 0)
    if not bool(small.any()):
        return out
    # x^l / (2l+1)!! * sum_m (-x^2/2)^m / (m! (2l+3)(2l+5)...(2l+2m+1)), on the small x only,
    # by Horner's rule: 1 + a_1 y (1 + a_2 y (1 + ...)), y = -x^2/2, a_m = 1 / (m (2l+2m+1))
    x_small, l_small = x[small], order[small]
    m = torch.arange(1, _SERIES_TERMS + 1, dtype=x.dtype, device=x.device)[:, None]
    a_y = (-0.5 * x_small * x_small) / (m * (2 * l_small + 2 * m + 1))  # (M, S)
    total = torch.ones_like(x_small)
    for k in range(_SERIES_TERMS - 1, -1, -1):
        total = torch.addcmul(torch.ones_like(total), a_y[k], total)
    double_factorial = torch.tensor(
        [float(np.prod(np.arange(2 * n + 1, 0, -2))) for n in range(max_order + 1)],
        dtype=x.dtype,
        device=x.device,
    )[l_small]
    out = out.clone()
    out[small] = x_small**l_small / double_factorial * total
    return out


def zonal_harmonics(num_spherical: int, cos_angle: Tensor) -> Tensor:
    r""":math:`Y_l^0` as a function of :math:`\cos\alpha`, shape ``cos.shape + (L,)``."""
    legendre = [torch.ones_like(cos_angle)]
    if num_spherical > 1:
        legendre.append(cos_angle)
    for n in range(2, num_spherical):
        legendre.append(((2 * n - 1) * cos_angle * legendre[-1] - (n - 1) * legendre[-2]) / n)
    prefactor = [math.sqrt((2 * n + 1) / (4 * math.pi)) for n in range(num_spherical)]
    return torch.stack([p * leg for p, leg in zip(prefactor, legendre, strict=True)], dim=-1)


class SphericalBasis(torch.nn.Module):
    r"""The spherical Fourier–Bessel basis of DimeNet, split into its radial and angular factors.

    ``radial(dist)`` gives :math:`u(d/c)\,\sqrt{2}\,j_l(z_{ln} d/c)/|j_{l+1}(z_{ln})|` per edge,
    shape ``(E, L, K)``; ``angular(cos)`` gives :math:`Y_l^0`, shape ``(..., L)``. Their product
    over the two edges of a triplet is PyG's ``SphericalBasisLayer`` output. The zeros and norms are
    recomputed at construction (float64 numpy arrays) and never enter a ``state_dict``, so
    checkpoints stay interchangeable with PyG's ``DimeNetPlusPlus``.
    """

    def __init__(
        self,
        num_spherical: int,
        num_radial: int,
        cutoff: float = 5.0,
        envelope_exponent: int = 5,
    ):
        super().__init__()
        if num_spherical < 1 or num_radial < 1:
            raise ValueError("num_spherical and num_radial must be positive")
        self.num_spherical = num_spherical
        self.num_radial = num_radial
        self.cutoff = float(cutoff)
        self.envelope = Envelope(envelope_exponent)
        zeros = spherical_bessel_zeros(num_spherical, num_radial)
        norm = np.stack(
            [
                math.sqrt(2.0) / np.abs(_spherical_bessel_np(order + 1, zeros[order]))
                for order in range(num_spherical)
            ]
        )
        # float64 constants kept off the module's buffers: some devices (MPS) have no float64
        self.zeros, self.norm = zeros, norm
        order = torch.arange(num_spherical)[:, None].expand(num_spherical, num_radial)
        self.register_buffer("order", order.contiguous(), persistent=False)

    def radial(self, dist: Tensor) -> Tensor:
        """Envelope-weighted, normalised :math:`j_l(z_{ln} d/c)`, shape ``(E, L, K)``."""
        x = dist / self.cutoff
        # float64 keeps the recurrence exact to float32 output; MPS has no float64
        wide = torch.float32 if dist.device.type == "mps" else torch.float64
        zeros = torch.as_tensor(self.zeros, dtype=wide, device=dist.device)
        norm = torch.as_tensor(self.norm, dtype=wide, device=dist.device)
        arg = zeros * x.to(wide)[:, None, None]  # (E, L, K)
        bessel = spherical_bessel(self.order, arg, self.num_spherical - 1)
        rbf = (norm * bessel).to(dist.dtype)
        return self.envelope(x)[:, None, None] * rbf

    def angular(self, cos_angle: Tensor) -> Tensor:
        """:math:`Y_l^0(\\alpha)` from :math:`\\cos\\alpha`, shape ``cos.shape + (L,)``."""
        return zonal_harmonics(self.num_spherical, cos_angle)

    def forward(self, dist: Tensor, cos_angle: Tensor, idx_kj: Tensor) -> Tensor:
        """PyG-layout basis per triplet, ``(T, L*K)``: ``radial(dist)[idx_kj] * angular(cos)``.

        Only used to compare with PyG; the periodic DimeNet++ contracts the two factors without
        materialising this ``(T, L*K)`` tensor.
        """
        rbf = self.radial(dist)[idx_kj]
        cbf = self.angular(cos_angle)
        return (rbf * cbf[:, :, None]).reshape(-1, self.num_spherical * self.num_radial)

    def extra_repr(self) -> str:
        return (
            f"num_spherical={self.num_spherical}, num_radial={self.num_radial}, "
            f"cutoff={self.cutoff}"
        )
