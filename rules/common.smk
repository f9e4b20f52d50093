# What every stage shares: config validation, the results layout (PATHS), the slab index, the model
# ids, the `all` target and the rules' code versions; plus the DFT stage's job sizing and Slurm
# grouping. A helper that serves one stage only sits beside its rules in rules/<stage>.smk.
import json
import os
import re
import signal
import sys
import threading

from snakemake.utils import validate

# The workflow's library package lives beside this Snakefile; jobs (local, conda or Slurm) import it
# through PYTHONPATH, so no env needs the package installed.
sys.path.insert(0, workflow.basedir)
# (Written, not read: the envvars directive is for variables a user must provide.)
os.environ.update(
    PYTHONPATH=os.pathsep.join(
        p for p in (workflow.basedir, os.environ.get("PYTHONPATH")) if p
    )
)

from magmom import config as magmom_config  # noqa: E402
from magmom import slurm_limits  # noqa: E402
from magmom.layout import (  # noqa: E402
    LATTICES,
    SPLITS,
    Layout,
    baseline_model_ids as _baseline_ids,
    cutoff_token,
    gnn_model_ids as _gnn_ids,
    parse_model_id,
)
from magmom.recipe import slab_index  # noqa: E402
from magmom.source_closure import code_sha256  # noqa: E402
from magmom import dag_speedups  # noqa: E402

# Snakemake re-derives per job what is the same for every job of a rule (a rule's script check,
# function signatures) and formats job info a quiet dry run drops: once per rule or function, and
# not at all (magmom/dag_speedups.py; the same DAG; MAGMOM_DAG_SPEEDUPS=0 turns it off).
dag_speedups.install()

# A closed terminal (SIGHUP) stops the run as a Ctrl-C does: running jobs are stopped and marked
# incomplete and the working directory is unlocked, so the same command resumes. (Python's default
# for SIGHUP ends the process at once and leaves Snakemake's lock behind.) Not after kill -9: then
# `snakemake --unlock` first (README, "Resume").
if threading.current_thread() is threading.main_thread():
    signal.signal(signal.SIGHUP, signal.default_int_handler)

SCHEMA = os.path.join(workflow.basedir, "schemas", "config.schema.yaml")
# --config 'training={max_epochs: 2}' hands nested values over as strings: type them first.
magmom_config.type_overrides(config, workflow.config_settings.config)
magmom_config.check(config, SCHEMA, validate)
# Commands that messages suggest carry the user's config files (magmom.config.snakemake_command).
os.environ[magmom_config.CONFIG_ARGS_ENV] = magmom_config.config_args(
    workflow.config_settings.configfiles
)

NAME = config["dataset_name"]
# Every path of this configuration's results tree (config results_dir), logs included.
PATHS = Layout.of(config)

GRAPH_CUTOFFS = sorted(
    {cutoff_token(c) for c in config["graphs"]["cutoffs"]}, key=float
)


# ---- slab index: known at parse time (cached, cheap on every re-parse by a cluster job) ----
def slab_ids():
    if config["dataset"]["source"]:
        return []
    return slab_index(config, cache_dir=os.path.join(".snakemake", "magmom"))


# ---- model ids -------------------------------------------------------------------------------
def gnn_model_ids():
    return _gnn_ids(config["models"])


def baseline_model_ids():
    return _baseline_ids(config["baselines"])


def all_model_ids():
    return gnn_model_ids() + baseline_model_ids()


def gnn_graph_caches():
    """Every split's cache of every cutoff a GNN model uses (the report reads their headers)."""
    cutoffs = sorted({parse_model_id(m).cutoff for m in gnn_model_ids()})
    return [PATHS.graph_cache(c, split) for c in cutoffs for split in SPLITS]


# ---- DFT stage ---------------------------------------------------------------------------------
def eos_files():
    """The EOS entries the lattice table is built from: recipe.elements x fcc/hcp/bcc."""
    return [
        PATHS.eos(el, lat)
        for el in sorted(config["recipe"]["elements"])
        for lat in LATTICES
    ]


def eos_dft_params():
    """The `dft` settings an EOS job uses: xc, smearing and SCF ladder for GPAW, none otherwise
    (so editing the slab settings does not rerun a CHGNet or reference EOS)."""
    if config["eos"]["calculator"] != "gpaw":
        return {}
    pw = config["dft"]["planewave"]
    return {
        "planewave": {"xc": pw["xc"], "smearing": pw["smearing"]},
        "scf_ladder": config["dft"]["scf_ladder"],
    }


def dft_resource(key, default):
    """A DFT job's resource (config dft.resources); mem_mb grows with the attempt, runtime too
    up to the Slurm time limit (`auto`, sized per slab for dft_slab, is `default` here).
    """
    base = config["dft"].get("resources", {}).get(key, default)
    if key in ("mem_mb", "runtime"):
        base = default if base == "auto" else base
        if key == "runtime":
            return lambda wildcards, attempt: slurm_limits.runtime(
                int(base), attempt, max_runtime(), resumes=True
            )
        return lambda wildcards, attempt: int(base) * attempt
    return base


