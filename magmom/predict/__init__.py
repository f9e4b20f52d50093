"""A trained model applied to users' structures: command line, ASE calculator, start moments.

=================  ==========================================================================
module             concept
=================  ==========================================================================
``structures``     reading structure files into frames; which frames are refused or flagged
``predictor``      ``MomentPredictor``: checkpoint -> graphs -> batched per-atom moments
``calculator``     ``MagmomCalculator`` (ASE) and ``set_initial_magmoms``
``output``         the moments / failures CSVs and the extxyz structures with initial moments
``files``          ``predict_files``: a list of files -> those outputs (CLI and workflow rule)
``cli``            ``python -m magmom.predict MODEL STRUCTURE...``
=================  ==========================================================================
"""

from __future__ import annotations

import importlib

_LAZY = {
    "MomentPredictor": "predictor",
    "resolve_checkpoint": "predictor",
    "MagmomCalculator": "calculator",
    "set_initial_magmoms": "calculator",
    "StructureError": "structures",
    "read_frames": "structures",
    "predict_files": "files",
}

__all__ = list(_LAZY)


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
