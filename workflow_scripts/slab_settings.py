"""Rule slab_settings: the settings that shape one lattice x family of slabs -> a JSON file."""

from magmom.io import write_json
from magmom.rule_logging import log_to, script_log

snakemake = snakemake  # noqa: F821, PLW0127 - injected by Snakemake's script: directive

with log_to(script_log(snakemake)):
    write_json(snakemake.output.settings, snakemake.params.settings)
    print(
        f"{snakemake.wildcards.lattice} {snakemake.wildcards.family}: {snakemake.params.settings}"
    )
