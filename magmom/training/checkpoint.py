"""Training checkpoints: what they hold, how they are written and how a model is rebuilt from one.

A checkpoint is a dict of tensors and plain Python containers only, so it loads with
``torch.load(path, weights_only=True)`` (no pickled classes, no code run on load). Both files of a
model directory share the *identity* keys

=================  ==========================================================================
``format``         ``"magmom-checkpoint"``; ``format_version`` (int)
``model_id``       e.g. ``"cgconv-r4-res"``
``architecture``   operator name accepted by :func:`magmom.models.build_model`
``cutoff``         graph cutoff in Å (float)
``residual``       bool; ``element_mean`` float32 (119,) bias buffer when true, else None
``config``         the full workflow config the model was trained with (``models`` rebuilds it)
``fingerprint``    JSON of every setting and input cache the run depends on (resume guard)
``graph``          (v2) how input graphs are built: ``{"cutoff", "neighbor_rule",
                   "max_neighbors", "target", "schema_version"}`` (the last: the training
                   cache's graph schema; ``neighbor_rule`` from schema 3 on)
``element_counts`` (v2) int64 (119,): training atoms per atomic number (0 = never seen)
=================  ==========================================================================

Format 1 checkpoints (no ``graph``, no ``element_counts``) still load: :func:`graph_settings`
falls back to the config they carry and :func:`element_counts` returns None (unseen elements
cannot be flagged for them).

and the *state* keys ``epoch`` (completed epochs), ``model_state``, ``optimizer_state``,
``scheduler_state``, ``val_mae``. ``best.pt`` is the state at the epoch of lowest validation MAE.
``last.pt`` is the state after the latest epoch plus everything needed to continue bit-for-bit:
``trainer`` (best metric, best epoch, epochs without improvement), ``rng`` (torch, CUDA, NumPy and
Python generator states), ``history`` (per-epoch rows) and ``best`` (the best state, so ``best.pt``
can be restored after a scheduler deleted it as the output of a failed job).

Every write goes to a temporary sibling and is renamed into place (:func:`magmom.io.atomic_path`):
a job killed mid-write leaves the previous checkpoint intact.
"""

from __future__ import annotations

import os
import random
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch

from magmom.errors import FileRemedyError
from magmom.graphs.neighbours import resolve_rule
from magmom.io import atomic_path
from magmom.layout import BEST, HISTORY, LAST  # noqa: F401  (the checkpoint's file names)

FORMAT = "magmom-checkpoint"
FORMAT_VERSION = 2


class CheckpointError(FileRemedyError):
    """A checkpoint file is missing, unreadable or not a magmom checkpoint.

    ``path`` is the file; ``remedy`` is ``"retrain"`` when training the model again from scratch
    fixes it (:func:`magmom.suggestions.retrain_hint` words how), else None.
    """


