# Rules of the training stage: one `train` job per GNN model id ({architecture}-r{cutoff}[-res],
# and -s{seed} for a seed replicate: the same model trained with that seed, rules/report.smk),
# then its per-atom test predictions. `snakemake results/tiny/models/cgconv-r4/best.pt
# --configfile presets/tiny.yaml` trains one model of the tiny preset.
#
# Resume state: only best.pt and history.csv are declared outputs. Snakemake deletes the outputs
# of a failed or killed job (and of a job it reruns), so the resumable state, last.pt, is written
# beside them but deliberately NOT declared: it survives a Slurm timeout, a node failure or a
# Ctrl-C, and the retried job (attempt 2 gets more runtime) continues from it. last.pt also embeds
# the best epoch's checkpoint, so best.pt and history.csv are restored from it before training
# goes on. last.pt is only used when its recorded settings and input caches match the job's
# (otherwise training starts over), so a changed config can never resume a stale run. No shadow
# directory: it would hide last.pt from the next attempt.


include: "helpers/training.smk"


rule train:
    """Train one GNN on the train split with early stopping on the val split."""
    input:
        train=model_graph_cache("train"),
        val=model_graph_cache("val"),
    output:
        best=PATHS.checkpoint("{model_id}"),
        history=PATHS.model_file("{model_id}", "history.csv"),
    log:
        PATHS.log("train", "{model_id}"),
    wildcard_constraints:
        model_id=GNN_MODEL_ID,
    conda:
        "../envs/ml.yaml"
    threads: training_resource("threads", 8)
    resources:
        # `gpu` becomes `--gpus` under the Slurm executor; local runs ignore it unless
        # `--resources gpu=N` is given, so a CPU-only machine still trains (on the CPU).
        gpu=training_resource("gpu", 1),
        mem_mb=training_mem_mb,
        runtime=training_runtime,
    params:
        code=code_version("train_model.py"),
        spec=lambda wildcards: parse_model_id(wildcards.model_id),
        models=model_settings,
        training=training_settings,
        target=config["dataset"]["target"],
        fresh=config["training"]["fresh"],
    script:
        "../workflow_scripts/train_model.py"


rule predict:
    """Per-atom test predictions of a trained GNN (predictions contract)."""
    input:
        checkpoint=PATHS.checkpoint("{model_id}"),
        test=model_graph_cache("test"),
    output:
        PATHS.predictions("{model_id}"),
    log:
        PATHS.log("predict", "{model_id}"),
    wildcard_constraints:
        model_id=GNN_MODEL_ID,
    conda:
        "../envs/ml.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=60,
    params:
        code=code_version("predict_model.py"),
        target=config["dataset"]["target"],
    script:
        "../workflow_scripts/predict_model.py"


rule train_all:
    """Every GNN of the config (models.architectures x models.cutoffs, plus models.residual)."""
    input:
        gnn_checkpoints(),
    localrule: True


rule unknown_model:
    """Catch-all for a checkpoint no rule can build: stops the DAG with the buildable ids."""
    input:
        unknown_model_id,
    output:
        PATHS.checkpoint("{model_id}"),
    log:
        PATHS.log("train", "{model_id}.unknown"),
    wildcard_constraints:
        # every id no other rule writes a best.pt for (the lookahead sees the rest of the path)
        model_id=rf"(?!(?:{GNN_MODEL_ID}|{CHGNET_FINETUNED_ID})/best\.pt$)[^/]+",
    localrule: True
    conda:
        "../envs/ml.yaml"
    shell:
        "false"
