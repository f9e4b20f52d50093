"""magmom21: per-atom magnetic moments of metal-alloy surface slabs.

``magmom.MagmomCalculator`` (an ASE calculator for a trained model) and
``magmom.set_initial_magmoms`` load on first use (:mod:`magmom.predict`).
"""


def __getattr__(name: str):
    if name in ("MagmomCalculator", "set_initial_magmoms"):
        from magmom import predict

        return getattr(predict, name)
    raise AttributeError(f"module 'magmom' has no attribute {name!r}")
