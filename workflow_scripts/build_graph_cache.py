"""Rule graph_cache: the dataset + split -> train/val/test LMDB graph caches of one cutoff."""

import logging

from magmom.data.dataset import iter_labelled_slabs
from magmom.data.split import read_split
from magmom.graphs.builder import SlabInput, build_caches, file_sha256
from magmom.rule_logging import log_to, script_log

snakemake = snakemake  # noqa: F821, PLW0127 - injected by Snakemake's script: directive

with log_to(script_log(snakemake)):
    dataset, split = snakemake.input.dataset, snakemake.input.split
    params = snakemake.params
    meta = {
        "dataset": str(dataset),
        "dataset_name": params.dataset_name,
        "dataset_sha256": file_sha256(dataset),
        "split_sha256": file_sha256(split),
    }
    counts = build_caches(
        # streamed: the dataset is read while worker processes build the graphs
        (SlabInput.from_labelled(slab) for slab in iter_labelled_slabs(dataset)),
        read_split(split),
        {name: snakemake.output[name] for name in ("train", "val", "test")},
        cutoff=params.cutoff,
        max_neighbors=params.max_neighbors,
        rule=params.neighbor_rule,
        target=params.target,
        meta=meta,
        processes=snakemake.threads,
    )
    logging.info("r%g graph caches of %s: %s", params.cutoff, dataset, counts)
