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
from magmom.slurm_limits import dry_run_jobs
from magmom.training.cli import load_config

ROOT = Path(__file__).resolve().parents[1]
SNAKEMAKE = Path(sys.executable).with_name("snakemake")
CONFIGS = [str(ROOT / "config.yaml"), str(ROOT / "presets" / "tiny.yaml")]


def dry_run(workdir: Path, *args: str, env: dict | None = None, configs=CONFIGS) -> str:
    cmd = [str(SNAKEMAKE), *args, "--directory", str(workdir), "--dry-run"]
    cmd += ["--configfile", *configs]
    env = {k: v for k, v in {**os.environ, **(env or {})}.items() if v is not None}  # None: unset
    p = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, env=env)
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


SLURM_ENV = {
    "SLURM_PARTITION_CPU": "short",
    "SLURM_PARTITION_GPU": "a100",
    "SLURM_ACCOUNT": "p123",
    "SLURM_MAX_RUNTIME": "1440",
    "DFT_GROUP": None,
}
PROFILES = ("--profile", "slurm", "--profile", ".ci/slurm/profile")


@pytest.fixture(scope="module")
def profile_dry_run(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("profile")
    # a dry run caps threads at --cores (1 unless given) and the CI profile at --max-threads 1
    return dry_run(workdir, *PROFILES, "--cores", "8", "--max-threads", "8", env=SLURM_ENV)


def job_blocks(output: str, rule: str) -> list[str]:
    return re.findall(rf"rule {rule}:\n((?:\s+\w+: .*\n)+)", output)


def runtimes(output: str, rule: str) -> list[int]:
    return [int(re.search(r"\bruntime=(\d+)", r).group(1)) for r in resources_of(output, rule)]


def group_runtimes(output: str, prefix: str) -> list[list[int]]:
    """Runtimes of the jobs of each group `prefix`-N of a dry run (the shared reader of a dry
    run's Slurm jobs, magmom.slurm_limits.dry_run_jobs)."""
    jobs, _ = dry_run_jobs(output)
    return [runtimes for job, runtimes in jobs.items() if re.fullmatch(rf"{prefix}-\d+", job)]


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
    threads = load_config(*CONFIGS[:1], CONFIGS[1:])["training"]["resources"]["threads"]
    assert threads > 1  # so that cpus_per_gpu=1 would be wrong
    blocks = job_blocks(profile_dry_run, "train")
    assert blocks, "no train job in the dry run"
    for block in blocks:
        assert re.search(r"^\s+threads: (\d+)$", block, re.MULTILINE).group(1) == str(threads)
        assert re.search(r"\bcpus_per_gpu=(\d+)", block).group(1) == str(threads), block


def test_dft_and_eos_jobs_are_grouped_to_fill_the_time_limit(profile_dry_run):
    """SLURM_MAX_RUNTIME=1440: the 16 surrogate slabs (30 min each) share one Slurm job, the 12
    EOS jobs (240 min each) make two of six."""
    stats = job_stats(profile_dry_run)
    dft, eos = group_runtimes(profile_dry_run, "dft"), group_runtimes(profile_dry_run, "eos")
    assert [len(g) for g in dft] == [stats["dft_slab"]] and set(dft[0]) == {30}, dft
    assert sorted(len(g) for g in eos) == [6, 6] and {t for g in eos for t in g} == {240}, eos


def test_a_group_never_holds_more_than_dft_group(tmp_path):
    out = dry_run(tmp_path, *PROFILES, env={**SLURM_ENV, "DFT_GROUP": "5"})
    stats = job_stats(out)
    dft = group_runtimes(out, "dft")
    assert sorted(len(g) for g in dft) == [1, 5, 5, 5] and sum(map(len, dft)) == stats["dft_slab"]


@pytest.mark.parametrize("attempt", [1, 2])
def test_every_job_fits_the_time_limit_and_a_retry_asks_for_it(tmp_path, attempt):
    """SLURM_MAX_RUNTIME=100 min: a first attempt asks for min(estimate, 100) (EOS 240 -> 100,
    graph caches 240 -> 100), DFT groups hold three 30-min slabs; a retry (attempt 2) asks for the
    limit, not 2x: a lone job 100, each slab of a group of three its share, 33."""
    out = dry_run(tmp_path, *PROFILES, "--attempt", str(attempt),
                  env={**SLURM_ENV, "SLURM_MAX_RUNTIME": "100"})  # fmt: skip
    # first attempts: estimate (rule or profile), at most 100; tiny trains for 30 min
    first = {"eos": 100, "graph_cache": 100, "train": 30, "baseline_chgnet_finetune": 100,
             "evaluate": 60, "report": 60}  # fmt: skip
    for rule, minutes in first.items():
        want = minutes if attempt == 1 else 100
        assert set(runtimes(out, rule)) == {want}, (rule, runtimes(out, rule))
    dft = group_runtimes(out, "dft")
    assert dft and all(sum(g) <= 100 for g in dft), dft
    assert max(len(g) for g in dft) == 3
    assert {t for g in dft if len(g) == 3 for t in g} == ({30} if attempt == 1 else {33})
    assert all(sum(g) <= 100 for g in group_runtimes(out, "eos"))


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


def test_without_the_setting_the_limit_is_the_partitions_max_time(tmp_path):
    """SLURM_MAX_RUNTIME unset: the MaxTime `scontrol show partition` reports for the profile's
    partitions (here a stand-in scontrol: 100 min on `short`, none on `a100`) sizes the jobs."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    scontrol = bin_dir / "scontrol"
    scontrol.write_text(
        "#!/bin/sh\necho 'PartitionName=short MaxTime=01:40:00 State=UP'\n"
        "echo 'PartitionName=a100 MaxTime=UNLIMITED State=UP'\n"
    )
    scontrol.chmod(0o755)
    env = {**SLURM_ENV, "SLURM_MAX_RUNTIME": None, "PATH": f"{bin_dir}:{os.environ['PATH']}"}
    out = dry_run(tmp_path, *PROFILES, env=env)
    assert set(runtimes(out, "eos")) == {100} and set(runtimes(out, "graph_cache")) == {100}
    dft = group_runtimes(out, "dft")
    assert max(len(g) for g in dft) == 3 and all(sum(g) <= 100 for g in dft), dft


def test_a_retry_shares_the_limit_among_the_slabs_of_its_group_in_the_run(tmp_path):
    """The groups are fixed over the whole recipe; a run of one slab of a group of three (the
    rest done, or not targeted) is a group of one: its retry asks for the whole limit."""
    target = Layout.of(load_config(*CONFIGS[:1], CONFIGS[1:])).dft_record("cu100-fcc-pure-v0")
    env = {**SLURM_ENV, "SLURM_MAX_RUNTIME": "100"}
    out = dry_run(tmp_path, *PROFILES, target, "--attempt", "2", env=env)
    assert group_runtimes(out, "dft") == [[100]], out[-3000:]
