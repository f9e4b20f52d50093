"""Snakemake `warm_start_report`: the warm-start page (paired table, summary, figure)."""

from magmom.rule_logging import log_to, script_log

with log_to(script_log(snakemake)):  # noqa: F821
    sm = snakemake  # noqa: F821
    from magmom.evaluation.report.warm_start import write_page

    same = sm.params.settings.get("same_state", {})
    summary = write_page(
        list(sm.input.records),
        {"csv": sm.output.csv, "md": sm.output.md, "figure": sm.output.figure},
        {
            "model_id": sm.params.model_id,
            "uniform_magmom": sm.params.settings.get("uniform_magmom"),
            "max_abs_dm": same.get("max_abs_dm"),
            "max_abs_de": same.get("max_abs_de"),
        },
    )
    print(summary.to_string())
