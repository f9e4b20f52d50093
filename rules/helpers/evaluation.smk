# Helpers of the evaluation stage (rules/evaluation.smk); the report reads its labels the same way:
# input, params and resource functions and their constants.
import json
from pathlib import Path

from magmom.data.shipped import RECORDS
from magmom.evaluation.provenance import config_dft_settings, label_origin
from magmom.layout import optional_seed

# The ids evaluate scores: this config's models, and the seed replicates of the
# seed-dependent ones (cgconv-r4-s43, chgnet-finetuned-s43).
EVALUATED_MODEL_ID = "|".join(
    optional_seed(re.escape(m)) if m in seed_dependent_model_ids() else re.escape(m)
    for m in all_model_ids()
)


def _labels_source(path):
    with open(path) as fh:
        return json.load(fh)


def shipped_dft_records():
    """Input of label_provenance: the per-slab DFT records shipped beside an imported dataset file
    (``data/{name}/records/*.json`` next to ``data/{name}/{name}.extxyz``, magmom.data.shipped),
    whose GPAW settings say whether the labels are at the study's settings; [] otherwise.
    """
    source = dataset_source()
    if not source:
        return []
    return sorted(str(p) for p in (Path(source).parent / RECORDS).glob("*.json"))


def own_dft_settings():
    """Param of label_provenance: the ``dft`` settings this run labels its slabs with (None when the
    dataset is imported: its records, if shipped, say how it was labelled)."""
    if dataset_source() or config["labeller"] != "gpaw":
        return None
    return config_dft_settings(config["dft"])


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
            "labels": label_origin(m["labellers"], m.get("dft_settings")),
        }

    return labels
