"""Snakemake `train`: one GNN from its train/val graph caches; a re-run resumes from last.pt."""

import logging
from pathlib import Path

from magmom.rule_logging import log_to, script_log

with log_to(script_log(snakemake)):  # noqa: F821
    sm = snakemake  # noqa: F821
    import torch

    from magmom.graphs import GraphCache
    from magmom.layout import ModelSpec
    from magmom.training.checkpoint import HISTORY
    from magmom.training.device import configure_threads, describe, select_device
    from magmom.training.run import train_model

    # a seed replicate (cgconv-r4-s43) is the same model: its seed is in sm.params.training
    architecture, cutoff, residual = sm.params.spec[:3]
    spec = ModelSpec(architecture, float(cutoff), residual)
    logging.info("model %s, seed %s", sm.wildcards.model_id, sm.params.training["seed"])
    out_dir = Path(sm.output.best).parent
    assert Path(sm.output.history) == out_dir / HISTORY, "history.csv must sit beside best.pt"
    configure_threads(sm.threads)
    device = select_device(None)
    if int(getattr(sm.resources, "gpu", 0) or 0) > 0 and device.type != "cuda":
        logging.warning(
            "the job requested a GPU (training.resources.gpu) but torch %s sees none: training "
            "on the CPU. Install a CUDA build of torch in the ml env or set gpu: 0",
            torch.__version__,
        )
    logging.info("device: %s", describe(device))
    expect = {"cutoff": spec.cutoff, "target": sm.params.target}
    train_model(
        spec,
        GraphCache(sm.input.train, **expect),
        GraphCache(sm.input.val, **expect),
        out_dir,
        models=sm.params.models,
        training=sm.params.training,
        target=sm.params.target,
        threads=sm.threads,
        device=device,
        resume=not sm.params.fresh,
        cache_names=(sm.input.train, sm.input.val),
    )
