"""Training of the GNNs: the loop, checkpoints, test predictions and a command-line interface.

``python -m magmom.training --architecture cgconv --cutoff 4 --configfile presets/tiny.yaml``
trains one model into ``<results_dir>/models/cgconv-r4/``; see :mod:`magmom.training.cli`.
"""

from magmom.layout import ModelSpec
from magmom.training.checkpoint import load_checkpoint, load_model, save_checkpoint
from magmom.training.loader import graph_loader
from magmom.training.predict import predict, predict_checkpoint
from magmom.training.run import train_from_config, train_model
from magmom.training.settings import TrainingError, TrainingResult, TrainingSettings
from magmom.training.trainer import Trainer

__all__ = [
    "ModelSpec",
    "Trainer",
    "TrainingError",
    "TrainingResult",
    "TrainingSettings",
    "graph_loader",
    "load_checkpoint",
    "load_model",
    "predict",
    "predict_checkpoint",
    "save_checkpoint",
    "train_from_config",
    "train_model",
]
