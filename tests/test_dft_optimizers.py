"""The GPAW stages' LBFGS (magmom/dft/optimizers.py): ASE's steps, minus unresolved curvature pairs.

ASE's EMT on a rattled 2 x 2 x 3 Cu(111) slab stands in for GPAW (the optimiser only sees
positions and forces); tests/test_dft_symmetric_relaxation.py runs the real GPAW case.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import yaml
from ase.build import fcc111
from ase.calculators.emt import EMT
from ase.constraints import FixAtoms
from ase.optimize import LBFGS
from dft_helpers import ROOT

from magmom.dft.optimizers import OPTIMIZERS, CurvatureGuardedLBFGS


def rattled_slab():
    slab = fcc111("Cu", size=(2, 2, 3), vacuum=5.0)
    slab.set_constraint(FixAtoms(indices=[a.index for a in slab if a.tag == 3]))
    slab.rattle(stdev=0.05, seed=1)
    slab.calc = EMT()
    return slab


def test_takes_ase_lbfgs_steps_bit_for_bit_when_every_pair_is_resolved():
    ase_slab, guarded_slab = rattled_slab(), rattled_slab()
    LBFGS(ase_slab, logfile=None).run(fmax=1e-3, steps=15)
    opt = CurvatureGuardedLBFGS(guarded_slab, logfile=None)
    opt.run(fmax=1e-3, steps=15)
    assert opt.skipped == 0
    assert np.array_equal(guarded_slab.positions, ase_slab.positions)


@pytest.mark.parametrize("optimizer", [LBFGS, CurvatureGuardedLBFGS])
def test_a_step_of_zero_length_leaves_the_next_step_finite(optimizer):
    """A pair with s = 0 (a step lost to rounding): ASE's rho = 1/(y.s) is infinite."""
    slab = rattled_slab()
    opt = optimizer(slab, logfile=None)
    opt.run(fmax=1e-6, steps=3)
    opt.r0 = slab.positions.ravel().copy()  # the last step moved nothing
    before = slab.positions.copy()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # ASE's 1/0
        opt.step()
    finite = np.isfinite(slab.positions).all()
    if optimizer is LBFGS:
        assert not finite  # the failure the guard exists for
        return
    assert finite and opt.skipped == 1
    # the two-loop recursion reads iteration - 1 pairs after a step (ASE's own invariant)
    assert len(opt.state.s) == opt.state.iteration - 1 == 2
    assert 0 < np.abs(slab.positions - before).max() <= opt.maxstep
    assert opt.run(fmax=1e-3, steps=100)  # and the relaxation goes on to convergence


def test_the_schema_names_every_optimizer():
    schema = yaml.safe_load((ROOT / "schemas" / "config.schema.yaml").read_text())
    relax = schema["properties"]["dft"]["properties"]["relax"]["properties"]
    assert relax["optimizer"]["enum"] == list(OPTIMIZERS)
