"""magmom21: per-atom magnetic moments of metal-alloy surface slabs.

``magmom.MagmomCalculator`` (an ASE calculator for a trained model) and
``magmom.set_initial_magmoms`` load on first use (:mod:`magmom.predict`).
"""

from magmom.lazy import lazy_getattr

__getattr__ = lazy_getattr(
    __name__, {"MagmomCalculator": "predict", "set_initial_magmoms": "predict"}
)
