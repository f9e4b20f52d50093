"""profiles/slurm as a user gets it, without a Slurm cluster: dry runs of the tiny preset.

`snakemake --profile slurm` from the repository root must find the profile (the top-level `slurm`
link), read partitions and account from the environment, put the GPU rules on the GPU partition,
and group the DFT jobs. A model's checkpoint as the target plans only that model's chain.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from magmom.layout import Layout
from magmom.training.cli import load_config

ROOT = Path(__file__).resolve().parents[1]
SNAKEMAKE = Path(sys.executable).with_name("snakemake")
CONFIGS = [str(ROOT / "config.yaml"), str(ROOT / "presets" / "tiny.yaml")]


def dry_run(workdir: Path, *args: str, env: dict | None = None, configs=CONFIGS) -> str:
    cmd = [str(SNAKEMAKE), *args, "--directory", str(workdir), "--dry-run"]
    cmd += ["--configfile", *configs]
    p = subprocess.run(
        cmd, cwd=ROOT, capture_output=True, text=True, env={**os.environ, **(env or {})}
    )
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]
    return p.stdout + p.stderr


def job_stats(output: str) -> dict[str, int]:
    table = output.split("Job stats:", 1)[1].split("\n\n", 1)[0]
    return {m[0]: int(m[1]) for m in re.findall(r"^(\w+)\s+(\d+)\s*$", table, re.MULTILINE)}


def resources_of(output: str, rule: str) -> list[str]:
    return re.findall(rf"rule {rule}:\n(?:\s+\w+: .*\n)*?\s+resources: (.*)", output)


def test_slurm_link_is_the_profile():
    link = ROOT / "slurm"
    assert link.is_symlink(), "the top-level `slurm` link to profiles/slurm is missing"
    assert link.resolve() == (ROOT / "profiles" / "slurm").resolve()


@pytest.fixture(scope="module")
def profile_dry_run(tmp_path_factory):
    env = {"SLURM_PARTITION_CPU": "short", "SLURM_PARTITION_GPU": "a100", "SLURM_ACCOUNT": "p123"}
    workdir = tmp_path_factory.mktemp("profile")
    return dry_run(workdir, "--profile", "slurm", "--profile", ".ci/slurm/profile", env=env)


def test_profile_is_found_as_typed(profile_dry_run):
    assert "Using profiles slurm and .ci/slurm/profile" in profile_dry_run


def test_partitions_and_account_come_from_the_environment(profile_dry_run):
    for rule in ("train", "baseline_chgnet_finetune", "baseline_chgnet_zeroshot"):
        res = resources_of(profile_dry_run, rule)
        assert res, f"no {rule} job in the dry run"
        assert all("slurm_partition=a100" in r and "slurm_account=p123" in r for r in res), res
    for rule in ("eos", "dft_slab", "graph_cache", "evaluate", "report"):
        res = resources_of(profile_dry_run, rule)
        assert res and all("slurm_partition=short" in r for r in res), (rule, res)


def test_gpu_jobs_ask_one_cpu_per_thread_per_gpu(profile_dry_run):
    for r in resources_of(profile_dry_run, "train"):
        assert "cpus_per_gpu=" in r, r


def test_dft_and_eos_jobs_are_grouped(profile_dry_run):
    stats = job_stats(profile_dry_run)
    groups = re.findall(r"Group job (\w+)", profile_dry_run)
    size = int(os.environ.get("DFT_GROUP", 4))  # jobs per group, as profiles/slurm reads it
    assert groups.count("dft") == -(-stats["dft_slab"] // size)
    assert groups.count("eos") == -(-stats["eos"] // size)


def test_one_model_target_plans_only_its_chain(tmp_path):
    target = Layout.of(load_config(*CONFIGS[:1], CONFIGS[1:])).checkpoint("cgconv-r4")
    stats = job_stats(dry_run(tmp_path, target, "--cores", "1"))
    assert stats["train"] == 1
    assert stats["graph_cache"] == 1
    for rule in ("predict", "evaluate", "report", "baseline_tabular", "deployment_cost"):
        assert rule not in stats, f"{rule} planned for a single checkpoint: {stats}"


def test_gpaw_eos_jobs_are_mpi_jobs_and_chgnet_eos_jobs_serial(profile_dry_run, tmp_path):
    """eos.calculator gpaw: `mpi`, `tasks` (dft.resources.tasks, 2 in the tiny preset) and one
    core per process, so the plugin submits --ntasks and the job's own srun starts the ranks."""
    for r in resources_of(profile_dry_run, "eos"):  # the tiny preset's CHGNet EOS
        assert "mpi=" not in r and "tasks=" not in r, r
    gpaw = tmp_path / "gpaw-eos.yaml"
    gpaw.write_text("eos: {calculator: gpaw}\n")
    target = Layout.of(load_config(*CONFIGS[:1], [*CONFIGS[1:], gpaw])).eos("Ni", "fcc")
    out = dry_run(tmp_path, "--profile", "slurm", "--profile", ".ci/slurm/profile", target,
                  configs=[*CONFIGS, str(gpaw)])  # fmt: skip
    (res,) = resources_of(out, "eos")
    assert "mpi=auto" in res and "tasks=2" in res and "cpus_per_task=1" in res, res
