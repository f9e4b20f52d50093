"""Rule lattice_table: eos/{element}-{lattice}.json -> eos/lattice_table.json."""

import logging
from pathlib import Path

from magmom.dft.eos import lattice_table_from_eos
from magmom.recipe.lattice_table import write_lattice_table
from magmom.rule_logging import log_to, script_log

snakemake = snakemake  # noqa: F821, PLW0127 - injected by Snakemake's script: directive

with log_to(script_log(snakemake)):
    files = {tuple(Path(p).stem.split("-", 1)): p for p in snakemake.input.eos}
    table = lattice_table_from_eos(
        files, snakemake.params.default_magmom, snakemake.params.hcp_c_over_a
    )
    write_lattice_table(snakemake.output.table, table)
    sources = sorted({e["source"] for lat in table.values() for e in lat.values()})
    logging.info("lattice table: %d elements, sources %s", len(table), ", ".join(sources))
