# Helpers of the report stage (rules/report.smk): input, params and resource functions and their
# constants.
def report_figure_labels(figure):
    """Report labels of a report output: models, test atoms/slabs, labeller (from provenance)."""

    def labels(wildcards, input):
        prov = _labels_source(input.provenance)
        return {
            "figure": figure,
            "models": len(input.metrics),
            "test atoms": prov["n_atoms"].get("test", 0),
            "test slabs": prov["n_slabs"].get("test", 0),
            "labels": label_origin(prov["labellers"], prov.get("dft_settings")),
        }

    return labels
