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

from magmom.lazy import lazy_getattr

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

__getattr__ = lazy_getattr(__name__, _LAZY)
