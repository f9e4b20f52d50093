r"""From a model's raw per-atom output to a prediction of the configured target.

The target ``abs`` is :math:`|m| \ge 0`; a network's raw output :math:`z_i` is not bounded, and a
negative :math:`|m|` would reach GPAW as an antiparallel start. Every prediction of ``abs`` is
therefore

.. math::
    \hat y_i = \max(z_i, 0),

and a ``signed`` prediction is :math:`z_i` itself. :func:`to_target` is the one place this is done;
training (the loss and the validation MAE), the test predictions, :mod:`magmom.predict` and the
ASE calculator all call it, so a model is trained on exactly what it is scored and used on. In
training the gradient of an atom whose raw output is negative is zero; since every atom shares the
weights, the others keep moving it, and atoms whose target is 0 (Cu, Pt, ...) are then predicted
exactly 0.

The predictions files keep the raw output beside the prediction (column ``y_raw``), and the
metrics report how often the clip acted (``raw_negative_fraction``,
:func:`magmom.evaluation.metrics.negative_fraction`).
"""

from __future__ import annotations

import torch

NONNEGATIVE_TARGETS = frozenset({"abs"})
"""Targets that cannot be negative (:data:`magmom.layout.TARGETS`)."""


def to_target(raw: torch.Tensor, target: str) -> torch.Tensor:
    """The prediction of ``target`` from raw outputs: ``raw`` clipped at 0 for ``abs``."""
    return raw.clamp_min(0.0) if target in NONNEGATIVE_TARGETS else raw
