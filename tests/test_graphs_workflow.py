"""The split and graph_cache rule scripts, run as Snakemake runs them, on a small dataset db."""

from __future__ import annotations

import csv
import os
import re
import runpy
import shutil
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from graphs_helpers import metal_slabs
from snakemake.iocontainers import Namedlist

from magmom.graphs import SCHEMA_VERSION, GraphCache
from magmom.graphs.builder import file_sha256, slabs_sha256
from magmom.layout import Layout

REPO = Path(__file__).resolve().parents[1]
TYPES = ("pure", "binary", "ternary", "dilute_1", "binary_proto")


def write_contract_dataset(path: Path, n_compositions: int = 12) -> list[str]:
    """An ASE db following the dataset contract: real slabs, signed moments, metadata."""
    from ase.db import connect

    rng = np.random.default_rng(2)
    structures = metal_slabs()
    ids = []
    with connect(path, append=False) as db:
        for c in range(n_compositions):
            comp_type = TYPES[c % len(TYPES)]
            for variant in range(1 + c % 3):
                atoms = structures[(c + variant) % len(structures)].copy()
                slab_id = f"comp{c:02d}-fcc-random-v{variant}"
                ids.append(slab_id)
                db.write(
                    atoms,
                    key_value_pairs={
                        "slab_id": slab_id,
                        "composition_id": f"comp{c:02d}",
                        "comp_type": comp_type,
                        "lattice": "fcc",
                        "placement": "random",
                        "variant": variant,
                        "labeller": "gpaw",
                        "spinpol": True,
                    },
                    data={"magmoms": rng.normal(0.0, 1.0, len(atoms))},
                )
    return ids


def run_script(name: str, **job) -> None:
    snakemake = SimpleNamespace(
        input=Namedlist(fromdict=job["input"]),
        output=Namedlist(fromdict=job["output"]),
        params=Namedlist(fromdict=job.get("params", {})),
        log=Namedlist(fromdict={"log": job["log"]}),
        threads=job.get("threads", 1),
        wildcards=Namedlist(fromdict=job.get("wildcards", {})),
    )
    runpy.run_path(str(REPO / "workflow_scripts" / name), init_globals={"snakemake": snakemake})


@pytest.fixture(scope="module")
def workflow(tmp_path_factory):
    root = tmp_path_factory.mktemp("wf")
    dataset = root / "results/dataset/unit.db"
    dataset.parent.mkdir(parents=True)
    ids = write_contract_dataset(dataset)
    split = root / "results/split/unit-split.csv"
    run_script(
        "split_dataset.py",
        input={"dataset": str(dataset)},
        output={"split": str(split)},
        params={"split": {"train": 0.8, "val": 0.1, "test": 0.1, "seed": 42}},
        log=str(root / "logs/split.log"),
    )
    caches = {s: root / f"results/graphs/graphs-r4-unit-{s}.lmdb" for s in ("train", "val", "test")}
    run_script(
        "build_graph_cache.py",
        input={"dataset": str(dataset), "split": str(split)},
        output={s: str(p) for s, p in caches.items()},
        params={
            "cutoff": 4.0,
            "neighbor_rule": "radius",
            "max_neighbors": 50,
            "target": "abs",
            "dataset_name": "unit",
        },
        log=str(root / "logs/graphs-r4.log"),
        threads=2,
        wildcards={"cutoff": "4"},
    )
    return SimpleNamespace(root=root, dataset=dataset, split=split, caches=caches, ids=ids)


def test_split_rule_output(workflow):
    with open(workflow.split, newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert [r["slab_id"] for r in rows] == sorted(workflow.ids)
    per_comp = {}
    for r in rows:
        assert per_comp.setdefault(r["composition_id"], r["split"]) == r["split"]
    assert {r["split"] for r in rows} == {"train", "val", "test"}
    log = (workflow.root / "logs/split.log").read_text()
    assert "split 24 slabs" in log


def test_graph_rule_outputs(workflow):
    with open(workflow.split, newline="") as fh:
        split_of = {r["slab_id"]: r["split"] for r in csv.DictReader(fh)}
    for split, path in workflow.caches.items():
        cache = GraphCache(path, cutoff=4, neighbor_rule="radius", target="abs", split=split)
        assert cache.header["max_neighbors"] is None  # the radius rule has no cap
        header = cache.header
        assert header["dataset_sha256"] == file_sha256(workflow.dataset)
        assert header["split_sha256"] == file_sha256(workflow.split)
        ids = sorted(k for k, s in split_of.items() if s == split)
        assert header["slabs_sha256"] == slabs_sha256(ids)
        assert [cache[k].slab_id for k in range(len(cache))] == ids
    assert sorted(p.name for p in workflow.caches["train"].parent.iterdir()) == sorted(
        p.name for p in workflow.caches.values()
    ), "temporary or lock files left behind"
    assert "r4 graph caches" in (workflow.root / "logs/graphs-r4.log").read_text()


# Runs Snakemake's command line in this interpreter with the graph-cache schema version replaced by
# argv[1], as if the package had been upgraded to a new cache format after the caches were built.
SNAKEMAKE_WITH_SCHEMA = """
import sys
import magmom.graphs.cache as cache
cache.SCHEMA_VERSION = int(sys.argv.pop(1))
from snakemake.cli import main
sys.argv[0] = "snakemake"
main()
"""


def test_a_new_schema_version_or_neighbour_rule_reruns_the_graph_cache_rule(workflow, tmp_path):
    """Caches built by an older format or another neighbour rule are stale: the schema version and
    the rule are params of the rule."""
    tiny = Layout("results/tiny", "tiny")  # presets/tiny.yaml
    for src, dst in ((workflow.dataset, tiny.dataset_db()), (workflow.split, tiny.split_file())):
        (tmp_path / dst).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src, tmp_path / dst)
    (tmp_path / "source.yaml").write_text(f"dataset: {{source: {workflow.dataset}}}\n")
    caches = [tiny.graph_cache("4", split) for split in ("train", "val", "test")]

    def snakemake(version, *args):
        run = subprocess.run(
            [sys.executable, "-c", SNAKEMAKE_WITH_SCHEMA, str(version), *caches, *args,
             "-s", str(REPO / "Snakefile"), "-d", str(tmp_path), "--configfile",
             str(REPO / "config.yaml"), str(REPO / "presets/tiny.yaml"),
             str(tmp_path / "source.yaml"), "--allowed-rules", "graph_cache"],
            capture_output=True, text=True, timeout=600, cwd=tmp_path,
            env={**os.environ, "PYTHONPATH": str(REPO)},
        )  # fmt: skip
        assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
        return run.stdout + run.stderr

    snakemake(SCHEMA_VERSION, "--cores", "2")
    assert GraphCache(tmp_path / caches[0]).header["schema_version"] == SCHEMA_VERSION
    same = snakemake(SCHEMA_VERSION, "-n", "--rerun-triggers", "params")
    assert "Nothing to be done" in same, same
    newer = snakemake(SCHEMA_VERSION + 1, "-n", "--rerun-triggers", "params")
    assert re.search(r"^graph_cache\s+1$", newer, flags=re.M), newer
    assert "params" in newer.lower().split("reason:")[1], newer
    assert GraphCache(tmp_path / caches[0]).header["neighbor_rule"] == "radius"  # the default
    rule = "graphs={neighbor_rule: shell_complete}"
    other = snakemake(SCHEMA_VERSION, "-n", "--rerun-triggers", "params", "--config", rule)
    assert re.search(r"^graph_cache\s+1$", other, flags=re.M), other
    assert "params" in other.lower().split("reason:")[1], other
