"""Metrics (all atoms, per element, without V/Cr/Mn) and figures of one model's test predictions."""

import json

from magmom.evaluation import metrics, plots
from magmom.io import write_json
from magmom.predictions import read_predictions
from magmom.rule_logging import log_to, script_log

with log_to(script_log(snakemake)):  # noqa: F821
    sm = snakemake  # noqa: F821
    model_id = sm.wildcards.model_id
    with open(sm.input.provenance) as fh:
        provenance = json.load(fh)
    df = read_predictions(sm.input.predictions)
    excluded = sm.params.excluded_elements
    result = metrics.evaluate(df, excluded)
    result.update(
        model_id=model_id,
        target=provenance["target"],
        labellers=provenance["labellers"],
        surrogate=provenance["surrogate"],
        dft_settings=provenance.get("dft_settings"),
    )
    write_json(sm.output.metrics, result)
    plots.model_figures(
        df,
        model_id,
        {k: sm.output[k] for k in ("parity", "parity_excl", "error_hist", "error_hist_excl")},
        excluded,
        surrogate=provenance["surrogate"],
        quantity="|m|" if provenance["target"] == "abs" else "m",
    )
    a = result["all"]
    print(f"{model_id}: MAE {a['mae']:.5f} RMSE {a['rmse']:.5f} over {a['n_atoms']} atoms")
