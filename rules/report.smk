# Rules of the report stage: the ranking of every GNN and baseline, the cutoff sweep, the
# per-element heatmap and the deployment-cost table. `snakemake --report report.html` renders them.
# Seed replicates (config report.seed_replicates, when `seeds` is not empty): the checkpoint
# choose_seed_replicates picks the `top` best seed-dependent models (GNNs, fine-tuned CHGNet) by
# test MAE once every one is evaluated; the seed table asks for their replicates' metrics
# ({model_id}-s{seed}: trained, predicted and evaluated by the usual rules) and the report for it.


include: "helpers/report.smk"


report: "../report/workflow.rst"


checkpoint choose_seed_replicates:
    input:
        metrics=[PATHS.metrics(m) for m in seed_dependent_model_ids()],
        provenance=PATHS.provenance(),
    output:
        PATHS.seed_replicates(),
    log:
        PATHS.log("report", "choose_seed_replicates"),
    conda:
        "../envs/report.yaml"
    params:
        code=code_version("choose_seed_replicates.py"),
        model_ids=seed_dependent_model_ids(),
        gnn_ids=gnn_model_ids(),
        top=config["report"]["seed_replicates"]["top"],
        seeds=config["report"]["seed_replicates"]["seeds"],
        original_seed=config["training"]["seed"],
    script:
        "../workflow_scripts/choose_seed_replicates.py"


rule seed_spread:
    input:
        choice=PATHS.seed_replicates(),
        metrics=[PATHS.metrics(m) for m in all_model_ids()],
        replicates=seed_replicate_metrics,
        products=seed_replicate_products,
        provenance=PATHS.provenance(),
    output:
        report(
            PATHS.seed_spread(),
            caption="../report/seed_spread.rst",
            category="Ranking",
            labels=report_figure_labels("seed replicates"),
        ),
    log:
        PATHS.log("report", "seed_spread"),
    conda:
        "../envs/report.yaml"
    params:
        code=code_version("seed_spread.py"),
        model_ids=all_model_ids(),
        gnn_ids=gnn_model_ids(),
    script:
        "../workflow_scripts/seed_spread.py"


rule report:
    input:
        metrics=[PATHS.metrics(m) for m in all_model_ids()],
        cost=PATHS.deployment_benchmark(),
        provenance=PATHS.provenance(),
        graph_caches=gnn_graph_caches(),
        seed_spread=seed_spread_table(),
    output:
        ranking_csv=report(
            PATHS.report_outputs()["ranking_csv"],
            caption="../report/ranking.rst",
            category="Ranking",
            labels=report_figure_labels("ranking table"),
        ),
        ranking_md=PATHS.report_outputs()["ranking_md"],
        ranking_plot=report(
            PATHS.report_outputs()["ranking_plot"],
            caption="../report/ranking_plot.rst",
            category="Ranking",
            labels=report_figure_labels("ranking plot"),
        ),
        cutoff_sweep=report(
            PATHS.report_outputs()["cutoff_sweep"],
            caption="../report/cutoff_sweep.rst",
            category="Ranking",
            labels=report_figure_labels("cutoff sweep"),
        ),
        per_element_csv=report(
            PATHS.report_outputs()["per_element_csv"],
            caption="../report/per_element.rst",
            category="Per-element error",
            labels=report_figure_labels("per-element table"),
        ),
        heatmap=report(
            PATHS.report_outputs()["heatmap"],
            caption="../report/per_element_heatmap.rst",
            category="Per-element error",
            labels=report_figure_labels("per-element heatmap"),
        ),
        cost_csv=report(
            PATHS.report_outputs()["cost_csv"],
            caption="../report/deployment_cost.rst",
            category="Deployment cost",
            labels=report_figure_labels("deployment cost"),
        ),
        cost_md=PATHS.report_outputs()["cost_md"],
        study_csv=report(
            PATHS.report_outputs()["study_csv"],
            caption="../report/study_comparison.rst",
            category="Ranking",
            labels=report_figure_labels("study side by side"),
        ),
        study_claims_csv=report(
            PATHS.report_outputs()["study_claims_csv"],
            caption="../report/study_claims.rst",
            category="Ranking",
            labels=report_figure_labels("study claims"),
        ),
        study_md=PATHS.report_outputs()["study_md"],
    log:
        PATHS.log("report", "report"),
    conda:
        "../envs/report.yaml"
    params:
        code=code_version("report.py"),
        model_ids=all_model_ids(),
        gnn_ids=gnn_model_ids(),
        excluded_elements=config["evaluation"]["excluded_elements"],
        top_n=config["report"]["heatmap_top_models"],
    script:
        "../workflow_scripts/report.py"
