# Helpers of the warm-start stage (rules/warm_start.smk).


def warm_start_slab_records(wildcards):
    """Input function: the per-slab records of the slabs the checkpoint picked."""
    model_id = _configured_gnn("warm_start")
    with checkpoints.warm_start_starts.get(model_id=model_id).output[0].open() as fh:
        slabs = json.load(fh)["slabs"]
    return [PATHS.warm_start_slab(model_id, s) for s in slabs]


def warm_start_size(key):
    """Resource `key` (mem_mb | runtime) of one warm_start_slab job
    (DFT_JOBS.warm_start_estimate): memory x attempt, a retry (which resumes start by start)
    the Slurm time limit."""

    def size(wildcards, attempt):
        base = DFT_JOBS.warm_start_estimate(wildcards.slab_id, key)
        return by_attempt(key, base, attempt, max_runtime())

    return size
