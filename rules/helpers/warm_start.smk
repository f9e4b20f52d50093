# Helpers of the warm-start stage (rules/warm_start.smk).


def warm_start_slab_records(wildcards):
    """Input function: the per-slab records of the slabs the checkpoint picked."""
    model_id = _configured_gnn("warm_start")
    with checkpoints.warm_start_starts.get(model_id=model_id).output[0].open() as fh:
        slabs = json.load(fh)["slabs"]
    return [PATHS.warm_start_slab(model_id, s) for s in slabs]
