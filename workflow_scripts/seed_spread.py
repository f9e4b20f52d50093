"""Snakemake `seed_spread`: test MAE per seed of every replicated model against the rank gaps."""

import json

from magmom.evaluation.report.seed_spread import seed_spread_table
from magmom.evaluation.report.tables import load_metrics, ranking_table
from magmom.evaluation.seeds import mae_by_seed, read_choice
from magmom.io import atomic_path
from magmom.rule_logging import log_to, script_log

with log_to(script_log(snakemake)):  # noqa: F821
    sm = snakemake  # noqa: F821
    with open(sm.input.provenance) as fh:
        surrogate = bool(json.load(fh).get("surrogate"))
    choice = read_choice(sm.input.choice)
    metrics = load_metrics(dict(zip(sm.params.model_ids, sm.input.metrics, strict=True)))
    replicates = load_metrics(dict(zip(choice["replicates"], sm.input.replicates, strict=True)))
    ranking = ranking_table(metrics, sm.params.gnn_ids, surrogate)
    table = seed_spread_table(ranking, mae_by_seed(choice, {**metrics, **replicates}))
    with atomic_path(sm.output[0]) as tmp:
        table.to_csv(tmp, index=False, float_format="%.6g")
    print(table.to_string())
