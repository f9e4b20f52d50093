# Helpers of the dft stage (rules/dft.smk): the DFT job resources (magmom/dft/job_resources.py),
# the Slurm groups of eos and dft_slab jobs, and their input and resource functions.
from magmom.dft.job_resources import DftJobResources, by_attempt, grouped_runtime

# ---- job resources (magmom/dft/job_resources.py); Slurm groups of eos and dft_slab jobs ------
DFT_JOBS = DftJobResources(config, os.path.join(".snakemake", "magmom"))

_unknown_overrides = DFT_JOBS.unknown_overrides(slab_ids())
if _unknown_overrides and not config["dataset"]["source"]:
    raise ValueError(
        f"config key 'labeller_overrides': {', '.join(_unknown_overrides)} not among the "
        "recipe's slab ids (results/recipe/slabs.csv lists them)"
    )


def dft_resource(key, default):
    """A DFT job's resource (config dft.resources); mem_mb grows with the attempt, runtime too
    up to the Slurm time limit (`auto`, sized per slab for dft_slab, is `default` here).
    """
    base = DFT_JOBS.setting(key, default)
    if key in ("mem_mb", "runtime"):
        base = default if base == "auto" else base
        return lambda wildcards, attempt: by_attempt(key, base, attempt, max_runtime())
    return base


def dft_tasks():
    return DFT_JOBS.tasks()


def dft_threads(is_mpi):
    return DFT_JOBS.threads(is_mpi)


def dft_mpi_resources(is_mpi):
    return DFT_JOBS.mpi_resources(is_mpi)


def dft_slab_labeller():
    """Param `labeller` of dft_slab: the config's, or per slab when labeller_overrides name some
    (a function costs every one of the ~23k jobs a call when the DAG is printed)."""
    if not config.get("labeller_overrides"):
        return config["labeller"]
    return lambda wildcards: DFT_JOBS.slab_labeller(wildcards.slab_id)


_SLURM_GROUPS = {}


def slurm_group(name, estimates, key):
    """The `group` of eos and dft_slab jobs under the Slurm profile, jobs packed into as many per
    Slurm job as fit the time limit (slurm_limits.pack; at most DFT_GROUP when set); None (no
    group) in local runs. `estimates()` gives every job's first-attempt minutes by `key(wildcards)`.
    """

    def group(wildcards):
        if not slurm_grouping(name):
            return None
        packed = slurm_packing(name, estimates)
        # Snakemake asks every job of the run for its group: the run's members of each group
        packed["in_run"].add(key(wildcards))
        groupid = f"{name}-{packed['groups'][key(wildcards)]}"
        # one group-components entry (the profile's `name`) for all of this rule's groups
        workflow.parent_groupids[groupid] = name
        return groupid

    return group


def slurm_packing(name, estimates):
    """The packing of `name` jobs, computed once per parse: {groups, estimates, in_run}."""
    if name not in _SLURM_GROUPS:
        est, limit = estimates(), max_runtime()
        groups = slurm_limits.pack(est, limit, slurm_limits.max_group_jobs(limit))
        _SLURM_GROUPS[name] = {"groups": groups, "estimates": est, "in_run": set()}
    return _SLURM_GROUPS[name]


def job_runtime(name, estimates, minutes, job, attempt):
    """Runtime of one eos/dft_slab job (magmom.dft.job_resources.grouped_runtime): on a retry
    inside a packed Slurm group, its share of the limit among its group's jobs in this run.
    """
    limit = max_runtime()
    members = None
    if limit is not None and attempt > 1 and slurm_grouping(name):
        packed = slurm_packing(name, estimates)
        group = packed["groups"][job]
        in_group = {j for j in packed["in_run"] if packed["groups"][j] == group} | {job}
        members = [packed["estimates"][j] for j in in_group]
    return grouped_runtime(minutes, attempt, limit, members)


# ---- eos ---------------------------------------------------------------------------------------
def eos_files():
    """The EOS entries the lattice table is built from: recipe.elements x fcc/hcp/bcc."""
    return [
        PATHS.eos(el, lat)
        for el in sorted(config["recipe"]["elements"])
        for lat in LATTICES
    ]


def eos_key(wildcards):
    return f"{wildcards.element}-{wildcards.lattice}"


def eos_estimates():
    return {
        f"{el}-{lat}": DFT_JOBS.eos_minutes()
        for el in config["recipe"]["elements"]
        for lat in LATTICES
    }


def eos_runtime(wildcards, attempt):
    job = eos_key(wildcards)
    return job_runtime("eos", eos_estimates, DFT_JOBS.eos_minutes(), job, attempt)


# ---- dft_slab ----------------------------------------------------------------------------------
def dft_slab_key(wildcards):
    return wildcards.slab_id


def dft_slab_estimates():
    """{slab_id: first-attempt minutes} of every slab (the Slurm packing of DFT jobs)."""
    return {s: DFT_JOBS.slab_estimate(s, "runtime") for s in slab_ids()}


def dft_slab_size(key):
    """Resource `key` (mem_mb | runtime) of one slab (DFT_JOBS.slab_estimate): mem_mb x attempt
    on retries; runtime at most the Slurm time limit, a retry its group's share of the limit.
    """

    def size(wildcards, attempt):
        if key == "mem_mb":
            return DFT_JOBS.slab_estimate(wildcards.slab_id, key) * attempt
        minutes = DFT_JOBS.slab_estimate(wildcards.slab_id, "runtime")
        return job_runtime(
            "dft", dft_slab_estimates, minutes, wildcards.slab_id, attempt
        )

    return size
