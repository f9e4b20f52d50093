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
import json
import logging
import math
import random
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from magmom.config import model_settings
from magmom.graphs.element_stats import ElementStats
from magmom.graphs.neighbours import resolve_rule
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

log = logging.getLogger(__name__)

HISTORY_COLUMNS = ("epoch", "train_loss", "train_mae", "val_mae", "lr", "time")

# Settings that may change between a killed run and its resumption without invalidating it:
# raising the epoch budget or the patience simply lets the run go on.
RESUMABLE_KEYS = frozenset({"max_epochs", "early_stopping_patience"})
# training.* keys that say how a job runs, not what it computes.
RUN_KEYS = frozenset({"resources", "fresh"})
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


# ---- data loading ----------------------------------------------------------------------------


def epoch_seed(seed: int, epoch: int, stream: int = 0) -> int:
    """A 63-bit seed for ``epoch`` of a run seeded with ``seed``; ``stream`` separates uses."""
    entropy = [int(seed) % 2**63, int(epoch), int(stream)]
    state = np.random.SeedSequence(entropy).generate_state(2, np.uint32)
    return (int(state[0]) << 31) ^ int(state[1])


class EpochShuffleSampler(torch.utils.data.Sampler[int]):
    """A random permutation of ``range(num_samples)`` that is a function of ``(seed, epoch)`` only.

    Unlike ``RandomSampler`` driven by a shared generator, the order of an epoch does not depend on
    how many draws earlier epochs (or DataLoader worker start-ups) consumed, which is what makes a
    resumed run see the same batches as an uninterrupted one.
    """

    def __init__(self, num_samples: int, seed: int):
        self.num_samples = int(num_samples)
        self.seed = int(seed)
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __iter__(self) -> Iterator[int]:
        generator = torch.Generator()
        generator.manual_seed(epoch_seed(self.seed, self.epoch))
        return iter(torch.randperm(self.num_samples, generator=generator).tolist())

    def __len__(self) -> int:
        return self.num_samples


def seed_worker(worker_id: int) -> None:
    """``worker_init_fn``: seed NumPy and ``random`` in a worker from its torch seed."""
    seed = torch.initial_seed() % 2**32
    np.random.seed(seed)
    random.seed(seed)


def graph_loader(
    dataset: Sequence,
    batch_size: int,
    *,
    shuffle: bool,
    num_workers: int = 0,
    seed: int = 0,
    device: torch.device | str = "cpu",
):
    """A loader over ``dataset`` (a :class:`~magmom.graphs.GraphCache` or a list of Data).

    Built by :func:`magmom.graphs.make_loader` (persistent workers) with an
    :class:`EpochShuffleSampler` when shuffled (call :func:`set_loader_epoch` before each epoch)
    and pinned batches for asynchronous host-to-GPU copies when training on CUDA.
    """
    from magmom.graphs import make_loader

    return make_loader(
        dataset,
        batch_size,
        shuffle=False,
        num_workers=num_workers,
        seed=seed,
        sampler=EpochShuffleSampler(len(dataset), seed) if shuffle else None,
        pin_memory=torch.device(device).type == "cuda",
        worker_init_fn=seed_worker if num_workers > 0 else None,
    )


def set_loader_epoch(loader, seed: int, epoch: int) -> None:
    """Make ``loader``'s order and worker seeds for ``epoch`` a function of ``(seed, epoch)``."""
    if isinstance(loader.sampler, EpochShuffleSampler):
        loader.sampler.set_epoch(epoch)
    if loader.generator is not None:
        loader.generator.manual_seed(epoch_seed(seed, epoch, stream=1))


def element_mean_of(dataset: Sequence) -> torch.Tensor:
    """:meth:`~magmom.graphs.element_stats.ElementStats.mean` of ``y`` over ``dataset``, float32
    ``(NUM_Z,)`` (the global mean for elements never seen).

    A :class:`~magmom.graphs.GraphCache` answers from its header statistics; any other sequence of
    Data is scanned once.
    """
    if hasattr(dataset, "element_mean"):
        return torch.as_tensor(dataset.element_mean(), dtype=torch.float32)
    return torch.from_numpy(ElementStats.of_graphs(dataset).mean()).float()


def element_counts_of(dataset: Sequence) -> torch.Tensor:
    """Atoms per atomic number in ``dataset``, int64 (119,): a cache's header, else a scan."""
    if hasattr(dataset, "element_stats"):
        stats = dataset.element_stats()
    else:
        stats = ElementStats.of_graphs(dataset)
    return torch.from_numpy(np.rint(stats.count)).long()


