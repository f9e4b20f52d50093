"""Rule dft_slab: one slab of recipe/initial_slabs.db -> dft/{slab_id}.json."""

from magmom.rule_logging import log_to, script_log

snakemake = snakemake  # noqa: F821, PLW0127 - injected by Snakemake's script: directive

with log_to(script_log(snakemake)):
    import torch

    from magmom.dft.label import LabelSettings, label_slab_job
    from magmom.dft.settings import DftSettings

    torch.set_num_threads(snakemake.threads)
    label_slab_job(
        db_path=snakemake.input.slabs,
        slab_id=snakemake.wildcards.slab_id,
        settings=LabelSettings(
            labeller=snakemake.params.labeller,
            dft=DftSettings.from_config(snakemake.params.dft),
            fixed_layers=snakemake.params.fixed_layers,
        ),
        workdir=snakemake.params.workdir,
        output=snakemake.output.record,
        tasks=snakemake.params.tasks,
        launcher=snakemake.params.launcher,
    )
