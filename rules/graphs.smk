# Rules of the graphs stage: LMDB graph caches, one job per cutoff writing the three splits.
# One job per cutoff reads and hashes the dataset once and runs one worker pool for all splits;
# the three files depend on the same single split file, so they are always rebuilt together anyway.

from magmom.graphs.cache import SCHEMA_VERSION as GRAPH_CACHE_SCHEMA_VERSION


rule graph_cache:
    """Graphs of every labelled slab at one cutoff (config `graphs`: neighbour rule and cap;
    `dataset.target`)."""
    input:
        dataset=PATHS.dataset_db(),
        split=PATHS.split_file(),
    output:
        train=PATHS.graph_cache("{cutoff}", "train"),
        val=PATHS.graph_cache("{cutoff}", "val"),
        test=PATHS.graph_cache("{cutoff}", "test"),
    log:
        PATHS.log("graphs", f"graphs-r{{cutoff}}-{NAME}"),
    wildcard_constraints:
        cutoff=r"\d+(\.\d+)?",
    conda:
        "../envs/ml.yaml"
    threads: 4
    resources:
        mem_mb=4000,
        runtime=60,
    params:
        code=code_version("build_graph_cache.py"),
        cutoff=lambda wildcards: float(wildcards.cutoff),
        # the rule that chooses the edges (a change rebuilds the caches and retrains the models)
        neighbor_rule=config["graphs"]["neighbor_rule"],
        max_neighbors=config["graphs"]["max_neighbors"],
        target=config["dataset"]["target"],
        dataset_name=NAME,
        # caches written by an older format are rebuilt (Snakemake's params rerun trigger)
        schema_version=GRAPH_CACHE_SCHEMA_VERSION,
    script:
        "../workflow_scripts/build_graph_cache.py"
