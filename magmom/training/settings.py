"""The ``training`` settings of a run, its summary, and when a run stops.

:class:`TrainingSettings` holds the ``training`` section (the study's values as defaults; the
scheduler's keys flattened); :func:`stop_epoch` replays a run's history under these settings to
find the epoch its early stopping or ``max_epochs`` ends it (the resume check of
:meth:`magmom.training.trainer.Trainer.resume`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any


class TrainingError(RuntimeError):
    """Training cannot go on (diverged, empty inputs, mismatched caches); the message says why."""


@dataclass(frozen=True)
class TrainingSettings:
    """The ``training`` section of the config, with the study's values as defaults."""

    huber_delta: float = 0.1
    lr: float = 1e-3
    weight_decay: float = 0.01
    batch_size: int = 32
    max_epochs: int = 1000
    early_stopping_patience: int = 100
    scheduler_factor: float = 0.5
    scheduler_patience: int = 10
    min_lr: float = 1e-6
    grad_clip: float = 1.0
    seed: int = 42
    tf32: bool = True

    @classmethod
    def from_config(cls, training: Mapping[str, Any]) -> TrainingSettings:
        flat = {k: v for k, v in training.items() if k not in ("scheduler", "resources")}
        scheduler = training.get("scheduler", {})
        for key, field in (("factor", "scheduler_factor"), ("patience", "scheduler_patience")):
            if key in scheduler:
                flat[field] = scheduler[key]
        if "min_lr" in scheduler:
            flat["min_lr"] = scheduler["min_lr"]
        known = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in flat.items() if k in known})


@dataclass(frozen=True)
class TrainingResult:
    model_id: str
    epochs: int
    best_epoch: int
    best_val_mae: float
    stopped_early: bool
    resumed_from_epoch: int
    seconds: float


def stop_epoch(history: Sequence[Mapping[str, Any]], settings: TrainingSettings) -> int | None:
    """The epoch at which a run under ``settings`` would have stopped, replaying the validation
    MAEs of ``history`` (None if it would go on past the last row)."""
    best, without = math.inf, 0
    for row in history:
        epoch = int(row["epoch"])
        if row["val_mae"] < best:
            best, without = row["val_mae"], 0
        else:
            without += 1
        if without >= settings.early_stopping_patience or epoch >= settings.max_epochs:
            return epoch
    return None
