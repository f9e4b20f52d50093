"""Snakemake `predict`: per-atom test predictions of a trained GNN from its best checkpoint."""

from magmom.rule_logging import log_to, script_log

with log_to(script_log(snakemake)):  # noqa: F821
    sm = snakemake  # noqa: F821
    from magmom.graphs import GraphCache
    from magmom.training.device import configure_threads
    from magmom.training.predict import predict_checkpoint

    configure_threads(sm.threads)
    predict_checkpoint(
        sm.input.checkpoint,
        GraphCache(sm.input.test, target=sm.params.target),
        sm.output[0],
    )
