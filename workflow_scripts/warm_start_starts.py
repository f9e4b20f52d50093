"""Snakemake checkpoint `warm_start_starts`: the held-out slabs and their start moments."""

from magmom.io import write_json
from magmom.rule_logging import log_to, script_log

with log_to(script_log(snakemake)):  # noqa: F821
    sm = snakemake  # noqa: F821
    from magmom.training.device import configure_threads
    from magmom.warm_start.starts import warm_start_starts

    configure_threads(sm.threads)
    starts = warm_start_starts(
        sm.input.dataset,
        sm.input.split,
        sm.input.lattice_table,
        sm.input.checkpoint,
        sm.params.settings,
        sm.params.default_magmom,
    )
    write_json(sm.output[0], starts)
