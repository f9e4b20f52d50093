"""Rule split: dataset/{name}.db -> split/{name}-split.csv (no leakage)."""

import logging

from magmom.data.split import format_split_csv, slab_keys_from_dataset, split_table, summarise
from magmom.io import write_text
from magmom.rule_logging import log_to, script_log

snakemake = snakemake  # noqa: F821, PLW0127 - injected by Snakemake's script: directive

with log_to(script_log(snakemake)):
    cfg = snakemake.params.split
    keys = slab_keys_from_dataset(snakemake.input.dataset)
    rows = split_table(keys, (cfg["train"], cfg["val"], cfg["test"]), cfg["seed"])
    write_text(snakemake.output.split, format_split_csv(rows))
    logging.info(
        "split %d slabs of %s (seed %d):\n%s",
        len(rows),
        snakemake.input.dataset,
        cfg["seed"],
        summarise(rows),
    )
