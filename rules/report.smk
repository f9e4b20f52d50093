# Rules of the report stage: the ranking of every GNN and baseline, the cutoff sweep, the
# per-element heatmap and the deployment-cost table. `snakemake --report report.html` renders them.


report: "../report/workflow.rst"


rule report:
    input:
        metrics=[metrics_file(m) for m in all_model_ids()],
        cost=f"{RESULTS}/benchmark/deployment_cost.csv",
        provenance=provenance_file(),
        graph_caches=gnn_graph_caches(),
    output:
        ranking_csv=report(
            report_outputs()["ranking_csv"],
            caption="../report/ranking.rst",
            category="Ranking",
            labels=report_figure_labels("ranking table"),
        ),
        ranking_md=report_outputs()["ranking_md"],
        cutoff_sweep=report(
            report_outputs()["cutoff_sweep"],
            caption="../report/cutoff_sweep.rst",
            category="Ranking",
            labels=report_figure_labels("cutoff sweep"),
        ),
        per_element_csv=report(
            report_outputs()["per_element_csv"],
            caption="../report/per_element.rst",
            category="Per-element error",
            labels=report_figure_labels("per-element table"),
        ),
        heatmap=report(
            report_outputs()["heatmap"],
            caption="../report/per_element_heatmap.rst",
            category="Per-element error",
            labels=report_figure_labels("per-element heatmap"),
        ),
        cost_csv=report(
            report_outputs()["cost_csv"],
            caption="../report/deployment_cost.rst",
            category="Deployment cost",
            labels=report_figure_labels("deployment cost"),
        ),
        cost_md=report_outputs()["cost_md"],
    log:
        f"{LOGS}/report/report.log",
    conda:
        "../envs/report.yaml"
    params:
        model_ids=all_model_ids(),
        gnn_ids=gnn_model_ids(),
        excluded_elements=config["evaluation"]["excluded_elements"],
        top_n=config["report"]["heatmap_top_models"],
        max_neighbors=config["graphs"]["max_neighbors"],
    script:
        "../workflow_scripts/report.py"
