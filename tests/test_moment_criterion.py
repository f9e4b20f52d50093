"""The SCF criterion on the magnetic moments (magmom/dft/moment_criterion.py) and its ladder key.

The criterion's decision is checked on moment sequences fed through GPAW's own convergence check
(``gpaw.convergence_criteria.check_convergence``); its use in real GPAW runs, serial and on 2 MPI
ranks, is in tests/test_dft_mpi.py (whose ladder level sets ``magmoms``).
"""

from __future__ import annotations

import json
from types import SimpleNamespace

import numpy as np
import pytest
from ase.build import fcc111
from dft_helpers import project_config
from gpaw.convergence_criteria import check_convergence
from gpaw.mpi import world

from magmom.dft.gpaw_params import parameters_sha256, planewave_params
from magmom.dft.moment_criterion import MagneticMoments, moment_change
from magmom.dft.scf_ladder import LadderLevel, calculator_parameters, level_parameters
from magmom.dft.settings import DftSettings


def test_moment_change_is_the_largest_peak_to_peak_of_any_moment():
    assert moment_change([[0.5, 1.0]]) == float("inf")  # one iteration: no change known yet
    history = [[0.50, 1.00, 1.50], [0.52, 1.00, 1.52], [0.51, 0.97, 1.48]]
    # atom 0 spans 0.02, atom 1 0.03, the total 0.04
    assert moment_change(history) == pytest.approx(0.04)


def _context(atom_moments, nspins=2):
    atom_moments = np.asarray(atom_moments, dtype=float)
    magmom_av = np.zeros((len(atom_moments), 3))
    magmom_av[:, 2] = atom_moments
    total_v = np.array([0.0, 0.0, atom_moments.sum()])
    return SimpleNamespace(
        wfs=SimpleNamespace(nspins=nspins, collinear=True, world=world),
        dens=SimpleNamespace(calculate_magnetic_moments=lambda: (total_v, magmom_av)),
    )


def test_criterion_converges_once_three_iterations_agree_to_tol():
    crit = MagneticMoments(1e-5)
    # a moment relaxing geometrically towards 0.3 μB (step ratio 0.1)
    seq = [0.3 + 0.05 * 0.1**n for n in range(8)]
    decisions, entries = [], []
    for m in seq:
        ok, entry = crit(_context([m, 0.6]))
        decisions.append(ok)
        entries.append(entry)
    spans = [seq[n - 2] - seq[n] for n in range(2, len(seq))]
    expected = [False, False] + [span < 1e-5 for span in spans]
    assert decisions == expected and expected.count(True) >= 2
    assert entries[:2] == ["", ""] and entries[-1] == f"{np.log10(spans[-1]):+5.2f}"
    # GPAW's own check: the moment criterion vetoes otherwise converged iterations
    crit.reset()
    for m in (0.40, 0.30, 0.20):
        converged, items, _ = check_convergence({"magnetic moments": crit}, _context([m]))
    assert not converged and items == {"magnetic moments": False}
    # no spin polarisation: nothing to converge
    assert MagneticMoments(1e-5)(_context([0.0], nspins=1)) == (True, "")


def test_ladder_key_magmoms_records_json_and_feeds_gpaw_fresh_criteria():
    cfg = project_config()
    slab = fcc111("Ni", size=(1, 1, 3), vacuum=5.0)
    slab.pbc = (True, True, False)
    base = planewave_params(DftSettings.from_config(cfg["dft"]).planewave, slab, True)
    level0 = cfg["dft"]["scf_ladder"][0]
    plain = LadderLevel.from_config(0, level0)
    # absent: the level's description, GPAW parameters and their hash are as before the key
    assert "magmoms" not in plain.describe()
    plain_params = level_parameters(plain, base, "marzari-vanderbilt")
    assert "custom" not in plain_params["convergence"]
    assert calculator_parameters(plain_params) == plain_params
    tight = LadderLevel.from_config(0, {**level0, "magmoms": 1e-5})
    params = level_parameters(tight, base, "marzari-vanderbilt")
    recorded = {"name": "magnetic moments", "tol": 1e-5, "n_old": 3}
    assert params["convergence"] == {"eigenstates": 1e-8, "custom": [recorded]}
    assert json.loads(json.dumps(params)) == params  # records and checkpoints stay JSON
    assert parameters_sha256(params) != parameters_sha256(plain_params)
    first, second = (calculator_parameters(params)["convergence"]["custom"][0] for _ in range(2))
    assert isinstance(first, MagneticMoments) and first is not second  # one per calculator
    assert first.todict() == recorded
    assert params["convergence"]["custom"] == [recorded]  # the input is untouched
