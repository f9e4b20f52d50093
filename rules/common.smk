# What the stages share: config validation, the results layout (PATHS), the slab index, the model
# ids, the EOS settings (recipe and DFT), the Slurm time limit (DFT and training jobs), the GNN a
# predict or warm-start key names, the `all` target and the rules' code versions. A helper that
# serves one stage only sits in rules/helpers/<stage>.smk, which rules/<stage>.smk includes.
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
    seed_dependent_model_ids as _seed_dependent_ids,
)
from magmom.recipe import slab_index  # noqa: E402
from magmom.source_closure import code_sha256  # noqa: E402
from magmom import dag_speedups  # noqa: E402

# Snakemake re-derives per job or per input look-up what it knows already (a rule's script check,
# function signatures, a file's producers, a missing group, constant resources) and formats job
# info a quiet dry run drops: once per rule, function or file, and not at all
# (magmom/dag_speedups.py; the same DAG; MAGMOM_DAG_SPEEDUPS=0 turns it off).
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


def seed_dependent_model_ids():
    """The models that depend on training.seed (GNNs, fine-tuned CHGNet): the candidates for
    seed replicates (config report.seed_replicates, rules/report.smk)."""
    return _seed_dependent_ids(config["models"], config["baselines"])


def gnn_graph_caches():
    """Every split's cache of every cutoff a GNN model uses (the report reads their headers)."""
    cutoffs = sorted({parse_model_id(m).cutoff for m in gnn_model_ids()})
    return [PATHS.graph_cache(c, split) for c in cutoffs for split in SPLITS]


# ---- EOS settings: the recipe (slab_settings) and the DFT stage (eos) ----------------------------
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


# ---- the Slurm time limit (magmom/slurm_limits.py) ---------------------------------------------
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


def warm_start_targets():
    if not config.get("warm_start", {}).get("slabs"):
        return []
    _configured_gnn("warm_start")
    return list(PATHS.warm_start_outputs().values())


def final_targets(wildcards):
    """Input function of the `all` target: the report and every product it is made from
    (DFT records, graph caches, GNN checkpoints, each model's predictions and metrics; the seed
    table, which asks for its replicates' checkpoints, predictions and metrics), so
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
        + seed_spread_table()
    )


# ---- code versions ---------------------------------------------------------------------------
def code_version(script):
    """Param `code` of a rule: a hash of its script and the magmom source the script runs
    (magmom/source_closure.py; docstrings, comments and formatting do not count), so a library
    edit reruns the jobs it can change and a file restored to its content reruns none
    (profiles/default turns off Snakemake's own trigger on the script's modification time). The
    GPAW rules (eos, dft_slab, warm_start_slab: hours per job) take none: relabel with --forcerun.
    """
    script = os.path.join(workflow.basedir, "workflow_scripts", script)
    # kept beside the slab index, reused while no file of the closure changes (every parse asks)
    return code_sha256(script, cache_dir=os.path.join(".snakemake", "magmom"))
