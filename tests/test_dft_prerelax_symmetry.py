"""The ML pre-relaxation hands GPAW exactly symmetric positions (magmom.dft.prerelax.symmetrise).

CHGNet relaxes in single precision: a symmetric slab comes back symmetric only to ~1e-7 Å, and a
GPAW 26.7 calculator's symmetry analysis (the legacy tolerance, 1e-7 Bohr) then stops with
``SymmetryAnalysisBug`` before the first SCF step, so the GPAW labeller failed every pure slab and
ordered prototype of a preset with ``dft.prerelax.model: chgnet``.
"""

from __future__ import annotations

import numpy as np
import pytest
from ase.build import bcc110
from ase.constraints import FixAtoms

from magmom.dft.prerelax import SYMPREC, prerelax, symmetrise
from magmom.dft.settings import Prerelax

pytestmark = pytest.mark.usefixtures("single_thread")


def cr110_slab():
    """The mini preset's pure Cr slab: bcc(110), 2 x 2 x 3, a = 2.88 Å, 10 Å vacuum."""
    slab = bcc110("Cr", size=(2, 2, 3), a=2.88, vacuum=10.0, orthogonal=True)
    slab.set_constraint(FixAtoms(indices=[a.index for a in slab if a.tag > 1]))
    slab.set_initial_magnetic_moments([3.0] * len(slab))
    slab.pbc = (True, True, False)
    return slab


def gpaw_symmetries(atoms) -> int:
    """Symmetry operations a GPAW calculator finds for ``atoms`` (as its builder asks)."""
    from gpaw.dft import Symmetry

    magmoms = np.zeros((len(atoms), 3))
    magmoms[:, 2] = atoms.get_initial_magnetic_moments()
    sym = Symmetry().build(
        atoms, setup_ids=list(atoms.numbers), magmoms=magmoms, _backwards_compatible=True
    )
    return len(sym.rotation_scc)


def test_chgnet_relaxed_symmetric_slab_passes_gpaw_symmetry_analysis():
    slab = cr110_slab()
    res = prerelax(slab, Prerelax(model="chgnet", fmax=0.1, steps=200))
    assert res.steps > 0
    moved = np.abs(res.atoms.positions - slab.positions).max()
    assert moved > 1e-3  # it relaxed for real
    # no SymmetryAnalysisBug; the fixed bottom layers leave 4 of the unrelaxed slab's 8 operations
    assert gpaw_symmetries(res.atoms) == 4
    assert list(res.atoms.pbc) == [True, True, False]
    assert res.atoms.constraints[0].get_indices().tolist() == list(range(8))


def test_symmetrise_moves_only_noise_and_keeps_asymmetric_slabs():
    slab = cr110_slab()
    noisy = slab.copy()
    rng = np.random.default_rng(0)
    noisy.positions += rng.normal(scale=1e-7, size=noisy.positions.shape)
    out = symmetrise(noisy)
    assert np.abs(out.positions - slab.positions).max() < 1e-6
    assert gpaw_symmetries(out) == gpaw_symmetries(slab)
    assert out.constraints[0].get_indices().tolist() == list(range(8))
    assert list(out.pbc) == [True, True, False]
    # a real displacement (far above SYMPREC) is no noise: nothing is moved back
    bent = slab.copy()
    bent.positions[0] += [0.05, 0.02, 0.01]
    assert np.allclose(symmetrise(bent).positions, bent.positions, atol=1e-12, rtol=0)
    assert SYMPREC < 0.01
