"""Labellers of the dataset and slab/atom counts per split, for every page of the report."""

from magmom.evaluation.provenance import label_provenance
from magmom.io import write_json
from magmom.rule_logging import log_to, script_log

with log_to(script_log(snakemake)):  # noqa: F821
    sm = snakemake  # noqa: F821
    provenance = label_provenance(
        sm.input.db,
        sm.input.split,
        imported=sm.params.imported,
        labeller=sm.params.labeller,
        target=sm.params.target,
    )
    print(provenance)
    write_json(sm.output[0], provenance)
