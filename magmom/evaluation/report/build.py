"""Write every output of the report rule from the metrics files, the cost file and provenance."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import pandas as pd

from magmom.evaluation.provenance import label_origin
from magmom.io import atomic_path, write_text
from magmom.layout import REPORT_OUTPUTS

from .cutoff_sweep import cutoff_sweep_figure
from .heatmap import per_element_heatmap
from .markdown import cost_markdown, ranking_markdown
from .ranking_plot import ranking_figure
from .study_table import claims_table, study_markdown, study_table
from .tables import deployment_table, load_metrics, per_element_table, ranking_table

OUTPUT_KEYS = tuple(REPORT_OUTPUTS)
"""The keys of ``outputs`` that :func:`build_report` writes (the report rule's named outputs)."""


def _write_csv(frame: pd.DataFrame, path: str | Path) -> None:
    with atomic_path(path) as tmp:
        frame.to_csv(tmp, index=False, float_format="%.6g")


def build_report(
    metrics_paths: Mapping[str, str | Path],
    gnn_ids: Sequence[str],
    cost_csv: str | Path,
    provenance: Mapping,
    outputs: Mapping[str, str | Path],
    excluded_elements: Sequence[str],
    top_n: int,
    cap_note: str = "",
    seed_spread: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Write every report output (the :data:`OUTPUT_KEYS` of ``outputs``); return the ranking.
    ``cap_note``: what the neighbour cap does per cutoff, placed under the cutoff sweep;
    ``seed_spread``: the seed replicates' table (:mod:`~.seed_spread`), a section of
    ``ranking.md`` when given."""
    missing = [k for k in OUTPUT_KEYS if k not in outputs]
    if missing:
        raise KeyError(f"build_report: no output path for {missing}")
    metrics = load_metrics(metrics_paths)
    surrogate = bool(provenance.get("surrogate"))
    ranking = ranking_table(metrics, gnn_ids, surrogate)
    per_element = per_element_table(metrics)
    cost = deployment_table(pd.read_csv(cost_csv), ranking)

    _write_csv(ranking, outputs["ranking_csv"])
    _write_csv(per_element, outputs["per_element_csv"])
    _write_csv(cost, outputs["cost_csv"])
    ranking_figure(ranking, outputs["ranking_plot"], surrogate)
    cutoff_sweep_figure(ranking, outputs["cutoff_sweep"], surrogate)
    per_element_heatmap(per_element, ranking, top_n, outputs["heatmap"], surrogate)
    write_text(
        outputs["ranking_md"],
        ranking_markdown(
            ranking,
            per_element,
            cost,
            provenance,
            excluded_elements,
            top_n,
            cap_note,
            seed_spread,
        ),
    )
    write_text(outputs["cost_md"], cost_markdown(cost, provenance))

    study = study_table(ranking, per_element)
    claims = claims_table(study)
    _write_csv(study, outputs["study_csv"])
    _write_csv(claims, outputs["study_claims_csv"])
    origin = label_origin(provenance.get("labellers", {}), provenance.get("dft_settings"))
    write_text(outputs["study_md"], study_markdown(study, claims, provenance, origin))
    return ranking