def to_cpu(obj: Any) -> Any:
    """A detached CPU copy of ``obj`` (tensors cloned; dicts, lists and tuples rebuilt).

    Used to keep the best state in memory while training continues to update the live tensors.
    """
    if isinstance(obj, torch.Tensor):
        return obj.detach().to("cpu", copy=True)
    if isinstance(obj, Mapping):
        return {k: to_cpu(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [to_cpu(v) for v in obj]
    if isinstance(obj, tuple):
        return tuple(to_cpu(v) for v in obj)
    return obj


def save_checkpoint(path: str | os.PathLike, checkpoint: Mapping[str, Any]) -> None:
    """Write ``checkpoint`` to ``path`` atomically (temporary sibling + ``os.replace``)."""
    with atomic_path(path) as tmp:
        torch.save(dict(checkpoint), tmp)


def load_checkpoint(
    path: str | os.PathLike, map_location: str | torch.device | None = "cpu"
) -> dict[str, Any]:
    """Load a checkpoint with ``weights_only=True`` and check that it is a magmom checkpoint."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} does not exist")
    try:
        checkpoint = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:  # corrupt file, foreign pickle, truncated copy
        raise CheckpointError(
            f"checkpoint {path} cannot be read with torch.load(weights_only=True): {exc}; "
            "retrain the model",
            path,
            "retrain",
        ) from exc
    if not isinstance(checkpoint, dict) or checkpoint.get("format") != FORMAT:
        raise CheckpointError(f"{path} is not a magmom checkpoint (no format={FORMAT!r} key)")
    version = checkpoint.get("format_version", 0)
    if not isinstance(version, int) or not 1 <= version <= FORMAT_VERSION:
        raise CheckpointError(
            f"{path} has checkpoint format {version!r}; this code reads formats 1 to "
            f"{FORMAT_VERSION} (a newer one needs an updated magmom package, an older one "
            f"retraining)"
        )
    return checkpoint


def graph_settings(checkpoint: Mapping[str, Any]) -> dict[str, Any]:
    """``{"cutoff", "neighbor_rule", "max_neighbors", "target"}`` the model's input graphs must be
    built with.

    Format 2 stores them (from the training cache's header); format 1 takes them from the
    config it was trained with (``graphs.max_neighbors``, ``dataset.target``). A checkpoint
    trained on caches older than schema 3 names no ``neighbor_rule``: its graphs were capped
    ``shell_complete`` when ``max_neighbors`` was set
    (:func:`~magmom.graphs.neighbours.resolve_rule` with ``rule=None``).
    """
    if "graph" in checkpoint:
        graph = dict(checkpoint["graph"])
    else:
        config = checkpoint["config"]
        graph = {
            "cutoff": checkpoint["cutoff"],
            "max_neighbors": config.get("graphs", {}).get("max_neighbors"),
            "target": config.get("dataset", {}).get("target", "abs"),
            "schema_version": None,
        }
    graph["cutoff"] = float(graph["cutoff"])
    graph["neighbor_rule"], graph["max_neighbors"] = resolve_rule(
        graph.get("neighbor_rule"), graph["max_neighbors"]
    )
    return graph


def element_counts(checkpoint: Mapping[str, Any]) -> np.ndarray | None:
    """Training atoms per atomic number, int64 (119,); None for a format-1 checkpoint."""
    counts = checkpoint.get("element_counts")
    if counts is None:
        return None
    return np.asarray(torch.as_tensor(counts).cpu().numpy(), dtype=np.int64)


# ---- random number generators --------------------------------------------------------------


def rng_state() -> dict[str, Any]:
    """States of every generator training may draw from, as tensors and plain containers."""
    np_name, np_keys, np_pos, np_has_gauss, np_gauss = np.random.get_state()
    py_version, py_internal, py_gauss = random.getstate()
    return {
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        "numpy": {
            "name": str(np_name),
            "keys": torch.from_numpy(np.asarray(np_keys, dtype=np.int64)),
            "pos": int(np_pos),
            "has_gauss": int(np_has_gauss),
            "cached_gaussian": float(np_gauss),
        },
        "python": [int(py_version), list(py_internal), py_gauss],
    }


def set_rng_state(state: Mapping[str, Any]) -> None:
    """Restore the generators saved by :func:`rng_state`."""
    torch.set_rng_state(state["torch"].cpu())
    if state["cuda"] and torch.cuda.is_available():
        if len(state["cuda"]) == torch.cuda.device_count():
            torch.cuda.set_rng_state_all([s.cpu() for s in state["cuda"]])
        else:  # resumed on a node with another GPU count: the primary device is what we use
            torch.cuda.set_rng_state(state["cuda"][0].cpu())
    np_state = state["numpy"]
    np.random.set_state(
        (
            np_state["name"],
            np_state["keys"].numpy().astype(np.uint32),
            np_state["pos"],
            np_state["has_gauss"],
            np_state["cached_gaussian"],
        )
    )
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))


def seed_everything(seed: int) -> None:
    """Seed Python's, NumPy's and torch's (CPU and CUDA) global generators."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


# ---- rebuilding a model --------------------------------------------------------------------


def build_from_checkpoint(
    checkpoint: Mapping[str, Any],
    device: str | torch.device = "cpu",
    model_factory: Callable[..., torch.nn.Module] | None = None,
) -> torch.nn.Module:
    """The model of ``checkpoint`` with its weights loaded, in eval mode, on ``device``.

    ``model_factory`` defaults to :func:`magmom.models.build_model`.
    """
    if model_factory is None:
        from magmom.models import build_model as model_factory

    element_mean = checkpoint["element_mean"] if checkpoint["residual"] else None
    model = model_factory(
        checkpoint["architecture"],
        checkpoint["cutoff"],
        checkpoint["config"]["models"],
        element_mean=element_mean,
    )
    model.load_state_dict(checkpoint["model_state"])
    return model.to(device).eval()


def load_model(
    path: str | os.PathLike,
    device: str | torch.device = "cpu",
    model_factory: Callable[..., torch.nn.Module] | None = None,
) -> tuple[torch.nn.Module, dict[str, Any]]:
    """Load ``best.pt`` (or any magmom checkpoint): the ready model and the checkpoint dict."""
    checkpoint = load_checkpoint(path, map_location="cpu")
    try:
        model = build_from_checkpoint(checkpoint, device, model_factory)
    except RuntimeError as exc:  # state-dict mismatch: the models code changed since training
        raise CheckpointError(
            f"{path}: weights do not fit the {checkpoint['architecture']} model built by this "
            f"code ({exc}); retrain the model",
            path,
            "retrain",
        ) from exc
    return model, checkpoint
