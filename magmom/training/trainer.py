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
import csv
import io
import logging
import math
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from magmom.io import write_text
from magmom.layout import ModelSpec
from magmom.models.output import to_target
from magmom.training.checkpoint import (
    BEST,
    FORMAT,
    FORMAT_VERSION,
    HISTORY,
    LAST,
    CheckpointError,
    load_checkpoint,
    rng_state,
    save_checkpoint,
    seed_everything,
    set_rng_state,
    to_cpu,
)
from magmom.training.device import configure_tf32, loader_workers, select_device
from magmom.training.loader import graph_loader, set_loader_epoch
from magmom.training.run_identity import (
    element_counts_of,
    element_mean_of,
    fingerprint_differences,
    graph_settings_of,
    plain,
    run_fingerprint,
)

log = logging.getLogger(__name__)

HISTORY_COLUMNS = ("epoch", "train_loss", "train_mae", "val_mae", "lr", "time")

# Where earlier training state goes when a run cannot continue it (renamed, never deleted).
SET_ASIDE = "set-aside"

ModelFactory = Callable[..., nn.Module]


class TrainingError(RuntimeError):
    """Training cannot go on (diverged, empty inputs, mismatched caches); the message says why."""


# ---- settings --------------------------------------------------------------------------------


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


# ---- the loop --------------------------------------------------------------------------------


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
        self.optimizer = torch.optim.AdamW(
            self.model.parameters(), lr=settings.lr, weight_decay=settings.weight_decay
        )
        self.scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(
            self.optimizer,
            mode="min",
            factor=settings.scheduler_factor,
            patience=settings.scheduler_patience,
            min_lr=settings.min_lr,
        )
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
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=HISTORY_COLUMNS, lineterminator="\n")
        writer.writeheader()
        for row in self.history:
            writer.writerow(
                {k: (f"{v:.8g}" if isinstance(v, float) else v) for k, v in row.items()}
            )
        write_text(self.history_path, buffer.getvalue())

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
        """Move any earlier ``best.pt``/``last.pt``/``history.csv`` of this directory into
        ``set-aside/<UTC time>/`` (renamed, not deleted) and log why; the set-aside folder."""
        present = [p for p in (self.best_path, self.last_path, self.history_path) if p.exists()]
        if not present:
            return None
        stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
        folder = self.out_dir / SET_ASIDE / stamp
        n = 1
        while folder.exists():
            n += 1
            folder = self.out_dir / SET_ASIDE / f"{stamp}-{n}"
        folder.mkdir(parents=True)
        for path in present:
            path.rename(folder / path.name)
        log.warning(
            "%s: starting from scratch; earlier training state (%s) set aside in %s because %s",
            self.model_id,
            ", ".join(p.name for p in present),
            folder,
            reason,
        )
        return folder

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


# ---- entry point -----------------------------------------------------------------------------


def calibrate_on_first_batch(model: nn.Module, train_set: Sequence, batch_size: int) -> None:
    """Data-dependent initialisation: the layer scales of every MagmomGNN in ``model`` from the
    first ``batch_size`` training graphs in cache order (:mod:`magmom.models.magmom_gnn`). A resumed
    run then restores the scales it started with from ``last.pt``."""
    from torch_geometric.data import Batch

    from magmom.models.magmom_gnn import calibrate_layer_scales

    first = Batch.from_data_list([train_set[i] for i in range(min(len(train_set), batch_size))])
    for scales in calibrate_layer_scales(model, first):
        log.info("layer scales from the first training batch: %s", scales.tolist())


def check_inputs(spec: ModelSpec, train_set: Sequence, val_set: Sequence, names=("", "")) -> None:
    """Fail early, naming the file, when a cache is empty or built for another cutoff."""
    for dataset, split, name in (
        (train_set, "training", names[0]),
        (val_set, "validation", names[1]),
    ):
        where = f" {name}" if name else ""
        if len(dataset) == 0:
            raise TrainingError(f"the {split} graph cache{where} holds no graphs")
        header = getattr(dataset, "header", None)
        if header and "cutoff" in header and not math.isclose(float(header["cutoff"]), spec.cutoff):
            raise TrainingError(
                f"the {split} graph cache{where} was built with cutoff {header['cutoff']} Å, "
                f"but model {spec.model_id} needs {spec.cutoff:g} Å"
            )


