"""The tiny preset through `snakemake --profile slurm`, on a real Slurm controller, to the report.

Run from the repository root exactly as a user types it (`--profile slurm` resolves to the
`slurm` -> profiles/slurm link), with the CI overrides of `.ci/slurm/profile` (no conda channels,
no accounting, 2 cores) and the training/CHGNet jobs asking for one (fake) GPU. The results go to
a temporary working directory. Then every job is traced to its Slurm job: each rule log starts
with `job context: ... slurm_job_id=N slurm_job_partition=P` (magmom.rule_logging), and Slurm's
own record of job N (job completion log, or sacct) must show it COMPLETED in partition P.

The partitions have finite time limits (.ci/slurm/up.sh: cpu and gpu 24 h, short 15 min) that the
profile reads through scontrol: every job of the tiny run and of the study's DAG (a dry run of
config.yaml) must fit them. Two real GPAW runs of one 2-atom slab each go side by side with the
tiny run (own working directories, only rule dft_slab): one on 2 MPI ranks under srun, compared
with a serial run of the same slab; one on the 15 min partition, given 2 min for its first
attempt, which Slurm kills at its limit and which resumes from its checkpoint on the retry, asking
for the partition's limit.

Skipped only when no Slurm controller answers (`scontrol ping`); with MAGMOM_REQUIRE_SLURM=1 (as
.ci/slurm/run_tiny.sh sets it) a missing controller fails instead. Takes minutes: marked `slurm`.
"""

from __future__ import annotations

import math
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from training_helpers import TINY

from magmom.slurm_limits import dry_run_jobs

ROOT = Path(__file__).resolve().parents[1]
SNAKEMAKE = Path(sys.executable).with_name("snakemake")
CPU_RULES = {"eos", "dft_slab", "graph_cache", "baseline_tabular", "evaluate", "report"}
GPU_RULES = {"train", "baseline_chgnet_finetune", "baseline_chgnet_zeroshot"}
# One Slurm job holds at most this many DFT (EOS) jobs, here 8 so that the 16 tiny slabs make
# two Slurm jobs side by side (the 24 h limit alone would fit all of them into one).
GROUP_SIZE = 8
CI_LIMIT_MINUTES = 1440  # MaxTime of partitions cpu and gpu (.ci/slurm/up.sh)
SHORT_PARTITION, SHORT_LIMIT_MINUTES = "short", 15
# What the tiny run must show, no more: every rule family through sbatch, one GNN (GPU partition,
# train/predict/evaluate), every baseline, the report; its slabs labelled by the CHGNet surrogate.
CI_CONFIG = {"models": {"architectures": ["cgconv"], "cutoffs": [4], "residual": []},
             "graphs": {"cutoffs": [4]}}  # fmt: skip
