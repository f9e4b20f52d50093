# Helpers of the training stage (rules/training.smk); the CHGNet baselines share its resources:
# input, params and resource functions and their constants.
from magmom.layout import (
    ARCHITECTURES,
    CHGNET_FINETUNED,
    gnn_model_id_pattern,
    optional_seed,
)

# The GNN model ids the train/predict rules accept: a known architecture, a cutoff that has graph
# caches, optional -res, optional seed (-s43: a seed replicate, trained with that seed instead of
# training.seed). Baseline ids (linear-r4, element-mean, ...) never match.
GNN_MODEL_ID = gnn_model_id_pattern(GRAPH_CUTOFFS)
# The fine-tuned CHGNet and its seed replicates (chgnet-finetuned-s43; rules/baselines.smk).
CHGNET_FINETUNED_ID = optional_seed(re.escape(CHGNET_FINETUNED))


def unknown_model_id(wildcards):
    """Input function of the catch-all unknown_model: fails, listing the buildable ids."""
    architecture, cutoff = parse_model_id(wildcards.model_id)[:2]
    why = ""
    if (
        architecture in ARCHITECTURES
        and cutoff is not None
        and cutoff_token(cutoff) not in GRAPH_CUTOFFS
    ):
        why = (
            f" (cutoff {cutoff_token(cutoff)} Å has no graph cache: graphs.cutoffs is "
            f"{', '.join(GRAPH_CUTOFFS)})"
        )
    raise ValueError(
        f"'{wildcards.model_id}' is not a model id this configuration can build{why}. "
        f"GNN ids are <architecture>-r<cutoff>[-res][-s<seed>] with an architecture of "
        f"{', '.join(ARCHITECTURES)} and a cutoff of graphs.cutoffs "
        f"({', '.join(GRAPH_CUTOFFS)}). This configuration's models: "
        f"{', '.join(all_model_ids())}"
    )


def model_graph_cache(split):
    """Input function: the `split` graph cache at the cutoff of wildcards.model_id."""

    def cache(wildcards):
        return PATHS.graph_cache(parse_model_id(wildcards.model_id).cutoff, split)

    return cache


def model_settings(wildcards):
    """Params of a train job: the models.* keys its architecture is built from."""
    return magmom_config.model_settings(
        parse_model_id(wildcards.model_id).architecture, config["models"]
    )


def training_settings(wildcards):
    """Params of a train job: the training section without resources (how, not what) and fresh
    (a per-job instruction, passed on its own); a seed replicate's seed (cgconv-r4-s43) instead
    of training.seed."""
    return magmom_config.seeded_training(
        {
            k: v
            for k, v in config["training"].items()
            if k not in ("resources", "fresh")
        },
        wildcards.model_id,
    )


def training_resource(key, default):
    return config["training"].get("resources", {}).get(key, default)


def training_mem_mb(wildcards, attempt):
    """Memory of a training job: training.resources.mem_mb, or the architecture's entry of
    mem_mb_per_architecture; grows with the attempt."""
    architecture = parse_model_id(wildcards.model_id).architecture
    per_architecture = training_resource("mem_mb_per_architecture", {})
    return (
        int(per_architecture.get(architecture, training_resource("mem_mb", 16000)))
        * attempt
    )


def training_runtime(wildcards, attempt):
    """Runtime of a training (or CHGNet) job: training.resources.runtime, at most the Slurm time
    limit; a retry (which resumes from last.pt) asks for the limit (x attempt without one).
    """
    return slurm_limits.runtime(
        training_resource("runtime", 720), attempt, max_runtime(), resumes=True
    )


def gnn_checkpoints():
    return [PATHS.checkpoint(m) for m in gnn_model_ids()]
