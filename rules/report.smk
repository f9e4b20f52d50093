# Rules of the report stage: the ranking of every GNN and baseline, the cutoff sweep, the
# per-element heatmap and the deployment-cost table. `snakemake --report report.html` renders them.


include: "helpers/report.smk"


report: "../report/workflow.rst"


rule report:
    input:
        metrics=[PATHS.metrics(m) for m in all_model_ids()],
        cost=PATHS.deployment_benchmark(),
        provenance=PATHS.provenance(),
        graph_caches=gnn_graph_caches(),
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