# Real GPAW runs beside it, each in its own working directory on a 2-atom slab
# (tests/dft_helpers.py) written in place of the recipe's slab of the same id, with only rule
# dft_slab allowed. MPI run: Ni(111), labelled on 2 ranks under srun and compared with a serial
# run of the same slab; Ni carries moments (~0.6 μB), so the comparison compares moments that are
# there. Cheap settings (200 eV, no relaxation steps: one LCAO and one plane-wave SCF) through the
# production code path. The SCF converges the moments themselves (dft.scf_ladder[].magmoms,
# magmom/dft/moment_criterion.py): GPAW's default criteria stop while they still drift (serially,
# cu083-ni017's moments at the default density criterion 1e-4 are 1.5e-3 μB off those at magmoms
# 1e-6; magmoms 1e-5 is 5.9e-6 μB off), so runs on 2 ranks and 1 differed by up to 5.6e-4 μB.
# GPAW 26.7's own Pulay settings (history 16, β 0.08, metric weight 20) damp slow spin modes.
# (A 12-atom recipe slab that carries moments, ni100, took 8 min on 2 ranks here and would take
# longer serially.)
GPAW_SLAB = "ni100-fcc-pure-v0"
MPI_CONFIG = {
    "labeller_overrides": {GPAW_SLAB: "gpaw"},
    "recipe": {"fixed_layers": 1},
    "dft": {
        "prerelax": {"steps": 2},
        "lcao": {"h": 0.35, "steps": 0},
        "planewave": {"ecut": 200.0, "kpt_density": 0.6},
        "relax": {"steps": 0},
        "initial_moments": "floor",
        "scf_ladder": [
            {
                "mixer": "pulay",
                "eigenstates": 1.0e-8,
                "smearing_width": 0.2,
                "maxiter": 150,
                "magmoms": 1.0e-5,
                "nmaxold": 16,
                "beta": 0.08,
                "weight": 20.0,
            }
        ],
        "resources": {"tasks": 2},
    },
}
# The time-out job: a 2-atom Fe-on-Cu(111) slab (tests/dft_helpers.py) in place of the recipe's
# cu050-fe050 slab, a plane-wave relaxation of TIMEOUT_PW_STEPS LBFGS steps that cannot converge
# (fmax 1e-8). The slab is symmetric (6 symmetries): ASE's LBFGS, its steps shrunk to zero at the
# SCF noise floor, once took a 0.2 Å in-plane step along rounding and GPAW stopped with
# SymmetryBrokenError (seen here on resumed relaxations; magmom/dft/optimizers.py skips such
# curvature pairs). Here, on 2 ranks, the job step reaches the plane-wave
# stage after ~40 s (Snakemake, CHGNet pre-relaxation, LCAO), then takes 0.7 s per ionic step
# beside the tiny run once the forces are small (100 steps in 70 s; up to ~2.6 s per step on a
# machine loaded 3-4x). 800 steps outlast a first attempt of TIMEOUT_FIRST_MINUTES, which Slurm
# kills (it enforces limits every 30 s: after 120-150 s) in the plane-wave stage; the retry, given
# the partition's 15 min, resumes there and finishes (or a second retry does, on a loaded machine).
TIMEOUT_PW_STEPS = 800
TIMEOUT_FIRST_MINUTES = 2
TIMEOUT_SLAB = "cu050-fe050-fcc-random-v1"
TIMEOUT_CONFIG = {
    "labeller_overrides": {TIMEOUT_SLAB: "gpaw"},
    "recipe": {"fixed_layers": 1},
    "dft": {
        "prerelax": {"steps": 2},
        "lcao": {"h": 0.35, "steps": 0},
        "planewave": {"ecut": 200.0, "kpt_density": 0.6},
        "relax": {"steps": TIMEOUT_PW_STEPS, "fmax": 1.0e-8},
        "initial_moments": "floor",
        "scf_ladder": [
            {"mixer": "pulay", "eigenstates": 1.0e-6, "smearing_width": 0.2, "maxiter": 100}
        ],
        "resources": {"tasks": 2, "runtime": TIMEOUT_FIRST_MINUTES},
    },
}

pytestmark = pytest.mark.slurm


