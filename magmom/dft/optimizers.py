"""The ionic optimisers of the GPAW stages (config ``dft.relax.optimizer``).

``BFGS`` and ``FIRE`` are ASE's. ``LBFGS`` is ASE's L-BFGS with one safeguard,
:class:`CurvatureGuardedLBFGS`: ASE keeps every curvature pair

.. math::
    s_k = r_{k+1} - r_k, \\qquad y_k = \\nabla E_{k+1} - \\nabla E_k, \\qquad
    \\rho_k = 1 / (y_k \\cdot s_k)

and its step is :math:`-H_k \\nabla E` with the two-loop recursion over the stored pairs (each
adds :math:`s_i (a_i - \\rho_i\\, y_i \\cdot z)` to the step). When a relaxation runs on at the SCF
noise floor (forces ~1e-3 eV/Å, an fmax below them), the steps shrink until a step is zero to
machine precision along the forces; :math:`y_k \\cdot s_k` is then rounding (~1e-38),
:math:`\\rho_k` ~1e38, and the next step points along the rounding of :math:`s_k` — on a
symmetric slab an in-plane direction that GPAW's symmetrised forces never drive — rescaled to
``maxstep`` (0.2 Å). GPAW checks the new positions against the symmetry of its calculator and
stops with ``SymmetryBrokenError`` (a symmetric Fe/Cu(111) slab on 2 MPI ranks: a 0.2 Å in-plane
step after 58 LBFGS steps at fmax 1e-8; the top atom had not moved in-plane by more than 1e-16 Å
before it, so no symmetrising of positions helps).

A pair whose curvature is not resolved is skipped:

.. math::
    |y_k \\cdot s_k| \\le c_\\mathrm{min}\\, \\lVert y_k \\rVert\\, \\lVert s_k \\rVert,
    \\qquad c_\\mathrm{min} = 10^{-8}

For a quadratic energy :math:`y = H s`, so the cosine between them is at least
:math:`1/\\kappa(H)`, orders of magnitude above :math:`10^{-8}` for an atomic Hessian; pairs of
either sign above it are kept exactly as ASE keeps them, so a relaxation that never meets an
unresolved pair takes ASE's steps bit for bit.
"""

from __future__ import annotations

import logging

import numpy as np
from ase.optimize import BFGS, FIRE, LBFGS

log = logging.getLogger(__name__)

MIN_CURVATURE_COSINE = 1e-8
"""``c_min`` of the module docstring: pairs with ``|cos(y, s)|`` at or below it are skipped."""


class CurvatureGuardedLBFGS(LBFGS):
    """ASE's :class:`~ase.optimize.LBFGS` that skips unresolved curvature pairs (module docstring).

    ``skipped``: how many pairs were skipped.
    """

    skipped = 0

    def update(self, pos, forces, r0, f0):
        if self.state.iteration > 0:
            s = pos - r0
            y = f0 - forces  # gradient difference
            if abs(y @ s) <= MIN_CURVATURE_COSINE * np.linalg.norm(y) * np.linalg.norm(s):
                # ASE's two-loop recursion reads ``iteration`` stored pairs; one fewer is stored
                self.state.iteration -= 1
                self.skipped += 1
                log.info(
                    "LBFGS step %d: curvature pair skipped (y.s = %.2e, |y| = %.2e, |s| = %.2e)",
                    self.nsteps, float(y @ s), np.linalg.norm(y), np.linalg.norm(s),
                )  # fmt: skip
                return
        super().update(pos, forces, r0, f0)


OPTIMIZERS = {"LBFGS": CurvatureGuardedLBFGS, "BFGS": BFGS, "FIRE": FIRE}
"""``dft.relax.optimizer`` -> the optimiser class (the schema's enum)."""
