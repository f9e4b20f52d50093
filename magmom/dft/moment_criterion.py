"""SCF convergence on the magnetic moments: a GPAW convergence criterion.

The quantity this workflow labels is the per-atom magnetic moment, but GPAW's default criteria
(energy, density, eigenstates) can stop an SCF while the moments still drift: on a tiny pure-Cu
slab relaxing to zero moment, the density change per valence electron passes GPAW's 1e-4 while the
total moment is still ~1e-2 μB and falls by ~1e-3 μB per iteration. This criterion watches the
moments themselves. At SCF iteration :math:`n` let :math:`m_a^{(n)}` be the moment of atom
:math:`a` (the PAW-sphere integral that ``calc.get_magnetic_moments()`` returns and every DFT record
stores) and :math:`M^{(n)}` the cell's total moment; with the last :math:`k` iterations
(``n_old``, 3 as GPAW's energy criterion),

.. math::
    \\Delta^{(n)} = \\max_{q \\in \\{m_1, \\ldots, m_N, M\\}}
        \\Big( \\max_{n-k < j \\le n} q^{(j)} - \\min_{n-k < j \\le n} q^{(j)} \\Big),

and the SCF has converged the moments when :math:`\\Delta^{(n)} <` ``tol`` (μB). The criterion
is one more condition: GPAW's own criteria must still hold. A non-spin-polarised calculation has
zero moments and passes at once. The GPAW log shows :math:`\\log_{10} \\Delta` in column
``magmo``.

Config: ``dft.scf_ladder[].magmoms`` (μB; absent = no moment criterion, the parameters and their
hash unchanged). :func:`magmom.dft.scf_ladder.level_parameters` records it in GPAW's own
serialised form of a custom criterion (``convergence['custom'] = [{'name': 'magnetic moments',
'tol': ..., 'n_old': 3}]``, as GPAW writes it to a ``.gpw`` file) so parameters stay JSON;
:func:`gpaw_convergence` turns that into fresh criterion objects for each calculator, as GPAW asks
("each calculator is fed a unique instance").
"""

from __future__ import annotations

import warnings
from collections import deque
from collections.abc import Mapping, Sequence

import numpy as np
from gpaw.convergence_criteria import Criterion
from gpaw.mpi import broadcast_float

NAME = "magnetic moments"
# GPAW warns whenever a custom criterion is used; for this one that is expected.
warnings.filterwarnings("ignore", message=f"Custom convergence criterion {NAME} encountered")


def moment_change(history: Sequence[Sequence[float]]) -> float:
    """:math:`\\Delta` of the module docstring: the largest peak-to-peak change of any moment.

    ``history``: one row per SCF iteration (per-atom moments, then the total). Infinite until
    the history holds two iterations.
    """
    if len(history) < 2:
        return float("inf")
    return float(np.ptp(np.asarray(history, dtype=float), axis=0).max())


class MagneticMoments(Criterion):
    """Converged when no moment (per atom or total) changed by ``tol`` μB in ``n_old`` iterations.

    Math and use: the module docstring.
    """

    name = NAME
    tablename = "magmo"

    def __init__(self, tol: float, n_old: int = 3):
        self.tol = float(tol)
        self.n_old = int(n_old)
        self.description = (
            f"Maximum change of any [magmo]ment (per atom or total) in the last {self.n_old} "
            f"cycles: {self.tol:g} μB"
        )
        self.reset()

    def reset(self) -> None:
        self._old: deque[np.ndarray] = deque(maxlen=self.n_old)

    def __call__(self, context) -> tuple[bool, str]:
        if context.wfs.nspins == 1 and context.wfs.collinear:
            return True, ""
        total_v, atoms_av = context.dens.calculate_magnetic_moments()  # collective over domains
        if context.wfs.collinear:
            moments = np.append(atoms_av[:, 2], total_v[2])
        else:
            moments = np.concatenate([atoms_av.ravel(), total_v])
        self._old.append(moments)
        change = moment_change(self._old) if len(self._old) == self.n_old else float("inf")
        change = broadcast_float(change, context.wfs.world)  # every rank decides alike
        entry = f"{np.log10(change):+5.2f}" if np.isfinite(change) and change > 0 else ""
        return bool(change < self.tol), entry


def recorded(tol: float, n_old: int = 3) -> dict:
    """The JSON form of a :class:`MagneticMoments` criterion (GPAW's ``todict``)."""
    return {"name": NAME, "tol": float(tol), "n_old": int(n_old)}


def gpaw_convergence(convergence: Mapping) -> dict:
    """``convergence`` with recorded moment criteria made fresh :class:`MagneticMoments` objects.

    Other entries pass through unchanged.
    """
    out = dict(convergence)
    custom = []
    for item in convergence.get("custom", []):
        if isinstance(item, Mapping) and item.get("name") == NAME:
            item = MagneticMoments(item["tol"], item.get("n_old", 3))
        custom.append(item)
    if custom:
        out["custom"] = custom
    return out
