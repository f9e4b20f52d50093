"""magmom.dag_speedups: Snakemake answers per rule/function what it recomputed per job, same DAG.

Real Snakemake dry runs of small Snakefiles in tmp_path (a few jobs each), with the workflow's
switch MAGMOM_DAG_SPEEDUPS=0 as the control: the unpatched Snakemake reads a rule's script once per
job and recomputes a function's signature on every call; patched, once per rule and per function,
while a missing script still fails and the tiny preset's dry run prints the same jobs.
"""

from __future__ import annotations

import functools
import inspect
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import snakemake.common
import snakemake.jobs
import snakemake.rules

from magmom import dag_speedups

ROOT = Path(__file__).resolve().parents[1]

# Counts the script reads of snakemake's DAG check (snakemake.script.get_source) and the jobs handed
# to Job.log_info (the dry run's job printing) into a file.
SNAKEFILE_HEAD = f"""
import atexit, json, os, sys
sys.path.insert(0, {str(ROOT)!r})
from magmom import dag_speedups
dag_speedups.install()
import snakemake.jobs, snakemake.script
_calls = {{"script_reads": 0, "job_infos": 0}}
def _counting(name, function):
    def counted(*args, **kwargs):
        _calls[name] += 1
        return function(*args, **kwargs)
    return counted
snakemake.script.get_source = _counting("script_reads", snakemake.script.get_source)
snakemake.jobs.Job.log_info = _counting("job_infos", snakemake.jobs.Job.log_info)
atexit.register(lambda: open("calls.json", "w").write(json.dumps(_calls)))
"""


def calls(workdir: Path) -> dict:
    return json.loads((workdir / "calls.json").read_text())


