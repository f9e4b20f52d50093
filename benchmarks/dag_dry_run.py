"""Time and peak memory of planning the full study: `snakemake -n` on config.yaml.

The full study is ~23k enumerated slabs (19,651 in the published set), 64 GNNs and 14 baselines
(78 ranked models). Goals on a 2-core machine: <= 20 s and <= 1 GB for the dry run (issue 23).
Also measured, because every Slurm job re-parses the Snakefile: planning one dft_slab job of the
full study (parse + a one-job DAG), and the same dry runs of the tiny preset as the in-run
reference. The warm full dry run is also timed with the workflow's Snakemake speed-ups turned
off (MAGMOM_DAG_SPEEDUPS=0, magmom/dag_speedups.py) as the in-run reference of what they save, and
printing every job (no ``--quiet``) both ways. ``--profile`` adds where the time of a warm full dry
run goes (cProfile).

Each case runs `snakemake` in a fresh working directory (so the slab-index cache starts cold);
the cold run builds `.snakemake/magmom`, the warm run reuses it, as every later invocation does.

    .venv/bin/python benchmarks/dag_dry_run.py            # full study + tiny reference
    .venv/bin/python benchmarks/dag_dry_run.py --profile  # + where the time goes (cProfile)
    .venv/bin/python benchmarks/dag_dry_run.py --only-profile   # only that
    .venv/bin/python benchmarks/dag_dry_run.py --slurm-limits 1440 4320  # Slurm job sizes
    .venv/bin/python benchmarks/dag_dry_run.py --compare OLD_TREE --repeats 3  # A/B, CPU time
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SNAKEMAKE = Path(sys.executable).with_name("snakemake")
GOAL_SECONDS = 20.0
GOAL_MB = 1024.0
# The environment of a run without the workflow's Snakemake speed-ups (magmom/dag_speedups.py).
WITHOUT_SPEEDUPS = {**os.environ, "MAGMOM_DAG_SPEEDUPS": "0"}

# Runs a command and prints its peak RSS (KiB) and CPU seconds (user + system): the CPU time does
# not depend on what else the machine is doing, the wall time does.
_RUSAGE = (
    "import resource, subprocess, sys\n"
    "p = subprocess.run(sys.argv[1:], capture_output=True, text=True)\n"
    "sys.stderr.write(p.stdout + p.stderr)\n"
    "r = resource.getrusage(resource.RUSAGE_CHILDREN)\n"
    "print(r.ru_maxrss, r.ru_utime + r.ru_stime)\n"
    "sys.exit(p.returncode)\n"
)


def snakemake_cmd(
    configfiles: list[Path], *args: str, quiet: bool = True, root: Path = ROOT
) -> list[str]:
    return [
        str(SNAKEMAKE),
        "--snakefile",
        str(root / "Snakefile"),
        "--configfile",
        *map(str, configfiles),
        "--dry-run",
        *(("--quiet", "rules") if quiet else ()),
        "--cores",
        "1",
        *args,
    ]


def measure(cmd: list[str], workdir: Path, env: dict | None = None) -> dict:
    """Wall time (s), peak RSS (MB) and the job counts of one dry run."""
    t0 = time.perf_counter()
    p = subprocess.run(
        [sys.executable, "-c", _RUSAGE, *cmd], cwd=workdir, capture_output=True, text=True, env=env
    )
    seconds = time.perf_counter() - t0
    if p.returncode != 0:
        sys.exit(f"dry run failed in {workdir}:\n{' '.join(cmd)}\n{p.stderr[-3000:]}")
    counts = {
        m.group(1): int(m.group(2))
        for m in re.finditer(r"^(\w+)\s+(\d+)\s*$", p.stderr, re.MULTILINE)
    }
    maxrss, cpu = p.stdout.split()[-2:]
    return {"seconds": seconds, "cpu_s": float(cpu), "peak_mb": int(maxrss) / 1024, "jobs": counts}


def case(
    workdir: Path,
    configfiles: list[Path],
    target: list[str] | None = None,
    env: dict | None = None,
    quiet: bool = True,
) -> dict:
    """A cold dry run (when ``workdir`` has no slab-index cache yet), then a warm one."""
    cmd = snakemake_cmd(configfiles, *(target or []), quiet=quiet)
    cold = None
    if not (workdir / ".snakemake" / "magmom").exists():
        cold = measure(cmd, workdir, env)
    warm = measure(cmd, workdir, env)
    return {"cold": cold or warm, "warm": warm}


def layout_of(configfiles: list[Path]):
    """The config's results tree (:class:`magmom.layout.Layout`) and the config itself."""
    sys.path.insert(0, str(ROOT))
    from magmom.layout import Layout
    from magmom.training.cli import load_config

    config = load_config(configfiles[0], configfiles[1:])
    return Layout.of(config), config


