"""Every architecture can fit a tiny training set (three 8-atom slabs) almost exactly."""

from __future__ import annotations

import pytest
import torch
from models_helpers import (
    SMALL_MODELS,
    alloy_slab,
    batch,
)

from magmom.models import ARCHITECTURES, build_model

pytestmark = pytest.mark.usefixtures("single_thread")

CUTOFF = 3.0  # the first shell only: the target is an average over it
STEPS = 300


@pytest.fixture(scope="module")
def tiny_set():
    return batch([alloy_slab(seed, size=(2, 2, 2)) for seed in range(3)], CUTOFF)


@pytest.mark.parametrize("architecture", ARCHITECTURES)
def test_overfits_tiny_set(architecture, tiny_set):
    torch.manual_seed(0)
    model = build_model(architecture, CUTOFF, {**SMALL_MODELS, "hidden": 32})
    optimiser = torch.optim.Adam(model.parameters(), lr=3e-3)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimiser, STEPS)
    losses = []
    for _ in range(STEPS):
        optimiser.zero_grad()
        loss = torch.nn.functional.mse_loss(model(tiny_set), tiny_set.y)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimiser.step()
        schedule.step()
        losses.append(loss.item())
    variance = float(tiny_set.y.var())  # the loss of the best constant prediction
    assert losses[-1] < losses[0] / 10, (architecture, losses[0], losses[-1])
    assert losses[-1] < 0.2 * variance, (architecture, losses[-1], variance)
