"""Baselines scored like the GNNs: per-element mean, linear and XGBoost on hand-built atom features,
CHGNet zero-shot and CHGNet fine-tuned on moments only.

Modules: :mod:`~magmom.baselines.element_mean`, :mod:`~magmom.baselines.atom_features`,
:mod:`~magmom.baselines.tabular`, :mod:`~magmom.baselines.chgnet_zeroshot`,
:mod:`~magmom.baselines.chgnet_finetune` (the slabs of both: :mod:`~magmom.baselines.chgnet_slabs`).
Each writes per-atom test predictions in the predictions contract (docs/architecture.md).
"""
