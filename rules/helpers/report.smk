# Helpers of the report stage (rules/report.smk): input, params and resource functions and their
# constants.
from magmom.evaluation.seeds import read_choice


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


# ---- seed replicates (config report.seed_replicates; magmom/evaluation/seeds.py) ---------------
def seed_replicates_configured():
    return bool(config["report"]["seed_replicates"]["seeds"])


def seed_replicate_ids():
    """The replicate ids (cgconv-r4-s43, ...) the checkpoint choose_seed_replicates chose; until
    it has run, Snakemake plans it and asks again."""
    return read_choice(checkpoints.choose_seed_replicates.get().output[0])["replicates"]


def seed_replicate_metrics(wildcards):
    """Input function of seed_spread: the metrics of every chosen seed replicate."""
    return [PATHS.metrics(m) for m in seed_replicate_ids()]


def seed_spread_table():
    """Input of the report and part of the `all` target: the seed table (which brings in the
    replicates) when report.seed_replicates.seeds is not empty."""
    return [PATHS.seed_spread()] if seed_replicates_configured() else []


def seed_replicate_products(wildcards):
    """Input function of seed_spread: every chosen replicate's checkpoint and predictions (the
    script reads the metrics only), so a deleted one is rebuilt as the originals' are by `all`.
    (`all` cannot ask for them itself: an input function of `all` that waits for the checkpoint
    defers every input of `all`, and a dry run of a new run would show no job past it.)
    """
    ids = seed_replicate_ids()
    return [PATHS.checkpoint(m) for m in ids] + [PATHS.predictions(m) for m in ids]
