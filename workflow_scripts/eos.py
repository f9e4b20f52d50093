"""Rule eos: eos/{element}-{lattice}.json (Birch-Murnaghan fit, moment at a0)."""

from magmom.rule_logging import log_to, script_log

snakemake = snakemake  # noqa: F821, PLW0127 - injected by Snakemake's script: directive

with log_to(script_log(snakemake)):
    import torch

    from magmom.dft.eos import run_eos
    from magmom.io import write_json

    torch.set_num_threads(snakemake.threads)
    result = run_eos(
        element=snakemake.wildcards.element,
        lattice=snakemake.wildcards.lattice,
        eos=snakemake.params.eos,
        dft=snakemake.params.dft,
        recipe=snakemake.params.recipe,
        workdir=snakemake.params.workdir,
    )
    write_json(snakemake.output.eos, result)
