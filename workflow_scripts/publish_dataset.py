"""Rule publish_dataset: results/dataset/staged/{name}.* -> results/dataset/{name}.*."""

from magmom.data.dataset import publish_dataset
from magmom.rule_logging import log_to, script_log

snakemake = snakemake  # noqa: F821, PLW0127 - injected by Snakemake's script: directive

with log_to(script_log(snakemake)):
    keys = ("db", "failures", "summary")
    publish_dataset({k: snakemake.input[k] for k in keys}, {k: snakemake.output[k] for k in keys})
