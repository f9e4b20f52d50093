"""What identifies a training run and what its checkpoint records about the data.

The settings fingerprint (:func:`run_fingerprint`: the model's settings, the training settings and
both caches, described by their headers' content hash) decides whether a saved ``last.pt``
belongs to the same run (:meth:`magmom.training.trainer.Trainer.resume`);
:func:`fingerprint_differences` says what changed when it does not. The checkpoint also records
how the graphs were built (:func:`graph_settings_of`) and the training atoms per element
(:func:`element_counts_of`); a residual model starts from :func:`element_mean_of`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict
from typing import Any

import numpy as np
import torch

from magmom.config import model_settings
from magmom.graphs.element_stats import ElementStats
from magmom.graphs.neighbours import resolve_rule
from magmom.layout import ModelSpec

# Settings that may change between a killed run and its resumption without invalidating it:
# raising the epoch budget or the patience simply lets the run go on.
RESUMABLE_KEYS = frozenset({"max_epochs", "early_stopping_patience"})
# training.* keys that say how a job runs, not what it computes.
RUN_KEYS = frozenset({"resources", "fresh"})


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
