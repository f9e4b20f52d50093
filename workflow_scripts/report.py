"""The ranking report: ranking table, cutoff sweep, per-element heatmap, deployment cost."""

import json

import pandas as pd

from magmom.evaluation.report import OUTPUT_KEYS, build_report
from magmom.graphs.cap_report import cap_note
from magmom.rule_logging import log_to, script_log

with log_to(script_log(snakemake)):  # noqa: F821
    sm = snakemake  # noqa: F821
    with open(sm.input.provenance) as fh:
        provenance = json.load(fh)
    # the seed replicates' table: an input only when report.seed_replicates.seeds is not empty
    seed_spread = list(sm.input.seed_spread)
    ranking = build_report(
        dict(zip(sm.params.model_ids, sm.input.metrics, strict=True)),
        sm.params.gnn_ids,
        sm.input.cost,
        provenance,
        {k: sm.output[k] for k in OUTPUT_KEYS},
        sm.params.excluded_elements,
        sm.params.top_n,
        cap_note(sm.input.graph_caches),
        pd.read_csv(seed_spread[0]) if seed_spread else None,
    )
    print(ranking.to_string())