# ---- the Slurm time limit; DFT and EOS jobs grouped into Slurm jobs (magmom/slurm_limits.py) ---
def slurm_grouping(name):
    """Whether this run packs `name` (dft, eos) jobs into Slurm jobs: the Slurm profile names
    the group in group-components; a local run groups nothing."""
    return name in workflow.group_settings.group_components


def max_runtime():
    """The partition time limit (minutes, None: none): SLURM_MAX_RUNTIME, else the MaxTime of the
    profile's partitions (scontrol, slurm.conf), asked only under the Slurm profile. Resolved
    when the first job is sized (the profile's groups are not known yet while the Snakefile is
    parsed), once per process, and exported, so the Slurm jobs' own parses do not ask again.
    """
    return slurm_limits.resolve(
        slurm_limits.profile_partitions() if slurm_grouping("dft") else ()
    )


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


def grouped_runtime(name, estimates, minutes, job, attempt):
    """Runtime of a job of a packed group: min(estimate, limit) first; on retries its share of
    the limit among its group's jobs in this run (the group then asks for the limit), or the
    limit when it is not grouped.
    """
    limit = max_runtime()
    if limit is None or attempt <= 1:
        return slurm_limits.runtime(minutes, attempt, limit, resumes=True)
    if not slurm_grouping(name):
        return limit
    packed = slurm_packing(name, estimates)
    group = packed["groups"][job]
    members = {j for j in packed["in_run"] if packed["groups"][j] == group} | {job}
    total = sum(
        slurm_limits.first_attempt(packed["estimates"][j], limit) for j in members
    )
    return slurm_limits.retry_share(minutes, total, limit)


def eos_key(wildcards):
    return f"{wildcards.element}-{wildcards.lattice}"


def eos_minutes():
    """First-attempt minutes of an eos job (dft.resources.runtime; `auto`: 240)."""
    base = config["dft"].get("resources", {}).get("runtime", 240)
    return 240 if base == "auto" else int(base)


def eos_estimates():
    return {
        f"{el}-{lat}": eos_minutes()
        for el in config["recipe"]["elements"]
        for lat in LATTICES
    }


def eos_runtime(wildcards, attempt):
    job = eos_key(wildcards)
    return grouped_runtime("eos", eos_estimates, eos_minutes(), job, attempt)


# ---- DFT jobs as MPI jobs, sized from the slab (magmom/dft/parallel.py, cost_model.py) ---------
def slab_labeller(slab_id):
    return config.get("labeller_overrides", {}).get(slab_id, config["labeller"])


def dft_slab_labeller():
    """Param `labeller` of dft_slab: the config's, or per slab when labeller_overrides name some
    (a function costs every one of the ~23k jobs a call when the DAG is printed)."""
    if not config.get("labeller_overrides"):
        return config["labeller"]
    return lambda wildcards: slab_labeller(wildcards.slab_id)


def check_labeller_overrides():
    unknown = sorted(set(config.get("labeller_overrides", {})) - set(slab_ids()))
    if unknown and not config["dataset"]["source"]:
        raise ValueError(
            f"config key 'labeller_overrides': {', '.join(unknown)} not among the recipe's "
            "slab ids (results/recipe/slabs.csv lists them)"
        )


check_labeller_overrides()


def dft_tasks():
    return int(dft_resource("tasks", 1))


def dft_is_mpi():
    """dft_slab jobs are MPI jobs when some slab is labelled by GPAW on more than one process.
    (One answer for every dft_slab job: jobs of a Slurm group must agree on string resources.)
    """
    labellers = {config["labeller"], *config.get("labeller_overrides", {}).values()}
    return "gpaw" in labellers and dft_tasks() > 1


def eos_is_mpi():
    """eos jobs are MPI jobs when GPAW computes the energies on more than one process (a
    CHGNet or reference EOS is a serial job)."""
    return config["eos"]["calculator"] == "gpaw" and dft_tasks() > 1


def dft_threads(is_mpi):
    """Cores of one eos/dft_slab job: its MPI processes x their threads."""
    return dft_resource("threads", 1) * (dft_tasks() if is_mpi else 1)


def dft_mpi_resources(is_mpi):
    """`mpi` (the launcher; the Slurm plugin then leaves the launch to the job's own srun),
    `tasks` (sbatch --ntasks) and `cpus_per_task` for MPI eos/dft_slab jobs; nothing otherwise.
    """
    if not is_mpi:
        return {}
    return {
        "mpi": dft_resource("launcher", "auto"),
        "tasks": dft_tasks(),
        "cpus_per_task": dft_resource("threads", 1),
    }


