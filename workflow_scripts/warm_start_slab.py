"""Snakemake `warm_start_slab`: GPAW single points of one slab from every start."""

import json

from magmom.io import write_json
from magmom.rule_logging import log_to, script_log

with log_to(script_log(snakemake)):  # noqa: F821
    sm = snakemake  # noqa: F821
    from magmom.warm_start.scf import run_slab

    slab_id = sm.wildcards.slab_id
    with open(sm.input.starts) as fh:
        entry = json.load(fh)["slabs"][slab_id]
    record = run_slab(slab_id, entry, sm.params.dft, sm.params.settings, sm.params.workdir)
    write_json(sm.output[0], record)
