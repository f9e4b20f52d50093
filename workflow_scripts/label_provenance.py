"""Labellers of the dataset and slab/atom counts per split, for every page of the report."""

import json

from magmom.evaluation.provenance import label_provenance, record_dft_settings
from magmom.io import write_json
from magmom.rule_logging import log_to, script_log

with log_to(script_log(snakemake)):  # noqa: F821
    sm = snakemake  # noqa: F821
    if sm.input.records:  # an imported dataset shipped with its DFT records
        settings = []
        for path in sm.input.records:
            with open(path) as fh:
                settings.append(record_dft_settings(json.load(fh)))
        source = f"{len(settings)} shipped DFT record" + ("" if len(settings) == 1 else "s")
    elif sm.params.dft_settings:  # labelled by this run
        settings, source = [sm.params.dft_settings], "this run's dft settings"
    else:
        settings, source = [], ""
    provenance = label_provenance(
        sm.input.db,
        sm.input.split,
        imported=sm.params.imported,
        labeller=sm.params.labeller,
        target=sm.params.target,
        dft_settings=settings,
        dft_settings_source=source,
    )
    print(provenance)
    write_json(sm.output[0], provenance)
