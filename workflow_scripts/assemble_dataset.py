"""Rule assemble_dataset: dft/*.json -> dataset/{name}.db + failures + summary."""

from magmom.data.assemble import assemble_dataset
from magmom.rule_logging import log_to, script_log

snakemake = snakemake  # noqa: F821, PLW0127 - injected by Snakemake's script: directive

with log_to(script_log(snakemake)):
    assemble_dataset(
        record_paths=snakemake.input.records,
        outputs={k: snakemake.output[k] for k in ("db", "failures", "summary")},
        name=snakemake.params.name,
        previous=snakemake.params.previous,
    )
