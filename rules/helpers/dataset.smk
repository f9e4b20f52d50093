# Helpers of the dataset stage (rules/dataset.smk): input, params and resource functions and their
# constants.
def dft_records():
    """Input function: the per-slab records the dataset is assembled from ([] when imported).

    A function, not a list: the ~23k paths are built only when assemble_dataset is planned, not
    on every parse of the Snakefile (each Slurm job parses it twice).
    """

    def records(wildcards):
        return [PATHS.dft_record(s) for s in slab_ids()]

    return records


def dataset_source():
    """The imported dataset file (dataset.source), or None when the workflow labels slabs."""
    return config["dataset"]["source"] or None


def dataset_outputs(staged=False):
    """The dataset files: db, failures table, summary. ``staged``: where import/assembly write
    them first; publish_dataset moves them into place only after a successful job, so a failed
    import or assembly never costs the previous dataset (Snakemake deletes a job's outputs).
    """
    return PATHS.dataset_files(staged=staged)
