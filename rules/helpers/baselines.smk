# Helpers of the baselines stage (rules/baselines.smk): input, params and resource functions and
# their constants.
from magmom.layout import (
    CHGNET_FINETUNED,
    CHGNET_ZEROSHOT,
    ELEMENT_MEAN,
    TABULAR_KINDS,
)

TABULAR_CUTOFFS = sorted(
    {cutoff_token(c) for c in config["baselines"]["tabular_cutoffs"]}, key=float
)


def chgnet_resources():
    """Resources of the CHGNet baseline jobs: those of a training job (config training.resources),
    GPU included; mem_mb grows with the attempt, runtime up to the Slurm time limit (fine-tuning
    resumes)."""
    mem_mb = training_resource("mem_mb", 16000)
    return {
        "gpu": training_resource("gpu", 1),
        "mem_mb": lambda wildcards, attempt: mem_mb * attempt,
        "runtime": training_runtime,
    }


def chgnet_finetune_training(wildcards):
    """Params of a CHGNet fine-tuning job: the training.* keys it shares with the GNNs, with a seed
    replicate's seed (chgnet-finetuned-s43) instead of training.seed."""
    return magmom_config.seeded_training(
        {k: config["training"][k] for k in magmom_config.FINETUNE_TRAINING_KEYS},
        wildcards.model_id,
    )
