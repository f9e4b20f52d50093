# Rules of the baselines stage: per-element mean, linear/XGBoost on atom features, CHGNet
# zero-shot and CHGNet fine-tuned. Each writes {results_dir}/predictions/{model_id}.csv like the GNNs.


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
    input:
        db=PATHS.dataset_db(),
        split=PATHS.split_file(),
    output:
        predictions=PATHS.predictions(CHGNET_FINETUNED),
        best=PATHS.checkpoint(CHGNET_FINETUNED),
        history=PATHS.model_file(CHGNET_FINETUNED, "history.csv"),
        summary=PATHS.model_file(CHGNET_FINETUNED, "summary.json"),
    log:
        PATHS.log("baselines", CHGNET_FINETUNED),
    conda:
        "../envs/baselines.yaml"
    threads: training_resource("threads", 8)
    resources:
        **chgnet_resources(),
    params:
        code=code_version("baseline_chgnet_finetune.py"),
        target=config["dataset"]["target"],
        finetune=config["baselines"]["chgnet_finetune"],
        training={
            k: config["training"][k] for k in magmom_config.FINETUNE_TRAINING_KEYS
        },
    script:
        "../workflow_scripts/baseline_chgnet_finetune.py"
