"""Rule `predict_structures` (config `predict`) and the warm-start rules: targets plan only what
they need; a real run of the predict rule writes the moments of one user file."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import ase.io
import numpy as np
import pandas as pd
import pytest
import yaml
from ase.build import fcc111
from test_training_rules import dry_run
from training_helpers import REPO, TINY, train_tiny_model

from magmom.dft.job_resources import WARM_START_UNSIZED, DftJobResources
from magmom.layout import ModelSpec
from magmom.predict.predictor import MomentPredictor
from magmom.training.cli import load_config

SNAKEMAKE = str(Path(sys.executable).with_name("snakemake"))


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    """A working directory with two structure files and a predict/warm_start config."""
    root = tmp_path_factory.mktemp("predict-rule")
    (root / "my").mkdir()
    slab = fcc111("Ni", size=(2, 2, 3), vacuum=5.0)
    slab[0].symbol = "Fe"
    ase.io.write(root / "my" / "slab.cif", slab)
    ase.io.write(root / "my" / "frames.extxyz", [slab, slab.copy()])
    (root / "extra.yaml").write_text(
        "predict: {model: cgconv-r4, structures: ['my/*']}\n"
        "warm_start: {slabs: 2, model: schnetconv-r3}\n"
    )
    return root


def test_one_structure_plans_only_its_model(project):
    counts, out = dry_run(
        project, "results/tiny/predict/cgconv-r4/my/slab.csv", extra_config=[project / "extra.yaml"]
    )
    assert counts["predict_structures"] == 1 and counts["train"] == 1
    assert counts["graph_cache"] == 1 and "graphs-r3-" not in out
    assert "name=my/slab" in out and "name=my/frames" not in out
    assert "warm_start_starts" not in counts and "report" not in counts


def test_all_and_warm_start_targets(project):
    counts, out = dry_run(project, "all", extra_config=[project / "extra.yaml"])
    assert counts["predict_structures"] == 2  # both files of the glob
    assert counts["warm_start_starts"] == 1 and counts["warm_start_report"] == 1
    assert "results/tiny/report/warm_start.md" in out
    assert "results/tiny/warm_start/schnetconv-r3/starts.json" in out


def test_predict_model_must_be_a_gnn_of_the_config(tmp_path):
    extra = tmp_path / "bad.yaml"
    extra.write_text("predict: {model: nnconv-r4, structures: ['x.cif']}\n")
    run = subprocess.run(
        [SNAKEMAKE, "-s", str(REPO / "Snakefile"), "-d", str(tmp_path), "-n"]
        + ["--configfile", str(REPO / "config.yaml"), str(REPO / "presets" / "tiny.yaml")]
        + [str(extra)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert run.returncode != 0
    message = "config key 'predict.model': 'nnconv-r4' is not a GNN of this config"
    assert message in run.stdout + run.stderr


@pytest.fixture(scope="module")
def best(project):
    """A trained cgconv-r4 checkpoint in the project's results tree."""
    _, path = train_tiny_model(
        project / "c",
        project / TINY.model_dir("cgconv-r4"),
        ModelSpec("cgconv", 4.0),
        counts=(8, 4, 4),
        max_epochs=1,
        batch_size=4,
    )
    return path


def predict(project, target: str, extra: str = "extra.yaml") -> subprocess.CompletedProcess:
    return subprocess.run(
        [SNAKEMAKE, "-s", str(REPO / "Snakefile"), "-d", str(project), "--cores", "1", target]
        + ["--allowed-rules", "predict_structures"]
        + ["--configfile", str(REPO / "config.yaml"), str(REPO / "presets" / "tiny.yaml")]
        + [str(project / extra)],
        capture_output=True,
        text=True,
        timeout=600,
    )