_GPAW_SLAB_SIZES = {}


def gpaw_slab_sizes():
    """{slab_id: {runtime, mem_mb}} of every recipe slab labelled by GPAW (cost model), read
    once per parse from the cache beside the slab index (each Slurm job parses the Snakefile,
    and packing its DFT group needs every slab's size; recomputing them took seconds).
    """
    from magmom.dft import cost_model

    if not _GPAW_SLAB_SIZES:
        _GPAW_SLAB_SIZES.update(
            cost_model.recipe_job_sizes(
                config["recipe"],
                config["dft"]["planewave"]["kpt_density"],
                dft_tasks() if dft_is_mpi() else 1,
                config["dft"]["initial_moments"],
                os.path.join(".snakemake", "magmom"),
            )
        )
    return _GPAW_SLAB_SIZES


def dft_slab_minutes(slab_id):
    """First-attempt minutes of one slab: dft.resources.runtime, or with `auto` the cost model
    of the slab's atoms, k-points, processes and initial-moment starts."""
    return dft_slab_estimate(slab_id, "runtime")


def dft_slab_estimate(slab_id, key):
    """First-attempt `key` (runtime | mem_mb) of one slab: dft.resources.<key>, or with `auto`
    the cost model's (GPAW) or the surrogate's."""
    from magmom.dft import cost_model

    base = config["dft"].get("resources", {}).get(key, "auto")
    if base != "auto":
        return int(base)
    if slab_labeller(slab_id) != "gpaw":
        return cost_model.SURROGATE[key]
    return gpaw_slab_sizes()[slab_id][key]


def dft_slab_estimates():
    """{slab_id: first-attempt minutes} of every slab (the Slurm packing of DFT jobs)."""
    return {s: dft_slab_minutes(s) for s in slab_ids()}


def dft_slab_key(wildcards):
    return wildcards.slab_id


def dft_slab_size(key):
    """Resource `key` (mem_mb | runtime) of one slab (dft_slab_estimate): mem_mb x attempt on
    retries; runtime at most the Slurm time limit, a retry its group's share of the limit.
    """

    def size(wildcards, attempt):
        if key == "mem_mb":
            return dft_slab_estimate(wildcards.slab_id, key) * attempt
        minutes = dft_slab_minutes(wildcards.slab_id)
        return grouped_runtime(
            "dft", dft_slab_estimates, minutes, wildcards.slab_id, attempt
        )

    return size


# ---- users' structures (config `predict`) and the DFT warm start (config `warm_start`) --------
def _configured_gnn(key):
    """The GNN model id of config key `key`.model, which must be one this config trains."""
    model_id = config.get(key, {}).get("model")
    if model_id not in gnn_model_ids():
        raise ValueError(
            f"config key '{key}.model': {model_id!r} is not a GNN of this config; allowed "
            f"values: {', '.join(gnn_model_ids())}"
        )
    return model_id


def warm_start_slab_records(wildcards):
    """Input function: the per-slab records of the slabs the checkpoint picked."""
    model_id = _configured_gnn("warm_start")
    with checkpoints.warm_start_starts.get(model_id=model_id).output[0].open() as fh:
        slabs = json.load(fh)["slabs"]
    return [PATHS.warm_start_slab(model_id, s) for s in slabs]


def warm_start_targets():
    if not config.get("warm_start", {}).get("slabs"):
        return []
    _configured_gnn("warm_start")
    return list(PATHS.warm_start_outputs().values())


def final_targets(wildcards):
    """Input function of the `all` target: the report and every product it is made from
    (DFT records, graph caches, GNN checkpoints, each model's predictions and metrics), so
    deleting any of them rebuilds it and what depends on it (an intermediate file no target asks
    for would stay missing while the report is up to date); then the predict and warm-start
    targets. A function, so the ~23k record paths are built only when `all` is planned, not on
    every parse.
    """
    models = all_model_ids()
    return (
        list(PATHS.report_outputs().values())
        + [PATHS.predictions(m) for m in models]
        + [PATHS.metrics(m) for m in models]
        + [PATHS.checkpoint(m) for m in gnn_model_ids()]
        + gnn_graph_caches()
        + dft_records()(wildcards)
        + predict_targets()
        + warm_start_targets()
    )


# ---- code versions ---------------------------------------------------------------------------
def code_version(script):
    """Param `code` of a rule: a hash of its script and the magmom source the script runs
    (magmom/source_closure.py; docstrings, comments and formatting do not count), so a library
    edit reruns the jobs it can change and a file restored to its content reruns none
    (profiles/default turns off Snakemake's own trigger on the script's modification time). The
    GPAW rules (eos, dft_slab, warm_start_slab: hours per job) take none: relabel with --forcerun.
    """
    return code_sha256(os.path.join(workflow.basedir, "workflow_scripts", script))
