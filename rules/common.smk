# Shared helpers: config validation, the slab index, file layout and input functions.
import json
import os
import re
import sys

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
from magmom.recipe import slab_index  # noqa: E402
from magmom.recipe.table_files import table_paths as study_table_paths  # noqa: E402

SCHEMA = os.path.join(workflow.basedir, "schemas", "config.schema.yaml")
magmom_config.check(config, SCHEMA, validate)

NAME = config["dataset_name"]
RESULTS = "results"
LOGS = "logs"


def cutoff_token(cutoff):
    """3 -> '3', 3.5 -> '3.5': the cutoff as it appears in file names (r{token})."""
    return f"{float(cutoff):g}"


GRAPH_CUTOFFS = sorted(
    {cutoff_token(c) for c in config["graphs"]["cutoffs"]}, key=float
)
SPLITS = ["train", "val", "test"]


# ---- slab index: known at parse time (cached, cheap on every re-parse by a cluster job) ----
def slab_ids():
    if config["dataset"]["source"]:
        return []
    return slab_index(config, cache_dir=os.path.join(".snakemake", "magmom"))


# ---- model ids -------------------------------------------------------------------------------
def gnn_model_ids():
    m = config["models"]
    ids = [
        f"{arch}-r{cutoff_token(c)}"
        for arch in m["architectures"]
        for c in m["cutoffs"]
    ]
    ids += [
        f"{r['architecture']}-r{cutoff_token(r['cutoff'])}-res" for r in m["residual"]
    ]
    return ids


def baseline_model_ids():
    b = config["baselines"]
    ids = []
    if b["element_mean"]:
        ids.append("element-mean")
    for c in b["tabular_cutoffs"]:
        if b["linear"]:
            ids.append(f"linear-r{cutoff_token(c)}")
        if b["xgboost"]["enabled"]:
            ids.append(f"xgboost-r{cutoff_token(c)}")
    if b["chgnet_zeroshot"]:
        ids.append("chgnet-zeroshot")
    if b["chgnet_finetune"]["enabled"]:
        ids.append("chgnet-finetuned")
    return ids


def all_model_ids():
    return gnn_model_ids() + baseline_model_ids()


def parse_model_id(model_id):
    """'cgconv-r4-res' -> ('cgconv', '4', True); 'element-mean' -> ('element-mean', None, False)."""
    parts = model_id.split("-")
    residual = parts[-1] == "res"
    if residual:
        parts = parts[:-1]
    if len(parts) >= 2 and parts[-1].startswith("r"):
        return "-".join(parts[:-1]), parts[-1][1:], residual
    return model_id, None, residual


# ---- file layout -----------------------------------------------------------------------------
def dataset_db():
    return f"{RESULTS}/dataset/{NAME}.db"


def split_file():
    return f"{RESULTS}/split/{NAME}-split.csv"


def graph_cache(cutoff, split):
    return f"{RESULTS}/graphs/graphs-r{cutoff}-{NAME}-{split}.lmdb"


def gnn_graph_caches():
    """Every split's cache of every cutoff a GNN model uses (the report reads their headers)."""
    cutoffs = sorted({parse_model_id(m)[1] for m in gnn_model_ids()}, key=float)
    return [graph_cache(c, split) for c in cutoffs for split in SPLITS]


# ---- DFT stage and dataset ---------------------------------------------------------------------
EOS_LATTICES = ["fcc", "bcc", "hcp"]


