"""Snakemake `warm_start_slab`: GPAW single points of one slab from every start."""

from magmom.rule_logging import log_to, script_log

with log_to(script_log(snakemake)):  # noqa: F821
    sm = snakemake  # noqa: F821
    from magmom.dft.settings import DftSettings
    from magmom.warm_start.scf import run_slab_job

    run_slab_job(
        starts_path=sm.input.starts,
        slab_id=sm.wildcards.slab_id,
        dft=DftSettings.from_config(sm.params.dft),
        settings=sm.params.settings,
        workdir=sm.params.workdir,
        output=sm.output[0],
        tasks=sm.params.tasks,
        launcher=sm.params.launcher,
    )
