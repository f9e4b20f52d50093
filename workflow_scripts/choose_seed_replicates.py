"""Snakemake checkpoint `choose_seed_replicates`: the best seed-dependent models by test MAE."""

import json

from magmom.evaluation.report.seed_spread import choose_models
from magmom.evaluation.report.tables import load_metrics
from magmom.evaluation.seeds import write_choice
from magmom.rule_logging import log_to, script_log

with log_to(script_log(snakemake)):  # noqa: F821
    sm = snakemake  # noqa: F821
    with open(sm.input.provenance) as fh:
        surrogate = bool(json.load(fh).get("surrogate"))
    metrics = load_metrics(dict(zip(sm.params.model_ids, sm.input.metrics, strict=True)))
    models = choose_models(metrics, sm.params.gnn_ids, sm.params.top, surrogate)
    choice = write_choice(
        sm.output[0], models, sm.params.seeds, sm.params.original_seed, sm.params.model_ids
    )
    print(json.dumps(choice, indent=2))