def controller_up() -> bool:
    if shutil.which("scontrol") is None:
        return False
    try:
        p = subprocess.run(["scontrol", "ping"], capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return p.returncode == 0 and "UP" in p.stdout


@pytest.fixture(scope="module")
def slurm_available():
    if not controller_up():
        if os.environ.get("MAGMOM_REQUIRE_SLURM") == "1":
            pytest.fail("no Slurm controller reachable (scontrol ping), but MAGMOM_REQUIRE_SLURM=1")
        pytest.skip("no Slurm controller reachable (scontrol ping)")
    # A controller that has just started may take seconds to answer its first queries, longer
    # than the profile waits for the time limit (magmom.slurm_limits): wait until it answers.
    for _ in range(30):
        t0 = time.monotonic()
        subprocess.run(["scontrol", "show", "partition"], capture_output=True, timeout=60)
        if time.monotonic() - t0 < 0.5:
            break
        time.sleep(1)


def slurm_config() -> dict[str, str]:
    out = subprocess.run(["scontrol", "show", "config"], capture_output=True, text=True).stdout
    return dict(re.findall(r"^(\w+)\s+=\s+(.*?)\s*$", out, re.MULTILINE))


def job_records(job_ids: set[str], jobcomp_offset: int) -> dict[str, dict[str, str]]:
    """Slurm's record of each finished job: the job completion log, else sacct."""
    cfg = slurm_config()
    records: dict[str, dict[str, str]] = {}
    if cfg.get("JobCompType") == "jobcomp/filetxt":
        with open(cfg["JobCompLoc"]) as fh:
            fh.seek(jobcomp_offset)
            for line in fh:
                rec = dict(re.findall(r"(\w+)=(\S*)", line))
                records[rec["JobId"]] = rec
    else:
        out = subprocess.run(
            [
                "sacct",
                "-X",
                "-n",
                "-P",
                "-j",
                ",".join(sorted(job_ids)),
                "-o",
                "JobID,Partition,State,Timelimit,AllocCPUS",
            ],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        for line in out.splitlines():
            jid, part, state, limit, cpus = line.split("|")
            records[jid] = {
                "JobId": jid,
                "Partition": part,
                "JobState": state.split()[0],
                "TimeLimit": limit,
                "ProcCnt": cpus,
            }
    return records


def jobcomp_size() -> int:
    cfg = slurm_config()
    if cfg.get("JobCompType") == "jobcomp/filetxt" and os.path.exists(cfg["JobCompLoc"]):
        return os.path.getsize(cfg["JobCompLoc"])
    return 0


def parse_jobs(output: str) -> list[dict[str, str]]:
    """Every job block Snakemake printed: rule, local flag, log, jobid, (group) indentation."""
    jobs, current = [], None
    for line in output.splitlines():
        m = re.match(r"^(\s*)(local)?(rule|checkpoint) (\w+):\s*$", line)
        if m:
            current = {"rule": m.group(4), "local": m.group(2) is not None}
            jobs.append(current)
            continue
        f = re.match(r"^\s+(\w+): (.*)$", line)
        if current is not None and f:
            current.setdefault(f.group(1), f.group(2).strip())
        else:
            current = None
    return jobs


def minutes(limit: str) -> int:
    """Slurm time limit ([D-]HH:MM:SS or MM) -> minutes."""
    days, _, hms = limit.rpartition("-")
    parts = [int(p) for p in hms.split(":")]
    h, m = (parts[0], parts[1]) if len(parts) == 3 else (0, parts[0])
    return int(days or 0) * 1440 + h * 60 + m


def slurm_env(**extra: str) -> dict[str, str]:
    """The environment of a run: the limit comes from the partitions (scontrol), not a setting."""
    env = {k: v for k, v in os.environ.items() if k not in ("SLURM_MAX_RUNTIME", "DFT_GROUP")}
    return {**env, "DFT_GROUP": str(GROUP_SIZE), **extra}


def start_side_run(workdir: Path, slab_id: str, atoms, meta: dict, config: dict, **env: str):
    """A GPAW run of one slab beside the tiny run (module docstring), started in the background:
    ``atoms`` in place of the recipe's slab ``slab_id``, only rule dft_slab allowed."""
    from dft_helpers import write_slab_db

    db = workdir / TINY.initial_slabs()
    db.parent.mkdir(parents=True)
    write_slab_db(db, [(atoms, {**meta, "slab_id": slab_id})])
    config_file = workdir / "ci-side-run.yaml"
    config_file.write_text(yaml.safe_dump(config))
    cmd = [
        str(SNAKEMAKE),
        TINY.dft_record(slab_id),
        "--profile",
        "slurm",
        "--profile",
        ".ci/slurm/profile",
        "--allowed-rules",
        "dft_slab",  # the recipe db above is the input, not something to rebuild
        "--directory",
        str(workdir),
        "--slurm-logdir",
        str(workdir / "logs" / "slurm"),
        "--configfile",
        str(ROOT / "config.yaml"),
        str(ROOT / "presets" / "tiny.yaml"),
        str(config_file),
    ]
    out = (workdir / "snakemake.out").open("w")
    proc = subprocess.Popen(
        cmd, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT, env=slurm_env(**env)
    )
    return {"workdir": workdir, "proc": proc, "slab_id": slab_id, "config": config_file}


@pytest.fixture(scope="module")
def side_runs_started(slurm_available, tmp_path_factory):
    """The time-out and MPI runs, started before the tiny run so that they go side by side."""
    sys.path.insert(0, str(ROOT / "tests"))
    from dft_helpers import slab_meta, tiny_slab

    offset = jobcomp_size()
    timeout = start_side_run(
        tmp_path_factory.mktemp("slurm-timeout"),
        TIMEOUT_SLAB,
        tiny_slab(("Fe", "Cu")),  # symmetric: the top atom on its site
        slab_meta(TIMEOUT_SLAB, "cu050-fe050", "binary"),
        TIMEOUT_CONFIG,
        SLURM_PARTITION_CPU=SHORT_PARTITION,
    )
    mpi = start_side_run(
        tmp_path_factory.mktemp("slurm-mpi"),
        GPAW_SLAB,
        tiny_slab(),
        slab_meta(GPAW_SLAB),
        MPI_CONFIG,
    )
    return {"timeout": timeout, "mpi": mpi, "offset": offset, "t0": time.perf_counter()}


@pytest.fixture(scope="module")
def side_runs(side_runs_started):
    runs = {}
    for name in ("timeout", "mpi"):
        run = dict(side_runs_started[name])
        run["returncode"] = run.pop("proc").wait(timeout=1800)
        run["output"] = (run["workdir"] / "snakemake.out").read_text()
        run["submissions"] = re.findall(r"has been submitted with SLURM jobid (\d+)", run["output"])
        runs[name] = run
    ids = {j for run in runs.values() for j in run["submissions"]}
    records = job_records(ids, side_runs_started["offset"])
    for run in runs.values():
        run["records"] = [records[j] for j in run["submissions"]]
    print(f"\nside runs done after {time.perf_counter() - side_runs_started['t0']:.0f} s")
    return runs


@pytest.fixture(scope="module")
def tiny_run(slurm_available, side_runs_started, tmp_path_factory):
    workdir = tmp_path_factory.mktemp("slurm-tiny")
    offset = jobcomp_size()
    gpu_config = workdir / "ci-gpu.yaml"
    gpu_config.write_text("training: {resources: {gpu: 1}}\n")
    ci_config = workdir / "ci-tiny.yaml"
    ci_config.write_text(yaml.safe_dump(CI_CONFIG))
    cmd = [
        str(SNAKEMAKE),
        "--profile",
        "slurm",
        "--profile",
        ".ci/slurm/profile",
        "--directory",
        str(workdir),
        "--slurm-logdir",
        str(workdir / "logs" / "slurm"),
        "--configfile",
        str(ROOT / "config.yaml"),
        str(ROOT / "presets" / "tiny.yaml"),
        str(gpu_config),
        str(ci_config),
    ]
    t0 = time.perf_counter()
    p = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=3600, env=slurm_env())
    elapsed = time.perf_counter() - t0
    output = p.stdout + p.stderr
    (workdir / "snakemake.out").write_text(output)
    assert p.returncode == 0, f"snakemake --profile slurm failed:\n{output[-5000:]}"
    submissions = dict(re.findall(r"Job (\S+) has been submitted with SLURM jobid (\d+)", output))
    jobs = [j for j in parse_jobs(output) if "jobid" in j]
    records = job_records(set(submissions.values()), offset)
    print(
        f"\nslurm tiny run: {len({(j['rule'], j.get('log')) for j in jobs if not j['local']})} "
        f"jobs, {len(submissions)} sbatch submissions, {elapsed:.0f} s"
    )
    return {
        "workdir": workdir,
        "output": output,
        "jobs": jobs,
        "submissions": submissions,
        "records": records,
    }


def contexts(log: Path) -> list[dict[str, str]]:
    return [
        dict(re.findall(r"(\w+)=(\S+)", m))
        for m in re.findall(r"job context: (.*)$", log.read_text(), re.MULTILINE)
    ]


def test_report_is_built(tiny_run):
    """The report of the Slurm run ranks every model of its configuration with a finite score on
    the same test atoms, and its figures are real PNGs (not just non-empty files)."""
    import pandas as pd
    from test_evaluation_plots import assert_png

    from magmom.layout import baseline_model_ids, gnn_model_ids
    from magmom.training.cli import load_config

    config = load_config(ROOT / "config.yaml", [ROOT / "presets" / "tiny.yaml"])
    models = gnn_model_ids({**config["models"], **CI_CONFIG["models"]})
    models += baseline_model_ids(config["baselines"])
    report = tiny_run["workdir"] / TINY.report_dir()
    ranking = pd.read_csv(report / "ranking.csv")
    assert sorted(ranking["model"]) == sorted(models), ranking["model"].tolist()
    assert ranking["MAE"].notna().all() and (ranking["MAE"] >= 0).all(), ranking
    assert ranking["n_atoms"].nunique() == 1 and ranking["n_atoms"].iloc[0] > 0
    md = (report / "ranking.md").read_text()
    assert all(f"| {m} |" in md for m in models), md[:3000]
    for name in ("ranking.png", "cutoff_sweep.png", "per_element_heatmap.png"):
        assert_png(report / name)
    cost = pd.read_csv(report / "deployment_cost.csv")
    assert set(cost["model_id"]) >= set(gnn_model_ids({**config["models"], **CI_CONFIG["models"]}))


def test_every_job_ran_through_sbatch(tiny_run):
    jobs = [j for j in tiny_run["jobs"] if not j["local"]]
    local = {j["rule"] for j in tiny_run["jobs"] if j["local"]}
    # localrules: `all`, and slab_settings (writes a few hundred bytes of JSON per lattice x family)
    allowed = {"all", "slab_settings"}
    assert local <= allowed, f"jobs run on the submit host instead of Slurm: {local - allowed}"
    assert {j["rule"] for j in jobs} >= CPU_RULES | GPU_RULES | {"dft_slab", "predict"}
    submitted = set(tiny_run["submissions"].values())
    records = tiny_run["records"]
    for job in jobs:
        log = tiny_run["workdir"] / job["log"].split(",")[0]
        ctx = contexts(log)
        assert ctx, f"{log}: no job context line (rule {job['rule']} not run via log_to?)"
        job_id = ctx[-1].get("slurm_job_id")
        assert job_id in submitted, f"{log}: ran outside the workflow's Slurm jobs ({ctx[-1]})"
        assert records[job_id]["JobState"] == "COMPLETED", f"{log}: Slurm job {records[job_id]}"


def test_partitions(tiny_run):
    records = tiny_run["records"]
    seen = set()
    for job in tiny_run["jobs"]:
        rule = job["rule"]
        if rule not in CPU_RULES | GPU_RULES:
            continue
        ctx = contexts(tiny_run["workdir"] / job["log"].split(",")[0])[-1]
        rec = records[ctx["slurm_job_id"]]
        want = "gpu" if rule in GPU_RULES else "cpu"
        assert rec["Partition"] == want, f"{rule} ran in partition {rec['Partition']}"
        if "slurm_job_partition" in ctx:  # set by srun in the job step
            assert ctx["slurm_job_partition"] == want
        if rule in GPU_RULES:  # Slurm gave the job step its (fake) GPU
            assert ctx.get("cuda_visible_devices"), f"{rule}: no GPU allocated ({ctx})"
        seen.add(rule)
    assert "train" in seen


def test_dft_jobs_are_grouped_and_sized_for_serial_execution(tiny_run):
    """DFT_GROUP slabs per sbatch; each group asks one slab's CPUs (one: surrogate slabs) and the
    sum of its slabs' runtimes."""
    dft = {j["log"]: j for j in tiny_run["jobs"] if j["rule"] == "dft_slab"}
    by_slurm_job: dict[str, list[int]] = {}
    for log, job in dft.items():
        ctx = contexts(tiny_run["workdir"] / log)[-1]
        runtime = int(re.search(r"runtime=(\d+)", job["resources"]).group(1))
        by_slurm_job.setdefault(ctx["slurm_job_id"], []).append(runtime)
    # every slab fits the 24 h limit with 7 others: groups of GROUP_SIZE
    assert len(by_slurm_job) == math.ceil(len(dft) / GROUP_SIZE), by_slurm_job
    for job_id, runtimes in by_slurm_job.items():
        rec = tiny_run["records"][job_id]
        assert int(rec["ProcCnt"]) == 1, rec
        assert minutes(rec["TimeLimit"]) == sum(runtimes), (runtimes, rec["TimeLimit"])


def test_every_slurm_job_asked_for_at_most_the_partition_limit(tiny_run):
    """The limit the profile read from scontrol (no SLURM_MAX_RUNTIME here) bounds every job."""
    assert minutes(partition_max_time("cpu")) == CI_LIMIT_MINUTES
    limits = {j: minutes(r["TimeLimit"]) for j, r in tiny_run["records"].items()}
    mine = set(tiny_run["submissions"].values())
    assert mine <= set(limits), "a submitted job has no Slurm record"
    assert max(limits[j] for j in mine) <= CI_LIMIT_MINUTES, limits


def partition_max_time(partition: str) -> str:
    out = subprocess.run(
        ["scontrol", "--oneliner", "show", "partition", partition],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return re.search(r"MaxTime=(\S+)", out).group(1)


def test_every_job_of_the_study_fits_the_partition_limit(slurm_available, tmp_path):
    """A dry run of the full study (config.yaml) under the Slurm profile on this cluster: every
    Slurm job it would submit (a DFT/EOS group: the sum of its jobs) asks for at most MaxTime."""
    cmd = [str(SNAKEMAKE), "--profile", "slurm", "--profile", ".ci/slurm/profile", "-n"]
    cmd += ["--directory", str(tmp_path), "--configfile", str(ROOT / "config.yaml")]
    env = {k: v for k, v in slurm_env().items() if k != "DFT_GROUP"}
    p = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, env=env)
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]
    groups, largest = dry_run_jobs(p.stdout + p.stderr)
    print(f"\nstudy under a {CI_LIMIT_MINUTES} min limit: {len(groups)} Slurm jobs; "
          f"largest runtime per rule: {largest}")  # fmt: skip
    assert largest["dft_slab"] > 0 and len(groups) > 5000, "not the study's DAG"
    too_long = {g: sum(r) for g, r in groups.items() if sum(r) > CI_LIMIT_MINUTES}
    assert not too_long, f"jobs above the partition limit: {dict(list(too_long.items())[:10])}"
    # the largest GPAW slabs (852 min under floor+eos) fill a group on their own; smaller ones share
    assert max(sum(r) for g, r in groups.items() if g.startswith("dft-")) > CI_LIMIT_MINUTES / 2
    assert max(len(r) for g, r in groups.items() if g.startswith("dft-")) > 1


