# Shared helpers: config validation, the slab index, file layout and input functions.
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
    ARCHITECTURES,
    CHGNET_FINETUNED,
    CHGNET_ZEROSHOT,
    ELEMENT_MEAN,
    LATTICES,
    SPLITS,
    TABULAR_KINDS,
    Layout,
    baseline_model_ids as _baseline_ids,
    cutoff_token,
    gnn_model_id_pattern,
    gnn_model_ids as _gnn_ids,
    parse_model_id,
)
from magmom.evaluation.provenance import label_origin  # noqa: E402
from magmom.recipe import slab_index  # noqa: E402
from magmom.source_closure import code_sha256  # noqa: E402
from magmom.recipe.table_files import table_paths as study_table_paths  # noqa: E402

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


# ---- DFT stage and dataset ---------------------------------------------------------------------
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


def recipe_tables(wildcards):
    """The study's tables the recipe reads (recipe.source: study_tables), else nothing."""
    if config["recipe"].get("source") != "study_tables":
        return {}
    return {k: str(p) for k, p in study_table_paths(config["recipe"]).items()}


def dft_records():
    """Input function: the per-slab records the dataset is assembled from ([] when imported).

    A function, not a list: the ~23k paths are built only when assemble_dataset is planned, not
    on every parse of the Snakefile (each Slurm job parses it twice).
    """

    def records(wildcards):
        return [PATHS.dft_record(s) for s in slab_ids()]

    return records


def dataset_source():
    """The imported dataset file (dataset.source), or None when the workflow labels slabs."""
    return config["dataset"]["source"] or None


def dataset_outputs(staged=False):
    """The dataset files: db, failures table, summary. ``staged``: where import/assembly write
    them first; publish_dataset moves them into place only after a successful job, so a failed
    import or assembly never costs the previous dataset (Snakemake deletes a job's outputs).
    """
    return PATHS.dataset_files(staged=staged)


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


# ---- training ----------------------------------------------------------------------------------
# The GNN model ids the train/predict rules accept: a known architecture, a cutoff that has graph
# caches, optional -res. Baseline ids (linear-r4, element-mean, ...) never match.
GNN_MODEL_ID = gnn_model_id_pattern(GRAPH_CUTOFFS)


def unknown_model_id(wildcards):
    """Input function of the catch-all unknown_model: fails, listing the buildable ids."""
    architecture, cutoff, _ = parse_model_id(wildcards.model_id)
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
        f"GNN ids are <architecture>-r<cutoff>[-res] with an architecture of "
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
        parse_model_id(wildcards.model_id).name, config["models"]
    )


def training_settings():
    """Params of a train job: the training section without resources (how, not what) and fresh
    (a per-job instruction, passed on its own)."""
    return {
        k: v for k, v in config["training"].items() if k not in ("resources", "fresh")
    }


def training_resource(key, default):
    return config["training"].get("resources", {}).get(key, default)


def training_mem_mb(wildcards, attempt):
    """Memory of a training job: training.resources.mem_mb, or the architecture's entry of
    mem_mb_per_architecture; grows with the attempt."""
    architecture = parse_model_id(wildcards.model_id).name
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


# ---- baselines, evaluation and report ----------------------------------------------------------
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


def gnn_checkpoints():
    return [PATHS.checkpoint(m) for m in gnn_model_ids()]


def _labels_source(path):
    with open(path) as fh:
        return json.load(fh)


MODEL_FIGURE_KINDS = {"parity": "parity plot", "error_hist": "signed-error histogram"}


def model_figure_labels(figure):
    """Report labels of a per-model figure, read from its metrics file at report time.

    A model's page holds two figure kinds x two atom subsets. Snakemake's report may turn a label
    with exactly two values into a switch and then looks up every (row, switch value) pair; a
    label that varies with anything else (the former ``atoms`` count, which differs between the
    subsets) leaves pairs that do not exist and blanks the page. So each label is constant on
    the page or one axis of that full grid: ``figure`` (the kind) and ``test atoms`` (the subset,
    with its counts).
    """
    excluded = figure.endswith("_excl")
    kind = MODEL_FIGURE_KINDS[figure.removesuffix("_excl")]
    elements = config["evaluation"]["excluded_elements"]
    dropped = f"without {'/'.join(elements)}" if elements else "without nothing"
    name = dropped if excluded else "all"

    def labels(wildcards, output):
        m = _labels_source(output.metrics)
        subset = m["excluded"] if excluded else m["all"]
        return {
            "model": wildcards.model_id,
            "figure": kind,
            "test atoms": f"{name}: {subset['n_atoms']:,} atoms in {subset['n_slabs']:,} slabs",
            "labels": label_origin(m["labellers"]),
        }

    return labels


def report_figure_labels(figure):
    """Report labels of a report output: models, test atoms/slabs, labeller (from provenance)."""

    def labels(wildcards, input):
        prov = _labels_source(input.provenance)
        return {
            "figure": figure,
            "models": len(input.metrics),
            "test atoms": prov["n_atoms"].get("test", 0),
            "test slabs": prov["n_slabs"].get("test", 0),
            "labels": label_origin(prov["labellers"]),
        }

    return labels


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


def predict_structure_files():
    """{name: file} of config predict.structures (globs expanded, sorted): `name` is the file's
    path relative to the working directory without its suffix (its stem when outside it).
    """
    import glob

    names = {}
    for pattern in config.get("predict", {}).get("structures", []):
        matches = sorted(glob.glob(pattern, recursive=True)) or [pattern]
        for path in matches:
            rel = os.path.relpath(path)
            root = os.path.splitext(rel)[0] if "." in os.path.basename(rel) else rel
            name = os.path.basename(root) if rel.startswith("..") else root
            if name in names and names[name] != path:
                raise ValueError(
                    f"config key 'predict.structures': {names[name]} and {path} would both "
                    f"be written as {name!r}; rename one of them"
                )
            names[name] = path
    return names


def predict_targets():
    if not config.get("predict", {}).get("structures"):
        return []
    model_id = _configured_gnn("predict")
    return [
        path
        for name in predict_structure_files()
        for path in PATHS.predicted_structures(model_id, name).values()
    ]


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
