# Rules of the evaluation stage: label provenance, per-model metrics and figures, deployment cost.


include: "helpers/evaluation.smk"


rule label_provenance:
    input:
        db=PATHS.dataset_db(),
        split=PATHS.split_file(),
        records=shipped_dft_records(),
    output:
        PATHS.provenance(),
    log:
        PATHS.log("evaluation", "provenance"),
    conda:
        "../envs/report.yaml"
    params:
        code=code_version("label_provenance.py"),
        imported=bool(dataset_source()),
        labeller=config["labeller"],
        target=config["dataset"]["target"],
        dft_settings=own_dft_settings(),
    script:
        "../workflow_scripts/label_provenance.py"


rule evaluate:
    input:
        predictions=PATHS.predictions("{model_id}"),
        provenance=PATHS.provenance(),
    output:
        metrics=PATHS.metrics("{model_id}"),
        parity=report(
            PATHS.model_figure("{model_id}", "parity"),
            caption="../report/parity.rst",
            category="Models",
            subcategory="{model_id}",
            labels=model_figure_labels("parity"),
        ),
        parity_excl=report(
            PATHS.model_figure("{model_id}", "parity_excl"),
            caption="../report/parity_excl.rst",
            category="Models",
            subcategory="{model_id}",
            labels=model_figure_labels("parity_excl"),
        ),
        error_hist=report(
            PATHS.model_figure("{model_id}", "error_hist"),
            caption="../report/error_hist.rst",
            category="Models",
            subcategory="{model_id}",
            labels=model_figure_labels("error_hist"),
        ),
        error_hist_excl=report(
            PATHS.model_figure("{model_id}", "error_hist_excl"),
            caption="../report/error_hist_excl.rst",
            category="Models",
            subcategory="{model_id}",
            labels=model_figure_labels("error_hist_excl"),
        ),
    log:
        PATHS.log("evaluation", "{model_id}"),
    wildcard_constraints:
        model_id=EVALUATED_MODEL_ID,
    conda:
        "../envs/report.yaml"
    params:
        code=code_version("evaluate.py"),
        excluded_elements=config["evaluation"]["excluded_elements"],
    script:
        "../workflow_scripts/evaluate.py"


rule deployment_cost:
    input:
        checkpoints=gnn_checkpoints(),
    output:
        PATHS.deployment_benchmark(),
    log:
        PATHS.log("evaluation", "deployment_cost"),
    conda:
        "../envs/baselines.yaml"
    threads: 2
    params:
        code=code_version("deployment_cost.py"),
        elements=config["recipe"]["elements"],
        include_chgnet=bool(
            config["baselines"]["chgnet_zeroshot"]
            or config["baselines"]["chgnet_finetune"]["enabled"]
        ),
    script:
        "../workflow_scripts/deployment_cost.py"