def test_a_dft_job_killed_at_its_time_limit_resumes_on_the_retry(side_runs):
    """The time-out job: Slurm ends the first attempt (2 min) with TIMEOUT; the retry asks for the
    partition's limit (not 2 x 2 min), resumes the plane-wave relaxation at its checkpoint under
    srun on 2 ranks, and finishes."""
    from magmom.dft.record import read_record

    run = side_runs["timeout"]
    assert run["returncode"] == 0, run["output"][-5000:]
    states = [(r["JobState"], minutes(r["TimeLimit"]), r["Partition"]) for r in run["records"]]
    assert states[0] == ("TIMEOUT", TIMEOUT_FIRST_MINUTES, SHORT_PARTITION), states
    assert states[-1] == ("COMPLETED", SHORT_LIMIT_MINUTES, SHORT_PARTITION), states
    assert all(limit == SHORT_LIMIT_MINUTES for _, limit, _ in states[1:]), states
    rec = read_record(run["workdir"] / TINY.dft_record(TIMEOUT_SLAB))
    assert rec["status"] == "ok" and rec["parallel"]["world_size"] == 2, rec.get("reason")
    pw = [a for a in rec["scf_attempts"] if a["stage"] == "pw"]
    assert pw[0]["outcome"] == "interrupted", pw[0]
    log = (run["workdir"] / TINY.log("dft", TIMEOUT_SLAB)).read_text()
    assert "starting 2 MPI ranks: srun --ntasks=2" in log, log[-3000:]
    # the retry (the log holds its run) resumes: LCAO not redone, the relaxation at its checkpoint
    assert "lcao: finished in an earlier run" in log, log[-3000:]
    resumed_at = re.search(r"pw: resuming at ionic step (\d+)", log)
    assert resumed_at, log[-3000:]
    assert pw[-1]["outcome"] == "converged", pw[-1]
    assert pw[-1]["first_ionic_step"] == int(resumed_at.group(1)), pw[-1]


