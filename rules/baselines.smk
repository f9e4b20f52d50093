# Rules of the baselines stage: per-element mean, linear/XGBoost on atom features, CHGNet
# zero-shot and CHGNet fine-tuned. Each writes results/predictions/{model_id}.csv like the GNNs.


rule baseline_element_mean:
    input:
        train=graph_cache(GRAPH_CUTOFFS[0], "train"),
        test=graph_cache(GRAPH_CUTOFFS[0], "test"),
    output:
        predictions=predictions_file("element-mean"),
    log:
        f"{LOGS}/baselines/element-mean.log",
    conda:
        "../envs/baselines.yaml"
    params:
        elements=config["recipe"]["elements"],
    script:
        "../workflow_scripts/baseline_element_mean.py"


rule baseline_tabular:
    input:
        train=graph_cache("{cutoff}", "train"),
        val=graph_cache("{cutoff}", "val"),
        test=graph_cache("{cutoff}", "test"),
    output:
        predictions=predictions_file("{kind}-r{cutoff}"),
        model=f"{RESULTS}/models/{{kind}}-r{{cutoff}}/model.json",
        fit=f"{RESULTS}/models/{{kind}}-r{{cutoff}}/fit.json",
    log:
        f"{LOGS}/baselines/{{kind}}-r{{cutoff}}.log",
    wildcard_constraints:
        kind="linear|xgboost",
        cutoff="|".join(re.escape(cutoff_token(c)) for c in TABULAR_CUTOFFS),
    conda:
        "../envs/baselines.yaml"
    threads: training_resource("threads", 8)
    params:
        elements=config["recipe"]["elements"],
        xgboost=config["baselines"]["xgboost"],
        seed=config["training"]["seed"],
        model_dir=lambda wildcards, output: os.path.dirname(output.model),
    script:
        "../workflow_scripts/baseline_tabular.py"


rule baseline_chgnet_zeroshot:
    input:
        db=dataset_db(),
        split=split_file(),
    output:
        predictions=predictions_file("chgnet-zeroshot"),
        timing=f"{RESULTS}/models/chgnet-zeroshot/timing.json",
    log:
        f"{LOGS}/baselines/chgnet-zeroshot.log",
    conda:
        "../envs/baselines.yaml"
    threads: training_resource("threads", 8)
    resources:
        **chgnet_resources(),
    params:
        target=config["dataset"]["target"],
        batch_size=config["baselines"]["chgnet_finetune"]["batch_size"],
    script:
        "../workflow_scripts/baseline_chgnet_zeroshot.py"


rule baseline_chgnet_finetune:
    input:
        db=dataset_db(),
        split=split_file(),
    output:
        predictions=predictions_file("chgnet-finetuned"),
        best=f"{RESULTS}/models/chgnet-finetuned/best.pt",
        history=f"{RESULTS}/models/chgnet-finetuned/history.csv",
        summary=f"{RESULTS}/models/chgnet-finetuned/summary.json",
    log:
        f"{LOGS}/baselines/chgnet-finetuned.log",
    conda:
        "../envs/baselines.yaml"
    threads: training_resource("threads", 8)
    resources:
        **chgnet_resources(),
    params:
        target=config["dataset"]["target"],
        finetune=config["baselines"]["chgnet_finetune"],
        training={
            k: config["training"][k] for k in magmom_config.FINETUNE_TRAINING_KEYS
        },
    script:
        "../workflow_scripts/baseline_chgnet_finetune.py"
