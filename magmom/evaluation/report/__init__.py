"""The ranking report: every GNN and baseline on one test split, ranked by MAE.

Outputs (under ``{results_dir}/report/``, :meth:`magmom.layout.Layout.report_outputs`), written
by :func:`~.build.build_report`:

* ``ranking.csv`` / ``ranking.md``: rank, model, cutoff, MAE, RMSE, R², max error, atoms and
  slabs, plus the V/Cr/Mn-excluded MAE and R², for every model, with notes on rows that cannot be
  judged and on diverged models (:mod:`~.tables`; the page itself: :mod:`~.markdown`).
* ``ranking.png``: the ranked models' test MAE with 95 % bootstrap intervals, the scores the HTML
  report shows inline (:mod:`~.ranking_plot`).
* ``cutoff_sweep.png``: test MAE against the graph cutoff, one line per GNN operator
  (:mod:`~.cutoff_sweep`).
* ``per_element.csv`` and ``per_element_heatmap.png``: MAE per element for every model, and the
  heatmap of elements × the ``top_n`` best models (:mod:`~.heatmap`).
* ``deployment_cost.csv`` / ``.md``: parameters, load and inference time per 64-atom slab of the
  best cutoff of each architecture, with its test MAE.
* ``study_comparison.csv`` / ``.md`` and ``study_claims.csv``: the study side by side: the
  baselines and best GNNs of this run with 95 % intervals next to the study's numbers, per-element
  MAE of V, Cr, Mn, Fe, Co, Ni, and which of the study's orderings hold at this scale
  (:mod:`~.study_table`).

The DFT warm-start page (``warm_start.csv`` / ``.md`` / ``.png``, rule ``warm_start_report``)
is written by :func:`~.warm_start.write_page` from the experiment's per-slab records.

Every figure and table states the number of atoms and slabs behind it and, for surrogate labels,
that the labels are not DFT; for DFT labels below the study's settings, that they are.
"""

from .build import OUTPUT_KEYS, build_report

__all__ = ["OUTPUT_KEYS", "build_report"]