def test_gpaw_slabs_ran_on_two_mpi_ranks_and_match_a_serial_run(side_runs, tmp_path):
    """Real GPAW under srun with 2 tasks; a serial run of the same slab gives the same moments."""
    import numpy as np

    from magmom.dft.label import LabelSettings, label_slab_from_db
    from magmom.dft.record import read_record

    run = side_runs["mpi"]
    assert run["returncode"] == 0, run["output"][-5000:]
    assert [r["JobState"] for r in run["records"]] == ["COMPLETED"], run["records"]
    workdir, slab_id = run["workdir"], run["slab_id"]
    config = yaml.safe_load((ROOT / "config.yaml").read_text())
    for override in (ROOT / "presets" / "tiny.yaml", run["config"]):
        _merge(config, yaml.safe_load(Path(override).read_text()))
    rec = read_record(workdir / TINY.dft_record(slab_id))
    assert rec["labeller"] == "gpaw" and rec["status"] == "ok", (slab_id, rec.get("reason"))
    assert rec["parallel"]["world_size"] == 2, rec["parallel"]
    assert rec["parallel"]["gpaw_build"]["mpi"] is True
    for stage in ("lcao", "pw"):
        layout = rec["parallel"]["layout"][stage]
        assert layout["kpt"] * layout["domain"] * layout["band"] == 2, layout
    log = (workdir / TINY.log("dft", slab_id)).read_text()
    assert "starting 2 MPI ranks: srun --ntasks=2" in log, log[-3000:]
    # moments that are there: comparing ~0 with ~0 would prove nothing
    assert np.min(np.abs(rec["magmoms"])) > 0.1, (slab_id, rec["magmoms"])
    # the serial run starts from the Slurm job's pre-relaxed geometry (its checkpoint)
    (tmp_path / slab_id).mkdir(parents=True)
    shutil.copy(workdir / TINY.dft_workdir(slab_id) / "prerelax.json", tmp_path / slab_id)
    serial = label_slab_from_db(
        workdir / TINY.initial_slabs(),
        slab_id,
        LabelSettings.of({**config, "labeller": "gpaw"}),
        tmp_path / slab_id,
        tmp_path / f"{slab_id}.json",
    )
    assert serial["parallel"]["world_size"] == 1
    diff = np.max(np.abs(np.subtract(rec["magmoms"], serial["magmoms"])))
    print(f"{slab_id}: moments {rec['magmoms']} on 2 ranks vs serial: max difference {diff:.2e} μB")
    np.testing.assert_allclose(rec["magmoms"], serial["magmoms"], atol=1e-4, rtol=0)


def _merge(base: dict, override: dict) -> None:
    """Snakemake's --configfile layering: nested dicts merge, everything else replaces."""
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            _merge(base[key], value)
        else:
            base[key] = value
