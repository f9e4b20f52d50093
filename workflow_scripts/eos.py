"""Rule eos: eos/{element}-{lattice}.json (Birch-Murnaghan fit, moment at a0; GPAW on MPI ranks)."""

from magmom.rule_logging import log_to, script_log

snakemake = snakemake  # noqa: F821, PLW0127 - injected by Snakemake's script: directive

with log_to(script_log(snakemake)):
    import torch

    from magmom.dft.eos import run_eos_job
    from magmom.dft.settings import EosSettings

    torch.set_num_threads(snakemake.threads)
    params = snakemake.params
    run_eos_job(
        element=snakemake.wildcards.element,
        lattice=snakemake.wildcards.lattice,
        settings=EosSettings.from_params(params.eos, params.dft, params.recipe),
        workdir=params.workdir,
        output=snakemake.output.eos,
        tasks=params.tasks,
        launcher=params.launcher,
    )
