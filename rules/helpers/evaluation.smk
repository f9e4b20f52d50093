# Helpers of the evaluation stage (rules/evaluation.smk); the report reads its labels the same way:
# input, params and resource functions and their constants.
import json

from magmom.evaluation.provenance import label_origin


def _labels_source(path):
    with open(path) as fh:
        return json.load(fh)


MODEL_FIGURE_KINDS = {"parity": "parity plot", "error_hist": "signed-error histogram"}


def model_figure_labels(figure):
    """Report labels of a per-model figure, read from its metrics file at report time.

    A model's page holds two figure kinds x two atom subsets. Snakemake's report may turn a label
    with exactly two values into a switch and then looks up every (row, switch value) pair; a
    label that varies with anything else (the former ``atoms`` count, which differs between the
    subsets) leaves pairs that do not exist and blanks the page. So each label is constant on
    the page or one axis of that full grid: ``figure`` (the kind) and ``test atoms`` (the subset,
    with its counts).
    """
    excluded = figure.endswith("_excl")
    kind = MODEL_FIGURE_KINDS[figure.removesuffix("_excl")]
    elements = config["evaluation"]["excluded_elements"]
    dropped = f"without {'/'.join(elements)}" if elements else "without nothing"
    name = dropped if excluded else "all"

    def labels(wildcards, output):
        m = _labels_source(output.metrics)
        subset = m["excluded"] if excluded else m["all"]
        return {
            "model": wildcards.model_id,
            "figure": kind,
            "test atoms": f"{name}: {subset['n_atoms']:,} atoms in {subset['n_slabs']:,} slabs",
            "labels": label_origin(m["labellers"]),
        }

    return labels
