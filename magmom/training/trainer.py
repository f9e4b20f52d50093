r"""The training loop shared by every GNN of the study.

Each epoch minimises the mean per-atom Huber loss over mini-batches of slabs,

.. math::
    \mathcal{L} = \frac{1}{N} \sum_{a=1}^{N} \ell_\delta(\hat m_a - m_a), \qquad
    \ell_\delta(r) = \begin{cases} r^2 / 2 & |r| \le \delta \\
                                   \delta (|r| - \delta / 2) & |r| > \delta \end{cases}

with :math:`\delta = 0.1\,\mu_B` (quadratic near zero, so the many genuinely non-magnetic atoms are
fitted tightly; linear in the tails, so the few V/Cr/Mn atoms whose moment is not a function of
their environment do not dominate). AdamW takes the steps (gradient norm clipped at 1.0);
ReduceLROnPlateau halves the learning rate when the validation MAE

.. math:: \mathrm{MAE}_\mathrm{val} = \frac{1}{N_\mathrm{val}} \sum_a |\hat m_a - m_a|

has not improved for more than ``scheduler.patience`` (10) epochs, and training stops after
``early_stopping_patience`` epochs without a new best (or at ``max_epochs``).

After every epoch ``last.pt`` captures the complete loop state (weights, optimiser, scheduler,
early-stopping counter, generator states, history); a re-run of a killed job continues from it and
ends with the same weights as an uninterrupted run (bit-for-bit on the CPU). Shuffling does not
depend on generator history: epoch ``e`` visits the training graphs in an order drawn from
``(seed, e)`` alone, so the order is the same whether the epoch follows epoch ``e - 1`` in the same
process or a restart.
"""

from __future__ import annotations

import copy
import logging
import math
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from magmom.models.output import to_target
from magmom.training.checkpoint import (
    BEST,
    HISTORY,
    LAST,
    CheckpointError,
    load_checkpoint,
    rng_state,
    save_checkpoint,
    set_rng_state,
    to_cpu,
)
from magmom.training.history import write_history
from magmom.training.loader import graph_loader, set_loader_epoch
from magmom.training.optim import optimizer_and_scheduler
from magmom.training.run_identity import fingerprint_differences
from magmom.training.set_aside import set_aside
from magmom.training.settings import TrainingError, TrainingResult, TrainingSettings, stop_epoch

log = logging.getLogger(__name__)