def graph_settings_of(
    dataset: Sequence, cutoff: float, target: str, graphs: Mapping[str, Any] | None = None
) -> dict:
    """How the training graphs were built (cutoff, neighbour rule and cap, target): from a cache's
    header, else ``target`` and the ``graphs`` settings; stored in the checkpoint so a predictor
    builds the same graphs."""
    header = getattr(dataset, "header", None) or {}
    graphs = graphs or {}
    rule, max_neighbors = resolve_rule(
        header.get("neighbor_rule", graphs.get("neighbor_rule")),
        header.get("max_neighbors", graphs.get("max_neighbors")),
    )
    return {
        "cutoff": float(cutoff),
        "neighbor_rule": rule,
        "max_neighbors": max_neighbors,
        "target": header.get("target", target),
        "schema_version": header.get("schema_version"),
    }


# Header keys that name where a cache's graphs came from, not what they are: a dataset imported
# again from the same source has other bytes (ASE db row times and ids) but the same graphs.
PROVENANCE_KEYS = ("dataset", "dataset_sha256", "split_sha256")


def dataset_description(dataset: Sequence) -> dict[str, Any]:
    """What identifies a dataset for the resume guard: a cache's header (with its content hash
    ``graphs_sha256``, the file hashes of the dataset and split it was built from are left out),
    else its size."""
    header = getattr(dataset, "header", None)
    if header is not None:
        header = dict(header)
        if "graphs_sha256" in header:
            for key in PROVENANCE_KEYS:
                header.pop(key, None)
        return header
    return {"count": len(dataset), "atoms": int(sum(int(d.num_nodes) for d in dataset))}


def plain(obj: Any) -> Any:
    """``obj`` as JSON-able builtins (dict/list/str/int/float/bool/None): safe for weights_only."""
    return json.loads(json.dumps(obj, default=str))


def run_fingerprint(
    spec: ModelSpec,
    models: Mapping[str, Any],
    training: Mapping[str, Any],
    train_set: Sequence,
    val_set: Sequence,
) -> str:
    """JSON of everything a run's result depends on (the ``models`` keys of its architecture, the
    ``training`` settings, both caches), except the epoch budget (max_epochs and
    early_stopping_patience: :meth:`Trainer.resume` checks that the saved run is a prefix of this
    one instead)."""
    payload = {
        "model": asdict(spec),
        "models": model_settings(spec.architecture, models),
        "training": {k: v for k, v in training.items() if k not in RESUMABLE_KEYS | RUN_KEYS},
        "train": dataset_description(train_set),
        "val": dataset_description(val_set),
    }
    return json.dumps(plain(payload), sort_keys=True)


def fingerprint_differences(saved: str, current: str) -> list[str]:
    """The settings in which two run fingerprints differ, as ``key: saved -> current`` lines."""

    def flat(obj, prefix=""):
        if isinstance(obj, dict):
            out = {}
            for k, v in obj.items():
                out.update(flat(v, f"{prefix}{k}."))
            return out
        return {prefix.rstrip("."): obj}

    try:
        a, b = flat(json.loads(saved)), flat(json.loads(current))
    except (TypeError, ValueError):
        return ["(no readable settings fingerprint)"]
    return [
        f"{k}: {a.get(k)!r} -> {b.get(k)!r}"
        for k in sorted(set(a) | set(b))
        if a.get(k) != b.get(k)
    ]


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
        s = self.settings
        self.remove_stale_temporaries()
        if resume:
            resumed = self.resume()
        else:
            resumed = False
            self.set_aside("a fresh start was asked for (training.fresh / --fresh)")
        if not resumed:
            self.set_aside("there is no last.pt of this same run to continue from")
        resumed_from = self.epoch if resumed else 0
        train_loader = graph_loader(
            train_set,
            s.batch_size,
            shuffle=True,
            num_workers=self.num_workers,
            seed=s.seed,
            device=self.device,
        )
        val_loader = graph_loader(
            val_set,
            s.batch_size,
            shuffle=False,
            num_workers=self.num_workers,
            seed=s.seed,
            device=self.device,
        )
        bar = tqdm(
            total=s.max_epochs,
            initial=self.epoch,
            desc=self.model_id,
            unit="epoch",
            disable=not self.progress,
            file=sys.stderr,
            mininterval=1.0,
        )
        try:
            while not self.done:
                tick = time.perf_counter()
                set_loader_epoch(train_loader, s.seed, self.epoch + 1)
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
                bar.update(1)
                bar.set_postfix(val_mae=f"{val_mae:.4f}", best=f"{self.best_val_mae:.4f}")
                if on_epoch_end is not None:
                    on_epoch_end(self)
        finally:
            bar.close()
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
            seconds=time.perf_counter() - start,
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
    identity = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "model_id": spec.model_id,
        "architecture": spec.architecture,
        "cutoff": float(spec.cutoff),
        "residual": bool(spec.residual),
        "element_mean": element_mean,
        "config": plain(recorded_config),
        "fingerprint": run_fingerprint(spec, models, training, train_set, val_set),
        "graph": graph_settings_of(train_set, spec.cutoff, target, graphs),
        "element_counts": element_counts_of(train_set),
        "torch_version": str(torch.__version__),
    }
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
