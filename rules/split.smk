# Rules of the split stage: one leakage-free train/val/test assignment per dataset.


rule split:
    """80/10/10 split stratified by composition type, grouped by composition (config `split`)."""
    input:
        dataset=PATHS.dataset_db(),
    output:
        split=PATHS.split_file(),
    log:
        PATHS.log("split", f"{NAME}-split"),
    conda:
        "../envs/ml.yaml"
    params:
        code=code_version("split_dataset.py"),
        split=config["split"],
    script:
        "../workflow_scripts/split_dataset.py"