class Trainer:
    """Fits one model; owns its optimiser, scheduler, early-stopping state and checkpoint files.

    Args:
        model: maps a PyG batch to per-atom predictions of shape ``(num_nodes,)``.
        settings: the ``training`` config.
        out_dir: model directory receiving ``best.pt``, ``last.pt`` and ``history.csv``.
        identity: checkpoint identity keys (see :mod:`magmom.training.checkpoint`).
        device: where to train.
        num_workers: DataLoader worker processes.
        progress: show a per-epoch tqdm bar (on stderr, i.e. the rule log).
    """

    def __init__(
        self,
        model: nn.Module,
        settings: TrainingSettings,
        out_dir: str | Path,
        *,
        identity: Mapping[str, Any],
        device: torch.device | str = "cpu",
        num_workers: int = 0,
        progress: bool = True,
    ):
        self.settings = settings
        self.device = torch.device(device)
        self.model = model.to(self.device)
        self.out_dir = Path(out_dir)
        self.identity = dict(identity)
        self.model_id = self.identity.get("model_id", "model")
        # what the raw outputs are clipped to (magmom.models.output); the study's |m| by default
        self.target = (self.identity.get("graph") or {}).get("target", "abs")
        self.num_workers = num_workers
        self.progress = progress
        self.optimizer, self.scheduler = optimizer_and_scheduler(self.model, settings)
        self.epoch = 0
        self.best_val_mae = math.inf
        self.best_epoch = 0
        self.epochs_without_improvement = 0
        self.history: list[dict[str, float]] = []
        self.best: dict[str, Any] | None = None

    # -- files --
    @property
    def best_path(self) -> Path:
        return self.out_dir / BEST

    @property
    def last_path(self) -> Path:
        return self.out_dir / LAST

    @property
    def history_path(self) -> Path:
        return self.out_dir / HISTORY

    # -- stopping --
    @property
    def stopped_early(self) -> bool:
        return self.epochs_without_improvement >= self.settings.early_stopping_patience

    @property
    def done(self) -> bool:
        return self.stopped_early or self.epoch >= self.settings.max_epochs

    @property
    def lr(self) -> float:
        return float(self.optimizer.param_groups[0]["lr"])

    # -- one epoch --
    def train_epoch(self, loader) -> tuple[float, float]:
        """One pass over ``loader`` with parameter updates: (mean Huber loss, MAE) per atom."""
        self.model.train()
        loss_sum = torch.zeros((), dtype=torch.float64, device=self.device)
        abs_sum = torch.zeros((), dtype=torch.float64, device=self.device)
        atoms = 0
        non_blocking = self.device.type == "cuda"
        for batch in loader:
            batch = batch.to(self.device, non_blocking=non_blocking)
            pred = self._forward(batch)
            loss = F.huber_loss(pred, batch.y, delta=self.settings.huber_delta)
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            nn.utils.clip_grad_norm_(self.model.parameters(), self.settings.grad_clip)
            self.optimizer.step()
            n = batch.y.numel()
            loss_sum += loss.detach().double() * n
            abs_sum += (pred.detach() - batch.y).abs().sum(dtype=torch.float64)
            atoms += n
        if atoms == 0:
            raise TrainingError(f"{self.model_id}: the training loader yielded no atoms")
        loss_mean, mae = (loss_sum / atoms).item(), (abs_sum / atoms).item()
        if not (math.isfinite(loss_mean) and math.isfinite(mae)):
            raise TrainingError(
                f"{self.model_id}: non-finite training loss in epoch {self.epoch + 1} "
                f"(lr {self.lr:.3g}); the run diverged. Lower training.lr or check the training "
                f"cache for non-finite targets; last.pt still holds epoch {self.epoch}"
            )
        return loss_mean, mae

    @torch.no_grad()
    def evaluate(self, loader) -> float:
        """Per-atom MAE of the current model over ``loader``."""
        self.model.eval()
        abs_sum = torch.zeros((), dtype=torch.float64, device=self.device)
        atoms = 0
        for batch in loader:
            batch = batch.to(self.device, non_blocking=self.device.type == "cuda")
            pred = self._forward(batch)
            abs_sum += (pred - batch.y).abs().sum(dtype=torch.float64)
            atoms += batch.y.numel()
        if atoms == 0:
            raise TrainingError(f"{self.model_id}: the validation loader yielded no atoms")
        mae = (abs_sum / atoms).item()
        if not math.isfinite(mae):
            raise TrainingError(
                f"{self.model_id}: non-finite validation MAE after epoch {self.epoch + 1}; "
                f"check the validation cache for non-finite targets"
            )
        return mae

    def _forward(self, batch) -> torch.Tensor:
        """The model's predictions of the target (:func:`magmom.models.output.to_target`)."""
        pred = self.model(batch)
        if pred.shape != batch.y.shape:
            raise TrainingError(
                f"{self.model_id}: the model returned shape {tuple(pred.shape)} for a batch of "
                f"{batch.num_nodes} atoms; per-atom predictions of shape ({batch.num_nodes},) "
                f"are required"
            )
        return to_target(pred, self.target)

    # -- state --
    def _snapshot(self, val_mae: float) -> dict[str, Any]:
        return {
            "epoch": self.epoch,
            "val_mae": val_mae,
            "model_state": to_cpu(self.model.state_dict()),
            "optimizer_state": to_cpu(self.optimizer.state_dict()),
            "scheduler_state": copy.deepcopy(self.scheduler.state_dict()),
        }

    def best_checkpoint(self) -> dict[str, Any]:
        assert self.best is not None
        return {**self.identity, "kind": "best", **self.best}

    def last_checkpoint(self, val_mae: float) -> dict[str, Any]:
        return {
            **self.identity,
            "kind": "last",
            **self._snapshot(val_mae),
            "trainer": {
                "best_val_mae": self.best_val_mae,
                "best_epoch": self.best_epoch,
                "epochs_without_improvement": self.epochs_without_improvement,
            },
            "rng": rng_state(),
            "history": copy.deepcopy(self.history),
            "best": self.best,
        }

    def write_history(self) -> None:
        write_history(self.history_path, self.history)

    def remove_stale_temporaries(self) -> None:
        """Delete temporary siblings left by a job killed while writing (``.last.pt.xyz.pt``)."""
        if not self.out_dir.is_dir():
            return
        for name in (BEST, LAST, HISTORY):
            for stale in self.out_dir.glob(f".{name}.*"):
                log.info("removing %s, left by an interrupted write", stale)
                stale.unlink(missing_ok=True)

    def resume(self) -> bool:
        """Continue from ``last.pt`` when it was written by this same run; True if resumed.

        The same run: equal settings fingerprint (every setting and input cache), and a saved
        state this run's budget would have reached (the saved epochs replayed under this
        ``max_epochs`` / ``early_stopping_patience`` do not stop before their end). Anything else
        is set aside (:meth:`set_aside`), never continued. Also restores ``best.pt`` and
        ``history.csv`` from ``last.pt``, since a workflow manager deletes the declared outputs of
        a failed job but leaves ``last.pt`` alone.
        """
        if not self.last_path.exists():
            return False
        try:
            ckpt = load_checkpoint(self.last_path, map_location="cpu")
        except CheckpointError as exc:
            self.set_aside(f"it cannot be read ({exc})")
            return False
        saved = ckpt.get("fingerprint")
        if saved != self.identity["fingerprint"]:
            changes = fingerprint_differences(saved, self.identity["fingerprint"])
            self.set_aside("it was written under other settings or inputs: " + "; ".join(changes))
            return False
        epoch = int(ckpt["epoch"])
        stop = stop_epoch(ckpt["history"], self.settings)
        if stop is not None and stop < epoch:
            self.set_aside(
                f"its run went on to epoch {epoch}, past where this run stops (epoch {stop}: "
                f"max_epochs={self.settings.max_epochs}, "
                f"early_stopping_patience={self.settings.early_stopping_patience})"
            )
            return False
        self.model.load_state_dict(ckpt["model_state"])
        self.optimizer.load_state_dict(ckpt["optimizer_state"])
        self.scheduler.load_state_dict(ckpt["scheduler_state"])
        self.epoch = epoch
        self.best_val_mae = float(ckpt["trainer"]["best_val_mae"])
        self.best_epoch = int(ckpt["trainer"]["best_epoch"])
        self.epochs_without_improvement = int(ckpt["trainer"]["epochs_without_improvement"])
        self.history = list(ckpt["history"])
        self.best = ckpt["best"]
        set_rng_state(ckpt["rng"])
        save_checkpoint(self.best_path, self.best_checkpoint())
        self.write_history()
        log.info(
            "resumed %s from %s at epoch %d (same settings; best val MAE %.5f at epoch %d, %d "
            "epochs without improvement)",
            self.model_id,
            self.last_path,
            self.epoch,
            self.best_val_mae,
            self.best_epoch,
            self.epochs_without_improvement,
        )
        return True

    def set_aside(self, reason: str) -> Path | None:
        """Move any earlier ``best.pt``/``last.pt``/``history.csv`` of this directory aside
        (:func:`magmom.training.set_aside.set_aside`); the set-aside folder."""
        paths = (self.best_path, self.last_path, self.history_path)
        return set_aside(self.out_dir, paths, self.model_id, reason)

    # -- the loop --
    def fit(
        self,
        train_set: Sequence,
        val_set: Sequence,
        *,
        resume: bool = True,
        on_epoch_end: Callable[[Trainer], None] | None = None,
    ) -> TrainingResult:
        """Train until early stopping or ``max_epochs``; ``on_epoch_end`` runs after each epoch's
        checkpoints are on disk (tests use it to interrupt a run)."""
        start = time.perf_counter()
        resumed_from = self.start(resume)
        train_loader, val_loader = self.loaders(train_set, val_set)
        bar = tqdm(
            total=self.settings.max_epochs,
            initial=self.epoch,
            desc=self.model_id,
            unit="epoch",
            disable=not self.progress,
            file=sys.stderr,
            mininterval=1.0,
        )
        try:
            while not self.done:
                val_mae = self.run_epoch(train_loader, val_loader)
                bar.update(1)
                bar.set_postfix(val_mae=f"{val_mae:.4f}", best=f"{self.best_val_mae:.4f}")
                if on_epoch_end is not None:
                    on_epoch_end(self)
        finally:
            bar.close()
        return self.result(time.perf_counter() - start, resumed_from)

    def start(self, resume: bool) -> int:
        """Continue this run's ``last.pt`` (``resume``) or set earlier state aside; the epoch the
        run starts from."""
        self.remove_stale_temporaries()
        if resume:
            resumed = self.resume()
        else:
            resumed = False
            self.set_aside("a fresh start was asked for (training.fresh / --fresh)")
        if not resumed:
            self.set_aside("there is no last.pt of this same run to continue from")
        return self.epoch if resumed else 0

    def loaders(self, train_set: Sequence, val_set: Sequence) -> tuple:
        """The shuffled training loader and the validation loader (magmom.training.loader)."""
        s = self.settings
        common = {"num_workers": self.num_workers, "seed": s.seed, "device": self.device}
        return (
            graph_loader(train_set, s.batch_size, shuffle=True, **common),
            graph_loader(val_set, s.batch_size, shuffle=False, **common),
        )

    def run_epoch(self, train_loader, val_loader) -> float:
        """One epoch: train, validate, step the scheduler, keep the best state, append the
        history row, write the checkpoints and the history; the validation MAE."""
        tick = time.perf_counter()
        set_loader_epoch(train_loader, self.settings.seed, self.epoch + 1)
        lr = self.lr
        train_loss, train_mae = self.train_epoch(train_loader)
        val_mae = self.evaluate(val_loader)
        self.scheduler.step(val_mae)
        self.epoch += 1
        improved = val_mae < self.best_val_mae
        if improved:
            self.best_val_mae, self.best_epoch = val_mae, self.epoch
            self.epochs_without_improvement = 0
            self.best = self._snapshot(val_mae)
        else:
            self.epochs_without_improvement += 1
        self.history.append(
            {
                "epoch": self.epoch,
                "train_loss": train_loss,
                "train_mae": train_mae,
                "val_mae": val_mae,
                "lr": lr,
                "time": time.perf_counter() - tick,
            }
        )
        # best before last: a kill in between leaves last.pt one epoch behind, and the
        # resumed run redoes that epoch and rewrites best.pt from last.pt's copy.
        if improved:
            save_checkpoint(self.best_path, self.best_checkpoint())
        save_checkpoint(self.last_path, self.last_checkpoint(val_mae))
        self.write_history()
        log.info(
            "%s epoch %d: train loss %.5f, train MAE %.5f, val MAE %.5f%s, lr %.3g, %.1f s",
            self.model_id,
            self.epoch,
            train_loss,
            train_mae,
            val_mae,
            " (best)" if improved else "",
            lr,
            self.history[-1]["time"],
        )
        return val_mae

    def result(self, seconds: float, resumed_from: int) -> TrainingResult:
        """The finished run's summary (logged); an error when no epoch ran."""
        s = self.settings
        if self.best is None:
            raise TrainingError(f"{self.model_id}: no epoch was run (max_epochs={s.max_epochs})")
        reason = (
            f"no improvement for {self.epochs_without_improvement} epochs"
            if self.stopped_early
            else f"max_epochs={s.max_epochs} reached"
        )
        log.info(
            "%s finished after %d epochs (%s): best val MAE %.5f at epoch %d",
            self.model_id,
            self.epoch,
            reason,
            self.best_val_mae,
            self.best_epoch,
        )
        return TrainingResult(
            model_id=self.model_id,
            epochs=self.epoch,
            best_epoch=self.best_epoch,
            best_val_mae=self.best_val_mae,
            stopped_early=self.stopped_early,
            resumed_from_epoch=resumed_from,
            seconds=seconds,
        )
