"""A trained model applied to arbitrary structures: load once, build graphs, predict in batches.

:class:`MomentPredictor` takes everything from the checkpoint (``best.pt``): the model (rebuilt by
:func:`magmom.training.checkpoint.load_model`), the graph settings it was trained with (cutoff,
per-atom neighbour cap, target; :func:`magmom.training.checkpoint.graph_settings`) and the
per-element training counts (:func:`magmom.training.checkpoint.element_counts`). Graphs are built
by the workflow's own builder (:func:`magmom.graphs.builder.graph_arrays`), so a structure's graph
is the one the training cache would have held for it.

Predictions are per atom, in μB: |m| for a model trained with ``target: abs`` (the study), the
signed moment for ``target: signed``.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from magmom.errors import FileRemedyError
from magmom.models.output import to_target
from magmom.predict.structures import Frame, StructureError, check_frame
from magmom.training.checkpoint import BEST, element_counts, graph_settings, load_model
from magmom.training.device import select_device

log = logging.getLogger(__name__)

RESULTS_GLOB = "results/*"
"""Where a bare model id is looked for without ``results_dir``: every configuration's results
tree under ``results/`` (``results/study``, ``results/demo``, ...; see :mod:`magmom.layout`)."""


def resolve_checkpoint(
    model: str | os.PathLike, results_dir: str | os.PathLike | None = None
) -> Path:
    """``model`` as a checkpoint file: a file path, a model directory, or a model id (looked up
    as ``{results_dir}/models/{id}/best.pt``; without ``results_dir`` in every results tree under
    ``results/``, which must then hold exactly one such model)."""
    import glob

    from magmom.layout import Layout

    path = Path(model)
    if path.is_file():
        return path
    if path.is_dir() and (path / BEST).is_file():
        return path / BEST
    pattern = Layout(str(results_dir or RESULTS_GLOB), "").checkpoint(str(model))
    found = sorted(Path(p) for p in glob.glob(pattern) if Path(p).is_file())
    if len(found) == 1:
        return found[0]
    if len(found) > 1:
        raise FileNotFoundError(
            f"model id {str(model)!r} exists in several results trees "
            f"({', '.join(map(str, found))}); pass the checkpoint path or --results-dir"
        )
    raise ModelNotFoundError(str(model), pattern)


class ModelNotFoundError(FileRemedyError, FileNotFoundError):
    """No checkpoint for ``model_id`` (looked for as ``pattern``). The facts a caller words a fix
    from (:func:`magmom.suggestions.suggestion`): ``checkpoints``, where the configurations of
    this repository that train the model write its checkpoint (remedy ``train``; empty when none
    does, remedy None), and ``gnn``, whether the id names a GNN at all (the baselines have no
    checkpoint the predictor runs)."""

    def __init__(self, model_id: str, pattern: str):
        self.model_id = model_id
        self.gnn = is_gnn_id(model_id)
        self.checkpoints = training_checkpoints(model_id) if self.gnn else ()
        message = (
            f"model {model_id!r} is neither a checkpoint file, nor a model directory with {BEST}, "
            f"nor a trained model id ({pattern} does not exist)"
        )
        if not self.gnn:
            from magmom.layout import ARCHITECTURES

            message += (
                f"; {model_id!r} is not a GNN id ({{architecture}}-r{{cutoff}}[-res]; "
                f"architectures: {', '.join(ARCHITECTURES)}): the baselines (element-mean, "
                "linear, xgboost, chgnet-*) have no checkpoint the predictor runs"
            )
        elif not self.checkpoints:
            message += (
                f"; no configuration of this repository trains {model_id!r} (see "
                "models.architectures and models.cutoffs)"
            )
        super().__init__(message, remedy="train" if self.checkpoints else None)


def is_gnn_id(model_id: str) -> bool:
    """Whether ``model_id`` names a GNN (``{architecture}-r{cutoff}[-res]``)."""
    from magmom.layout import ARCHITECTURES, parse_model_id

    return parse_model_id(model_id).architecture in ARCHITECTURES


def training_checkpoints(model_id: str) -> tuple[str, ...]:
    """Where the configurations of this repository that train ``model_id`` write its checkpoint
    (``{results_dir}/models/{model_id}/best.pt``, relative to the repository), study first."""
    from magmom.config import REPO, known_configs
    from magmom.layout import Layout, gnn_model_ids
    from magmom.training.cli import load_config

    out = []
    for results_dir, files in known_configs().items():
        config = load_config(REPO / "config.yaml", [REPO / f for f in files])
        if model_id in gnn_model_ids(config["models"]):
            out.append(Layout(results_dir, "").checkpoint(model_id))
    return tuple(out)


@dataclass
class Prediction:
    """The outcome for one frame: ``moments`` (μB) and per-atom ``flags``, or ``error``."""

    file: str
    frame: int | None
    atoms: object | None = None
    moments: np.ndarray | None = None
    flags: list[str] = field(default_factory=list)
    error: str | None = None
    warnings: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.error is None


class MomentPredictor:
    """Per-atom magnetic moments from a magmom checkpoint (see the module docstring).

    ``model`` is a checkpoint path, a model directory or a model id (:func:`resolve_checkpoint`).
    ``device`` defaults to CUDA when available; ``batch_size`` to the training batch size.
    """

    def __init__(
        self,
        model: str | os.PathLike,
        *,
        device: str | torch.device | None = None,
        batch_size: int | None = None,
        results_dir: str | os.PathLike | None = None,
    ):
        self.checkpoint_path = resolve_checkpoint(model, results_dir)
        self.device = select_device(device)
        self.model, checkpoint = load_model(self.checkpoint_path, self.device)
        self.model_id = str(checkpoint["model_id"])
        self.graph = graph_settings(checkpoint)
        self.element_counts = element_counts(checkpoint)
        if self.element_counts is None:
            log.warning(
                "%s is a format-%s checkpoint without per-element training counts: elements "
                "unseen in training cannot be flagged",
                self.checkpoint_path,
                checkpoint.get("format_version"),
            )
        from magmom.graphs.cache import SCHEMA_VERSION

        trained_on = self.graph.get("schema_version")
        # schema 3 only names the rule in the header; a schema-2 model's shell-complete graphs
        # are rebuilt exactly (graph_settings resolves its rule)
        if trained_on is not None and trained_on not in (2, SCHEMA_VERSION):
            log.warning(
                "%s was trained on graph schema %s; this code builds schema %s graphs (the "
                "neighbour cap or layout changed): predictions may differ from its test scores; "
                "retrain for exact agreement",
                self.checkpoint_path,
                trained_on,
                SCHEMA_VERSION,
            )
        training = checkpoint["config"].get("training", {})
        self.batch_size = int(batch_size or training.get("batch_size", 32))

    @property
    def cutoff(self) -> float:
        return self.graph["cutoff"]

    @property
    def target(self) -> str:
        return self.graph["target"]

    def graph_of(self, atoms, name: str = "structure"):
        """The contract ``Data`` of checked ``atoms`` (built by the workflow's graph builder)."""
        from magmom.graphs.builder import SlabInput, graph_arrays
        from magmom.graphs.dataset import arrays_to_data

        slab = SlabInput(
            slab_id=name,
            numbers=np.asarray(atoms.numbers),
            positions=np.asarray(atoms.positions, dtype=np.float64),
            cell=np.asarray(atoms.cell[:], dtype=np.float64),
            pbc=np.asarray(atoms.pbc, dtype=bool),
            magmoms=np.zeros(len(atoms)),  # no label: y and magmom are unused zeros
        )
        graph = self.graph
        return arrays_to_data(
            graph_arrays(
                slab, self.cutoff, graph["max_neighbors"], self.target, rule=graph["neighbor_rule"]
            )
        )

    @torch.inference_mode()
    def _forward(self, graphs: Sequence) -> list[np.ndarray]:
        from torch_geometric.data import Batch

        batch = Batch.from_data_list(list(graphs)).to(self.device)
        out = to_target(self.model(batch), self.target).float().cpu().numpy().astype(np.float64)
        bounds = batch.ptr.cpu().numpy()
        return [out[a:b] for a, b in zip(bounds[:-1], bounds[1:], strict=True)]

    def predict_frames(
        self, frames: Iterable[Frame], progress: bool = True
    ) -> Iterator[Prediction]:
        """One :class:`Prediction` per frame, in order; a bad frame gets ``error`` set and
        does not stop the others."""
        pending: list[tuple[Prediction, object]] = []
        frames = list(frames)
        bar = tqdm(
            total=len(frames),
            desc=f"predict {self.model_id}",
            unit="structure",
            mininterval=2.0,
            disable=not progress or len(frames) < 2,
        )

        def flush():
            if not pending:
                return []
            moments = self._forward([g for _, g in pending])
            done = []
            for (pred, _), m in zip(pending, moments, strict=True):
                pred.moments = m
                done.append(pred)
            bar.update(len(pending))
            pending.clear()
            return done

        try:
            for frame in frames:
                pred = Prediction(frame.file, frame.frame, atoms=frame.atoms, warnings=[])
                try:
                    atoms, flags = check_frame(frame, self.cutoff, self.element_counts)
                    graph = self.graph_of(atoms, frame.where)
                except (StructureError, ValueError) as err:
                    pred.error = str(err) if frame.where in str(err) else f"{frame.where}: {err}"
                    bar.update(1)
                    yield from flush()
                    yield pred
                    continue
                pred.flags = flags
                pred.warnings = list(frame.warnings)
                pending.append((pred, graph))
                if len(pending) >= self.batch_size:
                    yield from flush()
            yield from flush()
        finally:
            bar.close()

    def predict_atoms(self, atoms, name: str = "structure") -> np.ndarray:
        """Per-atom moments (μB) of one ``ase.Atoms``; raises :class:`StructureError` if the
        structure is refused (module table of :mod:`magmom.predict.structures`)."""
        (pred,) = self.predict_frames([Frame(name, None, atoms=atoms)], progress=False)
        if not pred.ok:
            raise StructureError(pred.error)
        for warning in pred.warnings:
            log.warning(warning)
        return pred.moments
