# The DFT warm-start experiment (config `warm_start`): on held-out test slabs, the same GPAW single
# point from the EOS-table, floor, Materials Project, uniform, model and DFT-converged moments
# (magmom.warm_start.STARTS); a paired table and figure.
# The slabs depend on the split, so `warm_start_starts` is a checkpoint: one GPAW job per slab.


include: "helpers/warm_start.smk"


checkpoint warm_start_starts:
    """Pick the held-out slabs and compute every start (the model's prediction included)."""
    input:
        dataset=PATHS.dataset_db(),
        split=PATHS.split_file(),
        lattice_table=PATHS.lattice_table(),
        checkpoint=PATHS.checkpoint("{model_id}"),
    output:
        PATHS.warm_start_starts("{model_id}"),
    log:
        PATHS.log("warm_start", "{model_id}/starts"),
    wildcard_constraints:
        model_id=GNN_MODEL_ID,
    conda:
        "../envs/ml.yaml"
    params:
        code=code_version("warm_start_starts.py"),
        settings=config.get("warm_start", {}),
        default_magmom=config["recipe"]["default_magmom"],
    script:
        "../workflow_scripts/warm_start_starts.py"


rule warm_start_slab:
    """GPAW single points of one slab from every start (resumes start by start), on
    dft.resources.tasks MPI processes like dft_slab, sized by the cost model."""
    input:
        starts=PATHS.warm_start_starts("{model_id}"),
    output:
        PATHS.warm_start_slab("{model_id}", "{slab_id}"),
    log:
        PATHS.log("warm_start", "{model_id}/{slab_id}"),
    wildcard_constraints:
        model_id=GNN_MODEL_ID,
        slab_id=r"[a-z0-9][a-z0-9_\-]*",
    retries: dft_resource("retries", 2)
    conda:
        "../envs/dft.yaml"
    threads: dft_threads(dft_tasks() > 1)
    resources:
        **dft_mpi_resources(dft_tasks() > 1),
        mem_mb=warm_start_size("mem_mb"),
        runtime=warm_start_size("runtime"),
    params:
        dft={k: v for k, v in config["dft"].items() if k != "resources"},
        settings=config.get("warm_start", {}),
        workdir=PATHS.warm_start_workdir("{model_id}", "{slab_id}"),
        tasks=dft_tasks(),
        launcher=dft_resource("launcher", "auto"),
    script:
        "../workflow_scripts/warm_start_slab.py"


rule warm_start_report:
    """The warm-start page: paired table (per slab and start) and figure."""
    input:
        records=warm_start_slab_records,
    output:
        csv=report(
            PATHS.warm_start_outputs()["csv"],
            caption="../report/warm_start.rst",
            category="Warm start",
        ),
        md=PATHS.warm_start_outputs()["md"],
        figure=report(
            PATHS.warm_start_outputs()["figure"],
            caption="../report/warm_start.rst",
            category="Warm start",
        ),
    log:
        PATHS.log("warm_start", "report"),
    conda:
        "../envs/report.yaml"
    params:
        code=code_version("warm_start_report.py"),
        model_id=lambda wildcards: _configured_gnn("warm_start"),
        settings=config.get("warm_start", {}),
    script:
        "../workflow_scripts/warm_start_report.py"
