"""CHGNet fine-tuned on |m| only: select on our validation split, optionally refit on train+val."""

from pathlib import Path

from magmom.baselines import chgnet_finetune
from magmom.baselines.chgnet_slabs import check_target, slab_predictions, split_slabs
from magmom.chgnet import crystal_graphs, predict_magmoms
from magmom.io import atomic_path, write_json
from magmom.predictions import write_predictions
from magmom.rule_logging import log_to, script_log
from magmom.training.device import configure_threads, describe, select_device

with log_to(script_log(snakemake)):  # noqa: F821
    sm = snakemake  # noqa: F821
    configure_threads(sm.threads)
    device = select_device(None)
    print(f"device: {describe(device)}")
    check_target(sm.params.target, "baselines.chgnet_finetune.enabled")
    train, val, test = (
        split_slabs(sm.input.db, sm.input.split, [name]) for name in ("train", "val", "test")
    )
    settings = chgnet_finetune.FinetuneSettings.from_config(
        {"baselines": {"chgnet_finetune": sm.params.finetune}, "training": sm.params.training}
    )
    model, history, summary = chgnet_finetune.finetune(
        train, val, settings, device=device, resume_dir=Path(sm.output.best).parent
    )
    graphs = crystal_graphs(model, test, desc="CHGNet graphs (test)")
    frame = slab_predictions(test, predict_magmoms(model, graphs, settings.batch_size))
    chgnet_finetune.save_model(model, sm.output.best, summary)
    with atomic_path(sm.output.history) as tmp:
        history.to_csv(tmp, index=False, float_format="%.6g")
    write_json(sm.output.summary, summary)
    write_predictions(frame, sm.output.predictions)
