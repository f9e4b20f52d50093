"""Snakemake `predict_structures`: one structure file -> moments CSV, failures CSV, extxyz."""

from magmom.rule_logging import log_to, script_log

with log_to(script_log(snakemake)):  # noqa: F821
    sm = snakemake  # noqa: F821
    from magmom.predict.files import predict_files
    from magmom.predict.predictor import MomentPredictor
    from magmom.training.device import configure_threads

    configure_threads(sm.threads)
    predict_files(
        MomentPredictor(sm.input.checkpoint),
        [sm.input.structure],
        sm.output.moments,
        sm.output.failures,
        {sm.input.structure: sm.output.structures},
        progress=True,
    )