def dry_run(workdir: Path, snakefile: str, speedups: bool, *args: str):
    (workdir / "Snakefile").write_text(SNAKEFILE_HEAD + snakefile)
    env = {**os.environ, dag_speedups.ENV: "1" if speedups else "0"}
    return subprocess.run(
        [sys.executable, "-m", "snakemake", "-n", "--cores", "1", *args],
        cwd=workdir, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip


STATIC_SCRIPT = """
rule all:
    input: expand("out/{i}.txt", i=range(5))

rule make:
    output: "out/{i}.txt"
    params: i=lambda wildcards: int(wildcards.i)
    script: "make.py"
"""


def test_a_static_script_is_read_once_per_rule_not_per_job(tmp_path):
    (tmp_path / "make.py").write_text("open(snakemake.output[0], 'w').close()\n")
    for speedups, reads in ((False, 5), (True, 1)):
        p = dry_run(tmp_path, STATIC_SCRIPT, speedups)
        assert p.returncode == 0, p.stderr[-3000:]
        assert re.search(r"^make\s+5$", p.stdout + p.stderr, re.MULTILINE)
        assert calls(tmp_path)["script_reads"] == reads, f"speedups={speedups}"


def test_a_quiet_dry_run_formats_no_job_info_but_still_evaluates_resources(tmp_path):
    """-q: Snakemake formats each job's info and drops it; patched, it formats none. Printed (no
    -q), every job's info is formatted as before; a failing resource function fails either way."""
    (tmp_path / "make.py").write_text("open(snakemake.output[0], 'w').close()\n")
    for speedups, args, infos in (
        (False, ("-q", "rules"), 6),
        (True, ("-q", "rules"), 0),
        (True, ("-q",), 0),
        (True, (), 6),
    ):
        p = dry_run(tmp_path, STATIC_SCRIPT, speedups, *args)
        assert p.returncode == 0, p.stderr[-3000:]
        assert calls(tmp_path)["job_infos"] == infos, (speedups, args)
        if args != ("-q",):  # plain -q leaves out the job counts too
            assert re.search(r"^make\s+5$", p.stdout + p.stderr, re.MULTILINE)
    failing = STATIC_SCRIPT.replace(
        "    script:",
        "    resources: mem_mb=lambda wildcards: 1 // (int(wildcards.i) - 3)\n    script:",
    )
    for speedups in (False, True):
        p = dry_run(tmp_path, failing, speedups, "-q", "rules")
        assert p.returncode != 0, f"speedups={speedups}"
        assert "ZeroDivisionError" in p.stdout + p.stderr


def test_a_missing_script_still_fails(tmp_path):
    for speedups in (False, True):
        p = dry_run(tmp_path, STATIC_SCRIPT, speedups)
        assert p.returncode != 0
        assert f"No such file or directory: '{tmp_path / 'make.py'}'" in p.stdout + p.stderr


def test_a_script_path_with_wildcards_is_still_checked_per_job(tmp_path):
    snakefile = STATIC_SCRIPT.replace('"make.py"', '"make-{wildcards.i}.py"').replace(
        "range(5)", "range(2)"
    )
    for i in (0, 1):
        (tmp_path / f"make-{i}.py").write_text("open(snakemake.output[0], 'w').close()\n")
    p = dry_run(tmp_path, snakefile, True)
    assert p.returncode == 0, p.stderr[-3000:]
    assert calls(tmp_path)["script_reads"] == 2
    (tmp_path / "make-1.py").unlink()
    p = dry_run(tmp_path, snakefile, True)
    assert p.returncode != 0
    assert f"No such file or directory: '{tmp_path / 'make-1.py'}'" in p.stdout + p.stderr


class _Evaluator:
    def evaluate(self, wildcards, attempt, **kwargs):
        return attempt


def _size(wildcards, attempt, input=None):
    return attempt


def test_function_parameters_are_computed_once_per_function():
    dag_speedups.cache_function_params()
    get = snakemake.common.get_function_params
    shipped = get.__wrapped__  # Snakemake's own: a new signature on every call
    before = shipped(_size)
    assert shipped(_size) is not before
    # the modules that imported the name use the cached one too
    assert snakemake.rules.get_function_params is get
    assert snakemake.jobs.get_function_params is get
    assert get(_size) is get(_size)
    assert dict(get(_size)) == dict(before) == dict(inspect.signature(_size).parameters)
    # bound methods: one entry for the function, parameters without self
    a, b = _Evaluator().evaluate, _Evaluator().evaluate
    assert get(a) is get(b)
    assert list(get(a)) == ["wildcards", "attempt", "kwargs"]
    # other callables are answered as before, uncached
    part = functools.partial(_size, attempt=2)
    assert list(get(part)) == list(inspect.signature(part).parameters)
    assert get(part) is not get(part)

    # Snakemake's own override still wins
    def over(wildcards, *args):
        return 1

    snakemake.common.overwrite_function_params(over, {"wildcards": None})
    assert get(over) == {"wildcards": None}
    # installing twice wraps once
    dag_speedups.cache_function_params()
    assert snakemake.common.get_function_params is get


def sorted_list(items: str) -> str:
    """A printed list in a fixed order: "a, b; Why: c" -> "Why|a|b|c"."""
    return "|".join(sorted(re.split(r"[,;:] ", items)))


def normalized(text: str, workdir: Path) -> list[str]:
    """A printed dry run as the sorted list of its blocks (a job or a group header each), without
    what differs between any two runs: start times, the run's id, job ids, the order of
    independent jobs and of the file lists (reason, input) of a job."""
    text = text.replace(str(workdir), "<workdir>")
    varying = r"\[\w{3} \w{3} [^\]\n]*\] ?|Workflow ID: .*|Date: .*|^\s*jobid: \d+\n"
    text = re.sub(varying, "", text, flags=re.M)
    text = re.sub(r"^(\s*\w+: )(.*, .*)$", lambda m: m[1] + sorted_list(m[2]), text, flags=re.M)
    blocks = re.split(r"\n\s*\n|\n(?=\s*(?:rule|localrule) \w+:|Group job )", text)
    return sorted(b.strip("\n") for b in blocks)


def test_the_tiny_preset_plans_the_same_jobs_with_and_without(tmp_path):
    """The workflow's own dry run, jobs printed: the same jobs, inputs, resources and reasons."""
    outputs = []
    for speedups in (False, True):
        workdir = tmp_path / str(speedups)
        workdir.mkdir()
        env = {**os.environ, dag_speedups.ENV: "1" if speedups else "0"}
        p = subprocess.run(
            [
                sys.executable, "-m", "snakemake", "-n", "--cores", "1",
                "--snakefile", str(ROOT / "Snakefile"),
                "--configfile", str(ROOT / "config.yaml"), str(ROOT / "presets" / "tiny.yaml"),
            ],
            cwd=workdir, env=env, capture_output=True, text=True, timeout=600,
        )  # fmt: skip
        assert p.returncode == 0, p.stderr[-3000:]
        outputs.append(normalized(p.stdout + p.stderr, workdir))
    assert sum(b.lstrip().startswith("rule dft_slab:") for b in outputs[0]) > 1
    assert outputs[0] == outputs[1], set(outputs[0]) ^ set(outputs[1])


# Counts, into calls.json, how often Snakemake looks for the producers of a file (OutputIndex.match,
# which match_producers calls), checks a producing job it found (DAG.update checks its wildcards
# first), expands a job's group and evaluates a resource.
COUNTING_HEAD = """
import snakemake.dag, snakemake.output_index, snakemake.resources, snakemake.rules
_calls.update(producer_searches=0, producer_checks=0, group_expansions=0, resource_evaluations=0)
snakemake.dag.DAG.check_periodic_wildcards = _counting(
    "producer_checks", snakemake.dag.DAG.check_periodic_wildcards
)
snakemake.output_index.OutputIndex.match = _counting(
    "producer_searches", snakemake.output_index.OutputIndex.match
)
snakemake.rules.Rule.expand_group = _counting("group_expansions", snakemake.rules.Rule.expand_group)
snakemake.resources.Resource.evaluate = _counting(
    "resource_evaluations", snakemake.resources.Resource.evaluate
)
"""

# Five jobs of `make` whose outputs two rules ask for (the default target and `gather`), a group
# function that groups only job 0 (with --group-components), a constant and a function resource.
SHARED_FILES = (
    COUNTING_HEAD
    + """
rule all:
    input: expand("out/{i}.txt", i=range(5)), "gathered.txt"

rule gather:
    input: expand("out/{i}.txt", i=range(5))
    output: "gathered.txt"
    shell: "cat {input} > {output}"

rule make:
    output: "out/{i}.txt"
    group: lambda wildcards: "first" if wildcards.i == "0" else None
    threads: 1
    resources: mem_mb=100, runtime=lambda wildcards, attempt: 10 * (int(wildcards.i) + 1)
    shell: "touch {output}"
"""
)


def test_shared_files_groups_and_constant_resources_are_looked_at_once(tmp_path):
    """A file asked for by two jobs: its producers are searched once, and the job found checked
    once; a job without a group:
    its group function is called once, not on every look-up; a constant resource is taken as it
    is. The printed dry run (jobs, groups, wildcards, threads, resources) is the same."""
    printed = {}
    for speedups in (False, True):
        p = dry_run(tmp_path, SHARED_FILES, speedups, "--group-components", "first=1")
        assert p.returncode == 0, p.stderr[-3000:]
        n = calls(tmp_path)
        if speedups:
            # out/0..4 (twice each), gathered.txt: one search per file
            assert n["producer_searches"] == 6, n
            # and the job found is checked once: all, gather, 5 x make
            assert n["producer_checks"] == 7, n
            # one call per job (5 of make, gather, all): a group, once found, was kept already
            assert n["group_expansions"] == 7, n
            # runtime (a function) of each make job and tmpdir (Snakemake's default, an
            # expression) of every job; each job's threads (a constant) is taken as it is
            assert n["resource_evaluations"] == 5 + 7, n
        else:
            assert n["producer_searches"] == 11, n
            assert n["producer_checks"] == 12, n
            assert n["group_expansions"] > 7, n
            assert n["resource_evaluations"] == 5 + 7 + 7, n
        printed[speedups] = normalized(p.stdout + p.stderr, tmp_path)
    assert printed[False] == printed[True], set(printed[False]) ^ set(printed[True])
    text = "\n".join(printed[True])
    assert "runtime=50" in text and "mem_mb=100" in text and "Group job first" in text


def test_a_file_no_rule_produces_still_fails(tmp_path):
    missing = SHARED_FILES.replace('"gathered.txt"\n', '"gathered.txt", "nowhere.txt"\n', 1)
    for speedups in (False, True):
        p = dry_run(tmp_path, missing, speedups)
        assert p.returncode != 0, f"speedups={speedups}"
        assert "MissingInputException" in p.stdout + p.stderr
        assert "nowhere.txt" in p.stdout + p.stderr


def test_a_cycle_is_still_found(tmp_path):
    """The producer of y.txt (rule a) is in the DAG already, half-built, when rule b asks for it."""
    cyclic = """
rule all:
    input: "y.txt"

rule a:
    input: "x.txt"
    output: "y.txt"
    shell: "touch {output}"

rule b:
    input: "y.txt"
    output: "x.txt"
    shell: "touch {output}"
"""
    for speedups in (False, True):
        p = dry_run(tmp_path, cyclic, speedups)
        assert p.returncode != 0, f"speedups={speedups}"
        assert "CyclicGraphException" in p.stdout + p.stderr, p.stderr[-2000:]


def test_flags_are_read_the_same_by_type():
    """is_flagged by type: a plain str has no flags, an IOFile or AnnotatedString answers itself,
    anything else as before; the modules that imported the name use it."""
    import snakemake.io as io

    dag_speedups.check_flags_by_type()
    by_type = io.is_flagged
    shipped = by_type.__wrapped__
    assert shipped is not by_type
    assert snakemake.jobs.is_flagged is by_type and snakemake.rules.is_flagged is by_type
    values = [
        "plain",
        io.IOFile("out/a.txt"),
        io.temp("out/b.txt"),
        io.ancient("in/c.txt"),
        io.IOFile(io.protected("out/d.txt")),
        io.unpack(lambda wildcards: {}),
        lambda wildcards: "x",
        Path("p"),
        ["a"],
        None,
    ]
    for value in values:
        for flag in ("temp", "ancient", "protected", "unpack", "storage_object", "directory"):
            assert by_type(value, flag) == shipped(value, flag), (value, flag)
    assert by_type(values[2], "temp") and by_type(values[3], "ancient")
    assert by_type(values[4], "protected") and not by_type(values[1], "temp")
    dag_speedups.check_flags_by_type()  # installing twice wraps once
    assert io.is_flagged is by_type


def test_an_output_inside_another_jobs_output_still_fails(tmp_path):
    nested = """
rule all:
    input: "d", "d/x.txt", "e/y.txt"

rule dir:
    output: directory("d")
    shell: "mkdir -p {output}"

rule inside:
    output: "d/x.txt"
    shell: "touch {output}"

rule beside:
    output: "e/y.txt"
    shell: "touch {output}"
"""
    for speedups in (False, True):
        p = dry_run(tmp_path, nested, speedups)
        assert p.returncode != 0, f"speedups={speedups}"
        assert "ChildIOException" in p.stdout + p.stderr, p.stderr[-2000:]
        assert f"{tmp_path}/d/x.txt" in p.stdout + p.stderr
    for speedups in (False, True):  # beside one another: no error
        p = dry_run(tmp_path, nested.replace('"d/x.txt"', '"dx.txt"'), speedups)
        assert p.returncode == 0, p.stderr[-2000:]
