# Users' own structures (config `predict`): per-atom moments of every frame of every file matched
# by predict.structures, from one trained GNN. `snakemake results/study/predict/cgconv-r4/my_slab.csv`
# trains cgconv-r4 if needed and predicts only my_slab's file.


include: "helpers/predict.smk"


rule predict_structures:
    """Per-atom moments of one structure file (moments CSV, failures CSV, extxyz with
    initial_magmoms set); refused frames are listed in the failures CSV, the rest predicted.
    """
    input:
        checkpoint=PATHS.checkpoint("{model_id}"),
        structure=lambda wildcards: predict_structure_files()[wildcards.name],
    output:
        **PATHS.predicted_structures("{model_id}", "{name}"),
    log:
        PATHS.log("predict_structures", "{model_id}/{name}"),
    wildcard_constraints:
        model_id=GNN_MODEL_ID,
        name="|".join(re.escape(n) for n in predict_structure_files()) or "(?!)",
    conda:
        "../envs/ml.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=60,
    params:
        code=code_version("predict_structures.py"),
    script:
        "../workflow_scripts/predict_structures.py"


rule predict_all:
    """Every file of config predict.structures with the model of predict.model."""
    input:
        predict_targets(),
    localrule: True
