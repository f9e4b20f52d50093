# Rules of the baselines stage: per-element mean, linear/XGBoost on atom features, CHGNet
# zero-shot and CHGNet fine-tuned. Each writes {results_dir}/predictions/{model_id}.csv like the GNNs.
# Only the fine-tuned CHGNet depends on training.seed: it has seed replicates (chgnet-finetuned-s43,
# rules/report.smk); the others are deterministic (XGBoost at the default subsample of 1).


include: "helpers/baselines.smk"


rule baseline_element_mean:
    input:
        train=PATHS.graph_cache(GRAPH_CUTOFFS[0], "train"),
        test=PATHS.graph_cache(GRAPH_CUTOFFS[0], "test"),
    output:
        predictions=PATHS.predictions(ELEMENT_MEAN),
    log:
        PATHS.log("baselines", ELEMENT_MEAN),
    conda:
        "../envs/baselines.yaml"
    params:
        code=code_version("baseline_element_mean.py"),
    script:
        "../workflow_scripts/baseline_element_mean.py"


rule baseline_tabular:
    input:
        train=PATHS.graph_cache("{cutoff}", "train"),
        val=PATHS.graph_cache("{cutoff}", "val"),
        test=PATHS.graph_cache("{cutoff}", "test"),
    output:
        predictions=PATHS.predictions("{kind}-r{cutoff}"),
        model=PATHS.model_file("{kind}-r{cutoff}", "model.json"),
        fit=PATHS.model_file("{kind}-r{cutoff}", "fit.json"),
    log:
        PATHS.log("baselines", "{kind}-r{cutoff}"),
    wildcard_constraints:
        kind="|".join(TABULAR_KINDS),
        cutoff="|".join(re.escape(cutoff_token(c)) for c in TABULAR_CUTOFFS),
    conda:
        "../envs/baselines.yaml"
    threads: training_resource("threads", 8)
    params:
        code=code_version("baseline_tabular.py"),
        # the feature one-hot's first columns; other elements of the dataset follow
        elements=config["recipe"]["elements"],
        # XGBoost's settings only for XGBoost: editing them leaves the linear fits alone
        xgboost=lambda wildcards: (
            config["baselines"]["xgboost"] if wildcards.kind == "xgboost" else {}
        ),
        seed=config["training"]["seed"],
        model_dir=lambda wildcards, output: os.path.dirname(output.model),
    script:
        "../workflow_scripts/baseline_tabular.py"


rule baseline_chgnet_zeroshot:
    input:
        db=PATHS.dataset_db(),
        split=PATHS.split_file(),
    output:
        predictions=PATHS.predictions(CHGNET_ZEROSHOT),
        timing=PATHS.model_file(CHGNET_ZEROSHOT, "timing.json"),
    log:
        PATHS.log("baselines", CHGNET_ZEROSHOT),
    conda:
        "../envs/baselines.yaml"
    threads: training_resource("threads", 8)
    resources:
        **chgnet_resources(),
    params:
        code=code_version("baseline_chgnet_zeroshot.py"),
        target=config["dataset"]["target"],
        batch_size=config["baselines"]["chgnet_finetune"]["batch_size"],
    script:
        "../workflow_scripts/baseline_chgnet_zeroshot.py"


rule baseline_chgnet_finetune:
    """CHGNet fine-tuned on |m|; chgnet-finetuned-s43: the same with seed 43 (a seed replicate)."""
    input:
        db=PATHS.dataset_db(),
        split=PATHS.split_file(),
    output:
        predictions=PATHS.predictions("{model_id}"),
        best=PATHS.checkpoint("{model_id}"),
        history=PATHS.model_file("{model_id}", "history.csv"),
        summary=PATHS.model_file("{model_id}", "summary.json"),
    log:
        PATHS.log("baselines", "{model_id}"),
    wildcard_constraints:
        model_id=CHGNET_FINETUNED_ID,
    conda:
        "../envs/baselines.yaml"
    threads: training_resource("threads", 8)
    resources:
        **chgnet_resources(),
    params:
        code=code_version("baseline_chgnet_finetune.py"),
        target=config["dataset"]["target"],
        finetune=config["baselines"]["chgnet_finetune"],
        training=chgnet_finetune_training,
    script:
        "../workflow_scripts/baseline_chgnet_finetune.py"