def checkpoint_identity(
    spec: ModelSpec, element_mean: torch.Tensor | None, config: Mapping[str, Any]
) -> dict[str, Any]:
    """The keys every checkpoint of a run starts with: format, model, element mean and the
    recorded config (:mod:`magmom.training.checkpoint`)."""
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "model_id": spec.model_id,
        "architecture": spec.architecture,
        "cutoff": float(spec.cutoff),
        "residual": bool(spec.residual),
        "element_mean": element_mean,
        "config": plain(config),
    }


def train_model(
    spec: ModelSpec,
    train_set: Sequence,
    val_set: Sequence,
    out_dir: str | Path,
    *,
    models: Mapping[str, Any],
    training: Mapping[str, Any],
    target: str = "abs",
    graphs: Mapping[str, Any] | None = None,
    recorded_config: Mapping[str, Any] | None = None,
    threads: int = 1,
    device: str | torch.device | None = None,
    resume: bool = True,
    progress: bool = True,
    on_epoch_end: Callable[[Trainer], None] | None = None,
    model_factory: ModelFactory | None = None,
    cache_names: tuple[str, str] = ("", ""),
) -> TrainingResult:
    """Train ``spec`` on ``train_set`` (early stopping on ``val_set``) into ``out_dir``.

    Args:
        spec: architecture, cutoff and residual flag of the model.
        train_set, val_set: graphs (a :class:`~magmom.graphs.GraphCache` or a list of ``Data``).
        out_dir: the model directory (``best.pt``, ``last.pt``, ``history.csv``).
        models: the ``models`` settings (those of ``spec.architecture`` are used).
        training: the ``training`` settings (:class:`TrainingSettings`).
        target: ``abs`` or ``signed``, what the outputs are clipped to when the caches' headers
            do not say.
        graphs: the ``graphs`` settings, for graphs without a cache header only.
        recorded_config: the configuration the checkpoint records as its ``config``; default
            ``{"models": models, "training": training, "dataset": {"target": target}}``.
        threads: cores; the DataLoader gets ``threads - 1`` workers.
        device: where to train (None: CUDA when available).
        resume: continue this same run's ``last.pt`` (else set earlier state aside).
        progress: a tqdm bar per epoch.
        on_epoch_end: called after each epoch's checkpoints are written (tests interrupt here).
        model_factory: builds the model; :func:`magmom.models.build_model` by default.
        cache_names: the two caches' paths, for messages.

    Re-running with the same arguments after a kill resumes.
    """
    if model_factory is None:
        from magmom.models import build_model as model_factory
    models, training = plain(models), plain(training)
    if recorded_config is None:
        recorded_config = {"models": models, "training": training, "dataset": {"target": target}}
    settings = TrainingSettings.from_config(training)
    check_inputs(spec, train_set, val_set, cache_names)
    device = select_device(device)
    configure_tf32(device, settings.tf32)
    seed_everything(settings.seed)
    element_mean = element_mean_of(train_set) if spec.residual else None
    model = model_factory(spec.architecture, spec.cutoff, models, element_mean=element_mean)
    calibrate_on_first_batch(model, train_set, settings.batch_size)
    identity = checkpoint_identity(spec, element_mean, recorded_config)
    identity.update(
        fingerprint=run_fingerprint(spec, models, training, train_set, val_set),
        graph=graph_settings_of(train_set, spec.cutoff, target, graphs),
        element_counts=element_counts_of(train_set),
        torch_version=str(torch.__version__),
    )
    n_params = sum(p.numel() for p in model.parameters())
    log.info(
        "training %s (%d parameters) on %d graphs, validating on %d, device %s, %d loader workers",
        spec.model_id,
        n_params,
        len(train_set),
        len(val_set),
        device,
        loader_workers(threads),
    )
    trainer = Trainer(
        model,
        settings,
        out_dir,
        identity=identity,
        device=device,
        num_workers=loader_workers(threads),
        progress=progress,
    )
    return trainer.fit(train_set, val_set, resume=resume, on_epoch_end=on_epoch_end)


def train_from_config(
    spec: ModelSpec,
    config: Mapping[str, Any],
    train_set: Sequence,
    val_set: Sequence,
    out_dir: str | Path,
    **kwargs: Any,
) -> TrainingResult:
    """:func:`train_model` with its settings taken from a whole workflow ``config`` (the
    command line, benchmarks, tests), which the checkpoint records."""
    return train_model(
        spec,
        train_set,
        val_set,
        out_dir,
        models=config["models"],
        training=config["training"],
        target=config.get("dataset", {}).get("target", "abs"),
        graphs=config.get("graphs"),
        recorded_config=config,
        **kwargs,
    )