def first_slab_target(configfiles: list[Path]) -> str:
    """One dft_slab output of the config (the planning a single Slurm DFT job does)."""
    from magmom.recipe import slab_index

    paths, config = layout_of(configfiles)
    with tempfile.TemporaryDirectory() as cache:
        ids = slab_index(config, cache_dir=cache)
    return paths.dft_record(ids[len(ids) // 2])


# Where a dry run's time goes: cumulative seconds of these functions in a cProfile of it
# (nested: the DAG includes the resource and group functions; the rest is start-up and output).
BREAKDOWN = [
    ("plugin imports (CLI)", "plugin_registry/__init__.py", "collect_plugins"),
    ("  of which scontrol", "executor_plugin_slurm/job_status_query.py", "get_min_job_age"),
    ("Snakefile parse", "snakemake/workflow.py", "include"),
    ("  slab index", "magmom/recipe/index.py", "slab_index"),
    ("  time limit (scontrol)", "magmom/slurm_limits.py", "resolve"),
    ("DAG (build + postprocess)", "snakemake/dag.py", "init"),
    ("  rule/wildcard matching", "snakemake/dag.py", "file2jobs"),
    ("  job resources", "snakemake/jobs.py", "resources"),
    ("  of which DFT sizes", "rules/dft.smk", "size"),
    ("  groups", "snakemake/dag.py", "update_groups"),
    ("  needrun / file checks", "snakemake/dag.py", "update_needrun"),
    ("dry-run output", "snakemake/scheduling/job_scheduler.py", "schedule"),
]


def breakdown(prof: Path) -> list[tuple[str, float]]:
    """``[(label, cumulative s)]`` of :data:`BREAKDOWN` in a cProfile file, and the total."""
    import pstats

    stats = pstats.Stats(str(prof)).stats
    rows = []
    for label, filename, func in BREAKDOWN:
        ct = sum(
            v[3]
            for (fname, _, name), v in stats.items()
            if name == func and fname.replace("\\", "/").endswith(filename)
        )
        rows.append((label, ct))
    total = max(v[3] for v in stats.values())
    return rows + [("total (profiled)", total)]


def profile_run(configfiles: list[Path], out: Path, *args: str) -> list[tuple[str, float]]:
    """cProfile of one warm dry run (a first run fills the slab-index cache)."""
    workdir = Path(tempfile.mkdtemp(prefix="magmom-dag-profile-"))
    try:
        cmd = snakemake_cmd(configfiles, *args)
        subprocess.run(cmd, cwd=workdir, capture_output=True, check=True)
        cmd = [sys.executable, "-m", "cProfile", "-o", str(out), "-m", "snakemake", *cmd[1:]]
        subprocess.run(cmd, cwd=workdir, capture_output=True, check=True)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return breakdown(out)


def print_breakdown(name: str, rows: list[tuple[str, float]]) -> None:
    total = rows[-1][1]
    print(f"where the time goes, {name} (cProfile, s; indented rows are part of the row above):")
    for label, seconds in rows:
        print(f"  {label:<30}{seconds:>8.2f}{100 * seconds / total:>7.0f} %")


def profile_warm(configfiles: list[Path], out: Path) -> None:
    """Breakdown of a warm full-study dry run, without and with the Slurm profile."""
    print_breakdown("study, no profile", profile_run(configfiles, out))
    slurm = ("--profile", str(ROOT / "profiles" / "slurm"), "--sdm", "env-modules")
    print_breakdown("study, --profile slurm", profile_run(configfiles, out, *slurm))
    import pstats

    pstats.Stats(str(out)).sort_stats("cumulative").print_stats(25)


def compare(reference: Path, repeats: int) -> None:
    """The warm full dry run (``-q``) of a reference tree (an older checkout of this repository)
    against this tree, with and without the speed-ups, interleaved ``repeats`` times (each case in
    its own working directory, warmed first): medians of CPU time (user + system), wall time and
    peak memory, and their ratios to the reference. On a loaded machine compare the CPU times."""
    cases = {
        "reference": (reference, None),
        "this tree": (ROOT, None),
        "this tree, no speed-ups": (ROOT, WITHOUT_SPEEDUPS),
    }
    runs = {name: [] for name in cases}
    dirs = {name: Path(tempfile.mkdtemp(prefix="magmom-dag-ab-")) for name in cases}
    try:
        for repeat in range(repeats + 1):  # round 0 fills each slab-index and code cache
            order = list(cases) if repeat % 2 else list(reversed(cases))
            for name in order:
                root, env = cases[name]
                cmd = snakemake_cmd([root / "config.yaml"], root=root)
                r = measure(cmd, dirs[name], env)
                if repeat:
                    runs[name].append(r)
    finally:
        for d in dirs.values():
            shutil.rmtree(d, ignore_errors=True)
    jobs = {name: r[0]["jobs"].get("total", 0) for name, r in runs.items()}
    if len(set(jobs.values())) != 1:
        sys.exit(f"the trees plan different numbers of jobs: {jobs}")

    def median(name, key):
        return statistics.median(r[key] for r in runs[name])

    ref_cpu, ref_wall = median("reference", "cpu_s"), median("reference", "seconds")
    print(f"study dry run (-q, warm, {jobs['reference']} jobs), medians of {repeats} interleaved:")
    print(f"  {'case':<26}{'cpu s':>8}{'x ref':>7}{'wall s':>8}{'x ref':>7}{'peak MB':>9}")
    for name in cases:
        cpu, wall = median(name, "cpu_s"), median(name, "seconds")
        print(
            f"  {name:<26}{cpu:>8.1f}{cpu / ref_cpu:>7.2f}{wall:>8.1f}{wall / ref_wall:>7.2f}"
            f"{median(name, 'peak_mb'):>9.0f}"
        )
        print("    cpu s per run: " + ", ".join(f"{r['cpu_s']:.1f}" for r in runs[name]))


def slurm_sizes(configfiles: list[Path], limits: list[int]) -> None:
    """The study under profiles/slurm at each time limit (SLURM_MAX_RUNTIME, minutes): Slurm jobs,
    the largest runtime asked per rule and per Slurm job, first attempts and retries."""
    sys.path.insert(0, str(ROOT))
    from magmom.slurm_limits import dry_run_jobs

    workdir = Path(tempfile.mkdtemp(prefix="magmom-dag-slurm-"))
    try:
        for limit in limits:
            for attempt in (1, 2):
                cmd = snakemake_cmd(configfiles, "--profile", str(ROOT / "profiles" / "slurm"))
                cmd = [c for c in cmd if c not in ("--quiet", "rules")]
                cmd += ["--sdm", "env-modules", "--attempt", str(attempt)]
                env = {**os.environ, "SLURM_MAX_RUNTIME": str(limit)}
                env.pop("DFT_GROUP", None)
                p = subprocess.run(cmd, cwd=workdir, capture_output=True, text=True, env=env)
                if p.returncode != 0:
                    sys.exit(p.stderr[-3000:])
                jobs, largest = dry_run_jobs(p.stdout + p.stderr)
                totals = {j: sum(r) for j, r in jobs.items()}
                dft = [t for j, t in totals.items() if j.startswith("dft-")]
                slabs = sum(len(r) for j, r in jobs.items() if j.startswith("dft-"))
                print(
                    f"limit {limit} min, attempt {attempt}: {len(jobs)} Slurm jobs "
                    f"({len(dft)} DFT groups of {slabs} slabs), largest Slurm job "
                    f"{max(totals.values())} min (ratio to the limit "
                    f"{max(totals.values()) / limit:.2f})"
                )
                print(
                    "  largest runtime per rule: "
                    + ", ".join(f"{k} {v}" for k, v in largest.items())
                )
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--profile", action="store_true", help="cProfile the warm full dry run")
    ap.add_argument("--json", type=Path, help="also write the numbers to this file")
    ap.add_argument("--only-profile", action="store_true", help="only the cProfile breakdown")
    ap.add_argument(
        "--slurm-limits",
        type=int,
        nargs="*",
        metavar="MIN",
        help="only the study's Slurm job sizes under these time limits (e.g. 1440 4320)",
    )
    ap.add_argument(
        "--compare",
        type=Path,
        metavar="TREE",
        help="only the warm full dry run of TREE (an older checkout) against this tree, A/B",
    )
    ap.add_argument("--repeats", type=int, default=3, help="interleaved rounds of --compare")
    args = ap.parse_args()

    full = [ROOT / "config.yaml"]
    if args.compare:
        compare(args.compare.resolve(), args.repeats)
        return
    if args.slurm_limits:
        slurm_sizes(full, args.slurm_limits)
        return
    if args.only_profile:
        profile_warm(full, Path(tempfile.gettempdir()) / "magmom-dag.prof")
        return
    tiny = [ROOT / "config.yaml", ROOT / "presets" / "tiny.yaml"]
    tiny_dir = Path(tempfile.mkdtemp(prefix="magmom-dag-tiny-"))
    full_dir = Path(tempfile.mkdtemp(prefix="magmom-dag-full-"))
    try:
        results = {
            "tiny": case(tiny_dir, tiny),
            "full": case(full_dir, full),
            # the cache exists from here on: these are warm only
            "full_no_speedups": case(full_dir, full, env=WITHOUT_SPEEDUPS),
            "full_printed": case(full_dir, full, quiet=False),
            "full_printed_no_speedups": case(full_dir, full, env=WITHOUT_SPEEDUPS, quiet=False),
            "full_one_dft_job": case(full_dir, full, [first_slab_target(full)]),
            "full_one_model": case(full_dir, full, [layout_of(full)[0].checkpoint("cgconv-r4")]),
        }
    finally:
        shutil.rmtree(tiny_dir, ignore_errors=True)
        shutil.rmtree(full_dir, ignore_errors=True)

    tiny_w, full_c, full_w = (
        results["tiny"]["warm"],
        results["full"]["cold"],
        results["full"]["warm"],
    )
    n_full = full_w["jobs"].get("total", 0)
    n_tiny = tiny_w["jobs"].get("total", 0)
    print(
        f"{'case':<20}{'jobs':>7}{'cold s':>8}{'cold cpu':>9}{'warm s':>8}{'warm cpu':>9}"
        f"{'cold MB':>9}{'warm MB':>9}"
    )
    for name, r in results.items():
        c, w = r["cold"], r["warm"]
        print(
            f"{name:<20}{w['jobs'].get('total', 0):>7}{c['seconds']:>8.1f}{c['cpu_s']:>9.1f}"
            f"{w['seconds']:>8.1f}{w['cpu_s']:>9.1f}{c['peak_mb']:>9.0f}{w['peak_mb']:>9.0f}"
        )
    one_model = results["full_one_model"]["warm"]["jobs"]
    print(
        "one model's target plans: "
        + ", ".join(f"{k} {v}" for k, v in sorted(one_model.items()) if k != "total")
    )
    per_job_ms = 1000 * (full_w["seconds"] - tiny_w["seconds"]) / max(n_full - n_tiny, 1)
    print(f"full study: {n_full} jobs, {per_job_ms:.2f} ms per extra job over the tiny preset")
    print(f"full/tiny warm time ratio: {full_w['seconds'] / tiny_w['seconds']:.1f}x")
    print(
        f"goal ratios (<= 1 meets the goal): time {full_w['seconds'] / GOAL_SECONDS:.2f} warm "
        f"(cpu {full_w['cpu_s'] / GOAL_SECONDS:.2f}), {full_c['seconds'] / GOAL_SECONDS:.2f} cold "
        f"(cpu {full_c['cpu_s'] / GOAL_SECONDS:.2f}); "
        f"memory {max(full_w['peak_mb'], full_c['peak_mb']) / GOAL_MB:.2f}"
    )
    for name in ("full", "full_printed"):
        ref, new = results[f"{name}_no_speedups"]["warm"], results[name]["warm"]
        print(
            f"{name} with/without the Snakemake speed-ups (magmom/dag_speedups.py): "
            f"wall {new['seconds'] / ref['seconds']:.2f}, cpu {new['cpu_s'] / ref['cpu_s']:.2f}"
        )
    one_dft = results["full_one_dft_job"]["warm"]["seconds"]
    print(
        f"one Slurm DFT job's planning: {one_dft:.1f} s "
        f"({one_dft / full_w['seconds']:.2f}x the full dry run)"
    )
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    if args.profile:
        profile_warm(full, Path(tempfile.gettempdir()) / "magmom-dag.prof")


if __name__ == "__main__":
    main()
