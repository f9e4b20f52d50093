# Rules of the evaluation stage: label provenance, per-model metrics and figures, deployment cost.


rule label_provenance:
    input:
        db=dataset_db(),
        split=split_file(),
    output:
        provenance_file(),
    log:
        f"{LOGS}/evaluation/provenance.log",
    conda:
        "../envs/report.yaml"
    params:
        imported=bool(dataset_source()),
        labeller=config["labeller"],
        target=config["dataset"]["target"],
    script:
        "../workflow_scripts/label_provenance.py"


rule evaluate:
    input:
        predictions=predictions_file("{model_id}"),
        provenance=provenance_file(),
    output:
        metrics=metrics_file("{model_id}"),
        parity=report(
            model_figure("{model_id}", "parity"),
            caption="../report/parity.rst",
            category="Models",
            subcategory="{model_id}",
            labels=model_figure_labels("parity"),
        ),
        parity_excl=report(
            model_figure("{model_id}", "parity_excl"),
            caption="../report/parity_excl.rst",
            category="Models",
            subcategory="{model_id}",
            labels=model_figure_labels("parity_excl"),
        ),
        error_hist=report(
            model_figure("{model_id}", "error_hist"),
            caption="../report/error_hist.rst",
            category="Models",
            subcategory="{model_id}",
            labels=model_figure_labels("error_hist"),
        ),
        error_hist_excl=report(
            model_figure("{model_id}", "error_hist_excl"),
            caption="../report/error_hist_excl.rst",
            category="Models",
            subcategory="{model_id}",
            labels=model_figure_labels("error_hist_excl"),
        ),
    log:
        f"{LOGS}/evaluation/{{model_id}}.log",
    wildcard_constraints:
        model_id="|".join(re.escape(m) for m in all_model_ids()),
    conda:
        "../envs/report.yaml"
    params:
        excluded_elements=config["evaluation"]["excluded_elements"],
    script:
        "../workflow_scripts/evaluate.py"


rule deployment_cost:
    input:
        checkpoints=gnn_checkpoints(),
    output:
        f"{RESULTS}/benchmark/deployment_cost.csv",
    log:
        f"{LOGS}/evaluation/deployment_cost.log",
    conda:
        "../envs/baselines.yaml"
    threads: 2
    params:
        elements=config["recipe"]["elements"],
        max_neighbors=config["graphs"]["max_neighbors"],
        include_chgnet=bool(
            config["baselines"]["chgnet_zeroshot"]
            or config["baselines"]["chgnet_finetune"]["enabled"]
        ),
    script:
        "../workflow_scripts/deployment_cost.py"
