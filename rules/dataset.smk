# Rules of the dataset stage: the labelled dataset {results_dir}/dataset/{name}.db with its failures
# table and summary, either assembled from the per-slab DFT records or imported from an existing
# file (config dataset.source; then no recipe, EOS or DFT job is in the DAG).


if dataset_source():

    rule import_dataset:
        """Import an existing dataset (study HDF5, ASE db or extxyz; config `dataset`)."""
        input:
            source=dataset_source(),
        output:
            **dataset_outputs(),
        log:
            PATHS.log("dataset", f"{NAME}-import"),
        conda:
            "../envs/dft.yaml"
        params:
            name=NAME,
            on_bad_record=config["dataset"]["on_bad_record"],
        script:
            "../workflow_scripts/import_dataset.py"

else:

    rule assemble_dataset:
        """Every slab's DFT record -> the dataset (ok slabs), failures table and summary."""
        input:
            records=dft_records(),
        output:
            **dataset_outputs(),
        log:
            PATHS.log("dataset", f"{NAME}-assemble"),
        conda:
            "../envs/dft.yaml"
        params:
            name=NAME,
        script:
            "../workflow_scripts/assemble_dataset.py"
