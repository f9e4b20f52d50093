"""Monkhorst–Pack grids from a k-point density.

The density :math:`\\rho_k` (Å⁻¹, the study's 3.5) fixes the number of points along each periodic
reciprocal vector :math:`\\mathbf{b}_i` (the reciprocal cell *without* the :math:`2\\pi`, as
``Atoms.cell.reciprocal()`` returns it):

.. math::
    n_i = \\max\\big(1, \\lceil 2\\pi\\, |\\mathbf{b}_i|\\, \\rho_k \\rceil\\big)

the convention of ASE's ``kptdensity2monkhorstpack(..., even=False)`` and of GPAW's
``kpts={'density': ...}``. Non-periodic directions get one point; a slab's surface normal gets
``kpts_z`` (the study: 1). A density of 0 gives the Γ point alone (the cheap presets).
"""

from __future__ import annotations

import math

import numpy as np


def monkhorst_pack_size(atoms, density: float, kpts_z: int | None = None) -> tuple[int, int, int]:
    """Grid size ``(n1, n2, n3)`` of ``atoms`` at ``density`` points per Å⁻¹.

    ``kpts_z`` overrides the third direction (the surface normal of a slab); without it the
    third direction follows the density when it is periodic and gets 1 point otherwise.
    """
    if density < 0:
        raise ValueError(f"k-point density must be >= 0 (got {density})")
    recip = np.asarray(atoms.cell.reciprocal())
    size = []
    for i in range(3):
        if not atoms.pbc[i] or density == 0:
            size.append(1)
            continue
        length = float(np.linalg.norm(recip[i]))
        size.append(max(1, math.ceil(2 * math.pi * length * density - 1e-9)))
    if kpts_z is not None:
        size[2] = int(kpts_z)
    return size[0], size[1], size[2]


def gpaw_kpts(atoms, density: float, kpts_z: int | None = None) -> dict:
    """GPAW ``kpts``: the unshifted Monkhorst–Pack grid of :func:`monkhorst_pack_size`."""
    return {"size": list(monkhorst_pack_size(atoms, density, kpts_z))}
