"""Rule import_dataset: dataset.source (HDF5 / ASE db / extxyz) -> dataset/{name}.*."""

from magmom.data.importers import import_dataset
from magmom.rule_logging import log_to, script_log

snakemake = snakemake  # noqa: F821, PLW0127 - injected by Snakemake's script: directive

with log_to(script_log(snakemake)):
    import_dataset(
        source=snakemake.input.source,
        outputs={k: snakemake.output[k] for k in ("db", "failures", "summary")},
        name=snakemake.params.name,
        previous=snakemake.params.previous,
        on_bad_record=snakemake.params.on_bad_record,
    )
