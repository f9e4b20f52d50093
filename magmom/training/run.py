"""One training run from its inputs: checked caches, the model built and calibrated, the
checkpoint identity, then the loop (:class:`magmom.training.trainer.Trainer`).

:func:`train_model` takes its settings by name (the ``train`` rule); :func:`train_from_config`
takes them from a whole workflow config (the command line, benchmarks, tests), which the
checkpoint then records.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn

from magmom.layout import ModelSpec
from magmom.training.checkpoint import FORMAT, FORMAT_VERSION, seed_everything
from magmom.training.device import configure_tf32, loader_workers, select_device
from magmom.training.run_identity import (
    element_counts_of,
    element_mean_of,
    graph_settings_of,
    plain,
    run_fingerprint,
)
from magmom.training.settings import TrainingError, TrainingResult, TrainingSettings
from magmom.training.trainer import Trainer

log = logging.getLogger(__name__)

ModelFactory = Callable[..., nn.Module]


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
