"""The `train` and `predict` rules: one model id plans exactly its own chain; ids parse."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from training_helpers import REPO, TINY

from magmom.training.cli import load_config

SNAKEMAKE = str(Path(sys.executable).with_name("snakemake"))


def dry_run(workdir, *targets, extra_config=()):
    """Job counts per rule of ``snakemake -n targets`` (tiny preset, then ``extra_config`` files)
    in a fresh directory."""
    run = subprocess.run(
        [
            SNAKEMAKE,
            "-s",
            str(REPO / "Snakefile"),
            "-d",
            str(workdir),
            "-n",
            *targets,
            "--configfile",
            str(REPO / "config.yaml"),
            str(REPO / "presets" / "tiny.yaml"),
            *map(str, extra_config),
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    table = run.stdout.split("Job stats:")[1].split("\n\n")[0]
    counts = dict(re.findall(r"^(\w+)\s+(\d+)$", table, flags=re.M))
    counts.pop("total", None)
    return {rule: int(n) for rule, n in counts.items()}, run.stdout


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    return tmp_path_factory.mktemp("workflow")


def test_one_checkpoint_plans_only_its_own_chain(workdir):
    counts, out = dry_run(workdir, TINY.checkpoint("cgconv-r4"))
    assert counts["train"] == 1 and counts["graph_cache"] == 1
    assert "predict" not in counts
    assert "model_id=cgconv-r4\n" in out or "model_id=cgconv-r4," in out
    assert "graphs-r3-" not in out  # the other cutoff's caches are not built


def test_residual_predictions_plan_train_and_predict(workdir):
    """A residual id parses; a baseline id of the same shape (linear-r4) stays with its rule."""
    targets = [TINY.predictions("cgconv-r4-res"), TINY.predictions("linear-r4")]
    counts, out = dry_run(workdir, *targets)
    assert counts["train"] == 1 and counts["predict"] == 1 and counts["baseline_tabular"] == 1
    assert TINY.checkpoint("cgconv-r4-res") in out
    assert TINY.checkpoint("linear-r4") not in out


def test_train_all_plans_every_configured_gnn(workdir):
    models = load_config(REPO / "config.yaml", [REPO / "presets" / "tiny.yaml"])["models"]
    expected = len(models["architectures"]) * len(models["cutoffs"]) + len(models["residual"])
    counts, _ = dry_run(workdir, "train_all")
    assert counts["train"] == expected
    assert counts["graph_cache"] == len({float(c) for c in models["cutoffs"]})


def test_training_memory_per_architecture(tmp_path):
    """nnconv asks for its own memory (config.yaml: mem_mb_per_architecture), the others for
    training.resources.mem_mb."""
    extra = tmp_path / "nnconv.yaml"
    extra.write_text("models: {architectures: [cgconv, nnconv]}\n")
    targets = [TINY.checkpoint("nnconv-r4"), TINY.checkpoint("cgconv-r4")]
    _, out = dry_run(tmp_path, *targets, extra_config=[extra])
    memory = {
        re.search(r"model_id=([\w-]+)", job)[1]: int(re.search(r"mem_mb=(\d+)", job)[1])
        for job in out.split("rule train:")[1:]
    }
    resources = load_config(REPO / "config.yaml", [REPO / "presets" / "tiny.yaml"])["training"][
        "resources"
    ]
    assert memory == {
        "nnconv-r4": resources["mem_mb_per_architecture"]["nnconv"],
        "cgconv-r4": resources["mem_mb"],
    }
