"""The optimiser and learning-rate schedule of every GNN of the study.

AdamW (``training.lr``, ``training.weight_decay``) and ReduceLROnPlateau on the validation MAE
(``training.scheduler``: ``factor``, ``patience``, ``min_lr``); the gradient-norm clip
(``training.grad_clip``) is applied by the loop (:mod:`magmom.training.trainer`).
"""

from __future__ import annotations

import torch
from torch import nn

from magmom.training.settings import TrainingSettings


def optimizer_and_scheduler(model: nn.Module, settings: TrainingSettings) -> tuple:
    """``(AdamW, ReduceLROnPlateau)`` for the parameters of ``model`` under ``settings``."""
    optimizer = torch.optim.AdamW(
        model.parameters(), lr=settings.lr, weight_decay=settings.weight_decay
    )
    scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(
        optimizer,
        mode="min",
        factor=settings.scheduler_factor,
        patience=settings.scheduler_patience,
        min_lr=settings.min_lr,
    )
    return optimizer, scheduler
