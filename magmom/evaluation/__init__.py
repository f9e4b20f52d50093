"""Scoring and reporting: per-model metrics and figures, deployment cost, the ranking report.

Modules: :mod:`~magmom.evaluation.metrics` (MAE/RMSE/R²/max error, per element, V/Cr/Mn excluded),
:mod:`~magmom.evaluation.plots` (parity plots and signed-error histograms),
:mod:`~magmom.evaluation.provenance` (labeller and split counts),
:mod:`~magmom.evaluation.deployment_cost` (parameters, load and inference time per slab) and
:mod:`~magmom.evaluation.report` (the ranking report: tables, cutoff sweep, per-element heatmap,
markdown pages).
"""
