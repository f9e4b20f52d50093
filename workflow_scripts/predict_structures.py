"""Snakemake `predict_structures`: one structure file -> moments CSV, failures CSV, extxyz."""

import sys

from magmom.predict.files import refusal_summary
from magmom.rule_logging import log_to, script_log

with log_to(script_log(snakemake)):  # noqa: F821
    sm = snakemake  # noqa: F821
    from magmom.predict.files import predict_files
    from magmom.predict.predictor import MomentPredictor
    from magmom.training.device import configure_threads

    configure_threads(sm.threads)
    summary = predict_files(
        MomentPredictor(sm.input.checkpoint),
        [sm.input.structure],
        sm.output.moments,
        sm.output.failures,
        {sm.input.structure: sm.output.structures},
        progress=True,
    )
    # the console, not only the log: Snakemake shows a script job's own stderr
    refused = refusal_summary(sm.input.structure, summary, sm.output.failures)
    if summary.predicted == 0:
        raise RuntimeError(refused)
    if summary.failed:
        print(f"WARNING: {refused}", file=sys.__stderr__, flush=True)
