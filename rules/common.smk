# Shared helpers: config validation, the slab index, file layout and input functions.
import os
import sys

from snakemake.utils import validate

# The workflow's library package lives beside this Snakefile; jobs (local, conda or Slurm) import it
# through PYTHONPATH, so no env needs the package installed.
sys.path.insert(0, workflow.basedir)
os.environ["PYTHONPATH"] = os.pathsep.join(
    p for p in (workflow.basedir, os.environ.get("PYTHONPATH")) if p
)

from magmom import config as magmom_config  # noqa: E402
from magmom.recipe import slab_index  # noqa: E402

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
        f"{arch}-r{cutoff_token(c)}" for arch in m["architectures"] for c in m["cutoffs"]
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


def final_targets():
    return [
        f"{RESULTS}/report/ranking.csv",
        f"{RESULTS}/report/ranking.md",
    ]
