"""CHGNet zero-shot: pretrained CHGNet |m| per atom on the test slabs of the dataset."""

from magmom.baselines import chgnet_zeroshot
from magmom.baselines.chgnet_slabs import check_target, split_slabs
from magmom.io import write_json
from magmom.predictions import write_predictions
from magmom.rule_logging import log_to, script_log
from magmom.training.device import configure_threads, select_device

with log_to(script_log(snakemake)):  # noqa: F821
    sm = snakemake  # noqa: F821
    configure_threads(sm.threads)
    device = select_device(None)
    check_target(sm.params.target, "baselines.chgnet_zeroshot")
    slabs = split_slabs(sm.input.db, sm.input.split, ["test"])
    frame, timing = chgnet_zeroshot.run(slabs, device=device, batch_size=sm.params.batch_size)
    write_predictions(frame, sm.output.predictions)
    write_json(sm.output.timing, {**timing, "threads": sm.threads})
