"""magmom21: per-atom magnetic moments of metal-alloy surface slabs."""