def eos_files():
    """The EOS entries the lattice table is built from: recipe.elements x fcc/bcc/hcp."""
    return [
        f"{RESULTS}/eos/{el}-{lat}.json"
        for el in sorted(config["recipe"]["elements"])
        for lat in EOS_LATTICES
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


def recipe_tables(wildcards):
    """The study's tables the recipe reads (recipe.source: study_tables), else nothing."""
    if config["recipe"].get("source") != "study_tables":
        return {}
    return {k: str(p) for k, p in study_table_paths(config["recipe"]).items()}


def initial_slabs_db():
    return f"{RESULTS}/recipe/initial_slabs.db"


def dft_records():
    """Input function: the per-slab records the dataset is assembled from ([] when imported).

    A function, not a list: the ~23k paths are built only when assemble_dataset is planned, not
    on every parse of the Snakefile (each Slurm job parses it twice).
    """

    def records(wildcards):
        return [f"{RESULTS}/dft/{s}.json" for s in slab_ids()]

    return records


def dataset_source():
    """The imported dataset file (dataset.source), or None when the workflow labels slabs."""
    return config["dataset"]["source"] or None


def dataset_outputs():
    return {
        "db": dataset_db(),
        "failures": f"{RESULTS}/dataset/{NAME}-failures.csv",
        "summary": f"{RESULTS}/dataset/{NAME}-summary.json",
    }


def dft_resource(key, default):
    """A DFT job's resource (config dft.resources); mem_mb and runtime grow with the attempt."""
    base = config["dft"].get("resources", {}).get(key, default)
    if key in ("mem_mb", "runtime"):
        return lambda wildcards, attempt: int(base) * attempt
    return base


# ---- training ----------------------------------------------------------------------------------
ARCHITECTURES = magmom_config.load_schema(SCHEMA)["$defs"]["architecture"]["enum"]
# The GNN model ids the train/predict rules accept: a known architecture, a cutoff that has graph
# caches, optional -res. Baseline ids (linear-r4, element-mean, ...) never match.
GNN_MODEL_ID = "(?:{})-r(?:{})(?:-res)?".format(
    "|".join(ARCHITECTURES), "|".join(re.escape(c) for c in GRAPH_CUTOFFS)
)


def model_graph_cache(split):
    """Input function: the `split` graph cache at the cutoff of wildcards.model_id."""

    def cache(wildcards):
        return graph_cache(parse_model_id(wildcards.model_id)[1], split)

    return cache


def training_resource(key, default):
    return config["training"].get("resources", {}).get(key, default)


def training_mem_mb(wildcards, attempt):
    """Memory of a training job: training.resources.mem_mb, or the architecture's entry of
    mem_mb_per_architecture; grows with the attempt."""
    architecture = parse_model_id(wildcards.model_id)[0]
    per_architecture = training_resource("mem_mb_per_architecture", {})
    return (
        int(per_architecture.get(architecture, training_resource("mem_mb", 16000)))
        * attempt
    )


# ---- baselines, evaluation and report ----------------------------------------------------------
TABULAR_CUTOFFS = sorted(
    {cutoff_token(c) for c in config["baselines"]["tabular_cutoffs"]}, key=float
)


def chgnet_resources():
    """Resources of the CHGNet baseline jobs: those of a training job (config training.resources),
    GPU included; mem_mb and runtime grow with the attempt (fine-tuning resumes)."""
    mem_mb = training_resource("mem_mb", 16000)
    runtime = training_resource("runtime", 720)
    return {
        "gpu": training_resource("gpu", 1),
        "mem_mb": lambda wildcards, attempt: mem_mb * attempt,
        "runtime": lambda wildcards, attempt: runtime * attempt,
    }


def predictions_file(model_id):
    return f"{RESULTS}/predictions/{model_id}.csv"


def metrics_file(model_id):
    return f"{RESULTS}/metrics/{model_id}.json"


def model_figure(model_id, figure):
    return f"{RESULTS}/figures/{model_id}/{figure}.png"


def provenance_file():
    return f"{RESULTS}/report/provenance.json"


def gnn_checkpoints():
    return [f"{RESULTS}/models/{m}/best.pt" for m in gnn_model_ids()]


def report_outputs():
    return {
        "ranking_csv": f"{RESULTS}/report/ranking.csv",
        "ranking_md": f"{RESULTS}/report/ranking.md",
        "cutoff_sweep": f"{RESULTS}/report/cutoff_sweep.png",
        "per_element_csv": f"{RESULTS}/report/per_element.csv",
        "heatmap": f"{RESULTS}/report/per_element_heatmap.png",
        "cost_csv": f"{RESULTS}/report/deployment_cost.csv",
        "cost_md": f"{RESULTS}/report/deployment_cost.md",
    }


def _labels_source(path):
    with open(path) as fh:
        return json.load(fh)


def _label_kind(surrogate):
    return "CHGNet surrogate (not DFT)" if surrogate else "DFT / imported"


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
            "labels": _label_kind(m["surrogate"]),
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
            "labels": _label_kind(prov["surrogate"]),
        }

    return labels


def final_targets():
    return list(report_outputs().values())
