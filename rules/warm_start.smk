# The DFT warm-start experiment (config `warm_start`): on held-out test slabs, the same GPAW single
# point from the EOS-table, model, uniform and DFT-converged moments; a paired table and figure.
# The slabs depend on the split, so `warm_start_starts` is a checkpoint: one GPAW job per slab.


checkpoint warm_start_starts:
    """Pick the held-out slabs and compute every start (the model's prediction included)."""
    input:
        dataset=dataset_db(),
        split=split_file(),
        lattice_table=f"{RESULTS}/eos/lattice_table.json",
        checkpoint=f"{RESULTS}/models/{{model_id}}/best.pt",
    output:
        warm_start_starts("{model_id}"),
    log:
        f"{LOGS}/warm_start/{{model_id}}/starts.log",
    wildcard_constraints:
        model_id=GNN_MODEL_ID,
    conda:
        "../envs/ml.yaml"
    params:
        settings=config.get("warm_start", {}),
        default_magmom=config["recipe"]["default_magmom"],
    script:
        "../workflow_scripts/warm_start_starts.py"


rule warm_start_slab:
    """GPAW single points of one slab from every start (resumes start by start)."""
    input:
        starts=warm_start_starts("{model_id}"),
    output:
        warm_start_slab("{model_id}", "{slab_id}"),
    log:
        f"{LOGS}/warm_start/{{model_id}}/{{slab_id}}.log",
    wildcard_constraints:
        model_id=GNN_MODEL_ID,
        slab_id=r"[a-z0-9][a-z0-9_\-]*",
    retries: dft_resource("retries", 2)
    conda:
        "../envs/dft.yaml"
    threads: dft_resource("threads", 1)
    resources:
        mem_mb=dft_resource("mem_mb", 8000),
        runtime=dft_resource("runtime", 720),
    params:
        dft={k: v for k, v in config["dft"].items() if k != "resources"},
        settings=config.get("warm_start", {}),
        workdir=f"{WARM_START_DIR}/work/{{model_id}}/{{slab_id}}",
    script:
        "../workflow_scripts/warm_start_slab.py"


rule warm_start_report:
    """The warm-start page: paired table (per slab and start) and figure."""
    input:
        records=warm_start_slab_records,
    output:
        csv=report(
            warm_start_outputs()["csv"],
            caption="../report/warm_start.rst",
            category="Warm start",
        ),
        md=warm_start_outputs()["md"],
        figure=report(
            warm_start_outputs()["figure"],
            caption="../report/warm_start.rst",
            category="Warm start",
        ),
    log:
        f"{LOGS}/warm_start/report.log",
    conda:
        "../envs/report.yaml"
    params:
        model_id=lambda wildcards: _configured_gnn("warm_start"),
        settings=config.get("warm_start", {}),
    script:
        "../workflow_scripts/warm_start_report.py"
