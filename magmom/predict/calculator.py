"""An ASE calculator for a trained model, and the one-line start-moment helper.

>>> from magmom import MagmomCalculator, set_initial_magmoms
>>> atoms.calc = MagmomCalculator("results/models/cgconv-r4/best.pt")
>>> atoms.get_magnetic_moments()          # per-atom moments, μB
>>> set_initial_magmoms(atoms, "cgconv-r4")   # atoms now starts GPAW from the model's moments

The calculator implements ``magmoms`` (per atom, μB) and ``magmom`` (their sum), nothing else:
it predicts moments, not energies or forces. Results are recomputed whenever the positions,
numbers, cell or pbc change (ASE's ``Calculator.check_state``).
"""

from __future__ import annotations

import os

import numpy as np
from ase.calculators.calculator import Calculator, all_changes

from magmom.predict.predictor import MomentPredictor


class MagmomCalculator(Calculator):
    """Per-atom magnetic moments from a magmom checkpoint (a path, model directory or model id).

    ``device`` and ``batch_size`` go to :class:`~magmom.predict.predictor.MomentPredictor`; a
    ready predictor may be passed instead of a path (``MagmomCalculator(predictor)``).
    """

    implemented_properties = ["magmoms", "magmom"]

    def __init__(self, checkpoint: str | os.PathLike | MomentPredictor, device=None, **kwargs):
        super().__init__(**kwargs)
        if isinstance(checkpoint, MomentPredictor):
            self.predictor = checkpoint
        else:
            self.predictor = MomentPredictor(checkpoint, device=device)

    def calculate(self, atoms=None, properties=("magmoms",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        moments = self.predictor.predict_atoms(self.atoms, name="atoms")
        self.results["magmoms"] = moments
        self.results["magmom"] = float(np.sum(moments))


def set_initial_magmoms(atoms, model: str | os.PathLike | MomentPredictor | MagmomCalculator):
    """Set ``atoms``' initial magnetic moments to the model's prediction; returns ``atoms``.

    For a model trained on |m| (the study) every start is ferromagnetic, as in the study's own
    DFT starts.
    """
    if isinstance(model, MagmomCalculator):
        model = model.predictor
    predictor = model if isinstance(model, MomentPredictor) else MomentPredictor(model)
    atoms.set_initial_magnetic_moments(predictor.predict_atoms(atoms))
    return atoms
