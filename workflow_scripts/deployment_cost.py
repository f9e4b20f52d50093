"""Deployment cost of every trained GNN (and the pretrained CHGNet) on one 64-atom slab."""

from magmom.evaluation.deployment_cost import benchmark
from magmom.io import atomic_path
from magmom.rule_logging import log_to, script_log
from magmom.training.device import configure_threads

with log_to(script_log(snakemake)):  # noqa: F821
    sm = snakemake  # noqa: F821
    configure_threads(sm.threads)
    table = benchmark(
        list(sm.input.checkpoints),
        sm.params.elements,
        include_chgnet=sm.params.include_chgnet,
    )
    with atomic_path(sm.output[0]) as tmp:
        table.to_csv(tmp, index=False, float_format="%.6g")
    print(table.to_string())
