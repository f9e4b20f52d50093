# Rules of the dataset stage: the labelled dataset {results_dir}/dataset/{name}.db with its failures
# table and summary, either assembled from the per-slab DFT records or imported from an existing
# file (config dataset.source; then no recipe, EOS or DFT job is in the DAG). Both write to
# {results_dir}/dataset/staged/ first; publish_dataset moves a finished dataset into place, so a failed
# import or assembly leaves the previous dataset (and everything built on it) untouched.


include: "helpers/dataset.smk"


if dataset_source():

    rule import_dataset:
        """Import an existing dataset (study HDF5, ASE db or extxyz; config `dataset`)."""
        input:
            source=dataset_source(),
        output:
            **dataset_outputs(staged=True),
        log:
            PATHS.log("dataset", f"{NAME}-import"),
        conda:
            "../envs/dft.yaml"
        params:
            code=code_version("import_dataset.py"),
            name=NAME,
            on_bad_record=config["dataset"]["on_bad_record"],
            previous=PATHS.dataset_db(),
        script:
            "../workflow_scripts/import_dataset.py"

else:

    rule assemble_dataset:
        """Every slab's DFT record -> the dataset (ok slabs), failures table and summary."""
        input:
            records=dft_records(),
        output:
            **dataset_outputs(staged=True),
        log:
            PATHS.log("dataset", f"{NAME}-assemble"),
        conda:
            "../envs/dft.yaml"
        params:
            code=code_version("assemble_dataset.py"),
            name=NAME,
            previous=PATHS.dataset_db(),
        script:
            "../workflow_scripts/assemble_dataset.py"


rule publish_dataset:
    """Move a successfully built dataset into place (hard links: no second copy on disk)."""
    input:
        **dataset_outputs(staged=True),
        # what the dataset is made from, also here: a failed job deletes the staged files, and
        # Snakemake does not rerun a job for a missing intermediate file, but it does for a
        # changed or updated input, so the next run retries instead of keeping a stale dataset
        origin=dataset_source() or dft_records(),
    output:
        **dataset_outputs(),
    log:
        PATHS.log("dataset", f"{NAME}-publish"),
    conda:
        "../envs/dft.yaml"
    threads: 1
    params:
        code=code_version("publish_dataset.py"),
    script:
        "../workflow_scripts/publish_dataset.py"
