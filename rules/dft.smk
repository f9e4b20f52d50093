# Rules of the dft stage: the equation of state of every element on every lattice, the lattice
# table the slabs are built from, and the labelling of each slab (GPAW staged relaxation under the
# SCF ladder, or the CHGNet surrogate). A slab that cannot be labelled gets a record with status
# failed; out-of-memory kills are retried with mem_mb x attempt, time-outs with the Slurm time
# limit (magmom/slurm_limits.py; without one, runtime x attempt), and the per-slab checkpoints
# under {results_dir}/dft/work/{slab_id}/ let a retry resume. A GPAW slab runs
# on dft.resources.tasks MPI processes (srun under Slurm, mpiexec locally), its runtime and memory
# from the slab's size (magmom/dft/cost_model.py) unless dft.resources sets numbers. A GPAW EOS
# (eos.calculator: gpaw) runs on the same number of processes; a CHGNet EOS is serial.
from magmom.recipe.slab_settings import slab_family


include: "helpers/dft.smk"


rule eos:
    """Birch-Murnaghan equation of state of one element on one lattice (config `eos`)."""
    output:
        eos=PATHS.eos("{element}", "{lattice}"),
    log:
        PATHS.log("eos", "{element}-{lattice}"),
    wildcard_constraints:
        element="[A-Z][a-z]?",
        lattice="|".join(LATTICES),
    retries: dft_resource("retries", 2)
    # under profiles/slurm: as many per Slurm job as fit the time limit (rules/common.smk)
    group:
        slurm_group("eos", eos_estimates, eos_key)
    conda:
        "../envs/dft.yaml"
    threads: dft_threads(DFT_JOBS.eos_is_mpi())
    resources:
        **dft_mpi_resources(DFT_JOBS.eos_is_mpi()),
        mem_mb=dft_resource("mem_mb", 8000),
        runtime=eos_runtime,
    params:
        eos=config["eos"],
        dft=eos_dft_params(),
        recipe={k: config["recipe"][k] for k in ("default_magmom", "hcp_c_over_a")},
        workdir=PATHS.eos_workdir("{element}", "{lattice}"),
        # a CHGNet/reference EOS does not rerun when dft.resources change
        tasks=dft_tasks() if DFT_JOBS.eos_is_mpi() else 1,
        launcher=dft_resource("launcher", "auto") if DFT_JOBS.eos_is_mpi() else "auto",
    script:
        "../workflow_scripts/eos.py"


rule lattice_table:
    """Lattice constants and initial moments of every element x lattice, with logged fallbacks."""
    input:
        eos=eos_files(),
    output:
        table=PATHS.lattice_table(),
    log:
        PATHS.log("eos", "lattice_table"),
    conda:
        "../envs/dft.yaml"
    params:
        code=code_version("lattice_table.py"),
        default_magmom=config["recipe"]["default_magmom"],
        hcp_c_over_a=config["recipe"]["hcp_c_over_a"],
    script:
        "../workflow_scripts/lattice_table.py"


rule dft_slab:
    """Label one slab (config `labeller`, `dft`) -> its record (status ok or failed)."""
    input:
        # ancient: rebuilding the recipe db (any recipe edit does) must not relabel every
        # finished slab; the settings that shape this slab come in through `settings`
        slabs=ancient(PATHS.initial_slabs()),
        # the settings file of the slab's lattice x family (rule slab_settings)
        settings=lambda wildcards: PATHS.slab_settings(*slab_family(wildcards.slab_id)),
    output:
        record=PATHS.dft_record("{slab_id}"),
    log:
        PATHS.log("dft", "{slab_id}"),
    wildcard_constraints:
        slab_id=r"[a-z0-9][a-z0-9_\-]*",
    retries: dft_resource("retries", 2)
    group:
        slurm_group("dft", dft_slab_estimates, dft_slab_key)
    conda:
        "../envs/dft.yaml"
    threads: dft_threads(DFT_JOBS.dft_is_mpi())
    resources:
        **dft_mpi_resources(DFT_JOBS.dft_is_mpi()),
        mem_mb=dft_slab_size("mem_mb"),
        runtime=dft_slab_size("runtime"),
    params:
        labeller=dft_slab_labeller(),
        dft={k: v for k, v in config["dft"].items() if k != "resources"},
        fixed_layers=config["recipe"]["fixed_layers"],
        workdir=PATHS.dft_workdir("{slab_id}"),
        tasks=dft_tasks(),
        launcher=dft_resource("launcher", "auto"),
    script:
        "../workflow_scripts/dft_slab.py"