def test_rule_predicts_one_file(project, best):
    """With a trained checkpoint in place, the rule predicts exactly the asked file."""
    run = predict(project, "results/tiny/predict/cgconv-r4/my/frames.csv")
    assert run.returncode == 0, run.stderr[-3000:]
    out = project / "results" / "tiny" / "predict" / "cgconv-r4" / "my"
    assert sorted(p.name for p in out.iterdir()) == [
        "frames-failures.csv",
        "frames.csv",
        "frames.extxyz",
    ]
    table = pd.read_csv(out / "frames.csv")
    assert table["frame"].tolist() == [0] * 12 + [1] * 12
    expected = MomentPredictor(best, device="cpu").predict_atoms(
        ase.io.read(project / "my" / "frames.extxyz", 0)
    )
    np.testing.assert_allclose(table["moment"][:12], expected, rtol=1e-4, atol=1e-6)
    back = ase.io.read(out / "frames.extxyz", ":")
    np.testing.assert_allclose(back[1].get_initial_magnetic_moments(), expected, rtol=1e-4)
    log = project / "results" / "tiny" / "logs" / "predict_structures" / "cgconv-r4" / "my"
    log = log / "frames.log"
    assert "2 of 2 structure(s) predicted" in log.read_text()


def test_refused_structures_are_said_on_the_console(project, best):
    """A file with a refused frame: a warning on the console (not only in the log); a file
    with nothing predictable: the job fails naming it, and leaves no empty structures file."""
    (project / "other").mkdir()
    slab = fcc111("Ni", size=(2, 2, 3), vacuum=5.0)
    molecule = slab.copy()
    molecule.pbc = False  # a cluster: refused (the models know surface slabs only)
    ase.io.write(project / "other" / "mixed.extxyz", [slab, molecule])
    ase.io.write(project / "other" / "cluster.extxyz", [molecule])
    (project / "refused.yaml").write_text("predict: {model: cgconv-r4, structures: ['other/*']}\n")
    out = "results/tiny/predict/cgconv-r4/other"
    run = predict(project, f"{out}/mixed.csv", extra="refused.yaml")
    assert run.returncode == 0, run.stderr[-3000:]
    assert "WARNING: other/mixed.extxyz: 1 of 2 structure(s) refused, 1 predicted" in run.stderr
    assert len(ase.io.read(project / out / "mixed.extxyz", ":")) == 1
    run = predict(project, f"{out}/cluster.csv", extra="refused.yaml")
    assert run.returncode != 0
    assert "Error in rule predict_structures" in run.stderr
    log = project / "results/tiny/logs/predict_structures/cgconv-r4/other/cluster.log"
    assert "other/cluster.extxyz: 1 of 1 structure(s) refused, 0 predicted" in log.read_text()
    assert not (project / out / "cluster.extxyz").exists()


def test_warm_start_slab_job_runs_on_the_dft_mpi_processes(project):
    """tiny: dft.resources.tasks 2, so a warm-start GPAW job is an MPI job like dft_slab."""
    target = "results/tiny/warm_start/schnetconv-r3/slabs/ni100-fcc-pure-v0.json"
    counts, out = dry_run(project, target, extra_config=[project / "extra.yaml"])
    assert counts["warm_start_slab"] == 1
    job = out.split("rule warm_start_slab:")[1].split("Job stats:")[0]
    assert "threads: 2" in job
    assert "mpi=auto, tasks=2, cpus_per_task=1" in job
    # sized by the cost model: one single point per start of this recipe slab on 2 processes
    cfg = load_config(REPO / "config.yaml", [REPO / "presets" / "tiny.yaml"])
    cfg["warm_start"].update(yaml.safe_load((project / "extra.yaml").read_text())["warm_start"])
    jobs = DftJobResources(cfg, project / "sizes")
    for key in ("runtime", "mem_mb"):
        expected = jobs.warm_start_estimate("ni100-fcc-pure-v0", key)
        assert expected != WARM_START_UNSIZED[key]
        assert f"{key}={expected}," in job, (key, expected, job)
