"""The Slurm time limit and the job runtimes it implies (``profiles/slurm``).

One site setting, :data:`ENV` (``SLURM_MAX_RUNTIME``: minutes, or a Slurm time such as
``3-00:00:00``), else the ``MaxTime`` of the partitions the jobs go to, read once per Snakemake
process with ``scontrol show partition`` under a :data:`SCONTROL_TIMEOUT_S` timeout (a login node
whose controller does not answer costs at most that, and then ``slurm.conf`` is read instead); no
limit when none of them knows one (a partition with ``MaxTime=UNLIMITED``). The workflow resolves
it when the Snakefile is parsed (:func:`resolve`) and exports it under :data:`ENV`, so the Slurm
jobs (which re-parse the Snakefile) and the profile's resource expressions (:func:`runtime`) see
the same number.

With a limit :math:`L` (minutes) every job asks for at most :math:`L`:

- a job of estimate :math:`t` asks for :math:`\\min(k\\,t, L)` on attempt :math:`k`;
- a job that resumes asks for :math:`L` on its retries, not :math:`k\\,t`: DFT (and EOS) resume
  from their work directories and training from ``last.pt``, so a retry's time adds to what
  the attempt before it did;
- DFT and EOS jobs run one after the other inside a Slurm job of several (the profile's groups):
  :func:`pack` puts as many into one group as fit :math:`\\sum_i \\min(t_i, L) \\le L` (a job
  whose own estimate reaches :math:`L` runs alone), and on a retry job :math:`i` of group
  :math:`g` asks :math:`\\lfloor L\\, t_i / \\sum_{j\\in g} t_j \\rfloor` (:func:`retry_share`),
  so the retried group asks for :math:`L` in all.

Without a limit the sizes are those of the estimate, times the attempt on retries.
"""

from __future__ import annotations

import math
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path

ENV = "SLURM_MAX_RUNTIME"
# The profile's partitions (profiles/slurm/config.yaml reads the same variables, same defaults)
PARTITION_ENVS = {"SLURM_PARTITION_CPU": "cpu", "SLURM_PARTITION_GPU": "gpu"}
# At most this many DFT (EOS) jobs in one Slurm job; unset: as many as fit the time limit (4
# without a limit)
MAX_GROUP_ENV = "DFT_GROUP"
DEFAULT_GROUP_WITHOUT_LIMIT = 4
SCONTROL_TIMEOUT_S = 3.0
UNLIMITED = ("UNLIMITED", "INFINITE")

_resolved: dict[str, int | None] = {}


def parse_minutes(text: str) -> int | None:
    """A Slurm time (``MM``, ``MM:SS``, ``HH:MM:SS``, ``D-HH``, ``D-HH:MM``, ``D-HH:MM:SS``) in
    whole minutes (seconds round up); None for ``UNLIMITED``/``INFINITE``."""
    text = str(text).strip()
    if text.upper() in UNLIMITED:
        return None
    m = re.fullmatch(r"(?:(\d+)-)?(\d+)(?::(\d+))?(?::(\d+))?", text)
    if not m:
        raise ValueError(f"not a Slurm time: {text!r}")
    days, a, b, c = m.groups()
    parts = [int(p) for p in (a, b, c) if p is not None]
    if days is not None:  # D-HH[:MM[:SS]]
        h, mi, s = (parts + [0, 0])[:3]
        seconds = ((int(days) * 24 + h) * 60 + mi) * 60 + s
    elif len(parts) == 3:  # HH:MM:SS
        seconds = (parts[0] * 60 + parts[1]) * 60 + parts[2]
    elif len(parts) == 2:  # MM:SS
        seconds = parts[0] * 60 + parts[1]
    else:  # MM
        seconds = parts[0] * 60
    return math.ceil(seconds / 60)


class NoAnswer(RuntimeError):
    """``scontrol`` is installed but the controller did not answer (in time)."""


def partition_max_minutes(
    partitions: Iterable[str], timeout: float = SCONTROL_TIMEOUT_S
) -> int | None:
    """The smallest ``MaxTime`` (minutes) of ``partitions`` as the Slurm controller reports it;
    None when ``scontrol`` is missing or every one is unlimited. :class:`NoAnswer` when the
    controller does not answer within ``timeout`` s."""
    if shutil.which("scontrol") is None:
        return None
    try:
        p = subprocess.run(
            ["scontrol", "--oneliner", "show", "partition"],
            capture_output=True,
            text=True,
            timeout=timeout,
        )
    except (OSError, subprocess.TimeoutExpired) as e:
        raise NoAnswer(f"scontrol show partition: no answer within {timeout:g} s ({e})") from e
    if p.returncode != 0:
        raise NoAnswer(f"scontrol show partition: {p.stderr.strip()[-300:]}")
    limits = {}
    for line in p.stdout.splitlines():
        fields = dict(re.findall(r"(\w+)=(\S*)", line))
        if "PartitionName" in fields and "MaxTime" in fields:
            limits[fields["PartitionName"]] = parse_minutes(fields["MaxTime"])
    known = [limits[p] for p in partitions if limits.get(p) is not None]
    return min(known) if known else None


def profile_partitions(environ: Mapping[str, str] = os.environ) -> tuple[str, ...]:
    """The CPU and GPU partitions of ``profiles/slurm`` (:data:`PARTITION_ENVS`)."""
    return tuple(environ.get(k) or default for k, default in PARTITION_ENVS.items())


def max_group_jobs(max_minutes: int | None, environ: Mapping[str, str] = os.environ) -> int | None:
    """Most jobs per group: :data:`MAX_GROUP_ENV` when set; else none with a time limit (it
    decides) and :data:`DEFAULT_GROUP_WITHOUT_LIMIT` without one."""
    value = environ.get(MAX_GROUP_ENV, "").strip()
    if value:
        if not value.isdigit() or int(value) < 1:
            raise ValueError(
                f"environment variable {MAX_GROUP_ENV}={value!r}: expected a count >= 1"
            )
        return int(value)
    return None if max_minutes is not None else DEFAULT_GROUP_WITHOUT_LIMIT


def conf_max_minutes(
    partitions: Iterable[str], path: str | os.PathLike | None = None
) -> int | None:
    """The smallest ``MaxTime`` (minutes) of ``partitions`` in ``slurm.conf`` (``$SLURM_CONF``,
    else ``/etc/slurm/slurm.conf``): the fallback when the controller does not answer. None
    without the file (a configless client) or when every one is unlimited."""
    path = Path(path or os.environ.get("SLURM_CONF") or "/etc/slurm/slurm.conf")
    try:
        text = path.read_text()
    except OSError:
        return None
    default, limits = {}, {}
    for line in text.splitlines():
        fields = dict(re.findall(r"(\w+)=(\S+)", line.split("#", 1)[0]))
        name = fields.get("PartitionName")
        if name == "DEFAULT":
            default.update(fields)
        elif name:
            limits[name] = {**default, **fields}.get("MaxTime", "UNLIMITED")
    known = [parse_minutes(limits[p]) for p in partitions if p in limits]
    known = [m for m in known if m is not None]
    return min(known) if known else None


def from_environment(environ: Mapping[str, str] = os.environ) -> int | None:
    """:data:`ENV` in minutes (None when unset or empty); a bad value stops with its name."""
    value = environ.get(ENV, "").strip()
    if not value:
        return None
    try:
        minutes = parse_minutes(value)
    except ValueError:
        minutes = 0
    if minutes is not None and minutes <= 0:
        raise ValueError(
            f"environment variable {ENV}={value!r}: expected the partition's time limit in "
            "minutes (e.g. 1440) or as a Slurm time (e.g. 1-00:00:00), or UNLIMITED"
        )
    return minutes


def resolve(
    partitions: Iterable[str] = (),
    environ: dict | os._Environ = os.environ,
    timeout: float = SCONTROL_TIMEOUT_S,
) -> int | None:
    """The time limit of this process's jobs (minutes; None: none), once per process: :data:`ENV`,
    else the partitions' ``MaxTime`` (only asked when ``partitions`` are given, i.e. under a
    Slurm profile). The answer is written back to ``environ[ENV]`` (``UNLIMITED`` for none) so
    that the Slurm jobs inherit it instead of asking the controller again."""
    if "limit" not in _resolved:
        limit = from_environment(environ)
        if limit is None and not environ.get(ENV, "").strip() and partitions:
            try:
                limit = partition_max_minutes(partitions, timeout)
                environ[ENV] = str(limit) if limit is not None else UNLIMITED[0]
            except NoAnswer as e:
                limit = conf_max_minutes(partitions)
                sys.stderr.write(
                    f"magmom: {e}; "
                    + (
                        f"time limit {limit} min from slurm.conf"
                        if limit is not None
                        else "no time limit known: jobs are sized without one, and sbatch may "
                        "refuse (or never start) those above a partition's MaxTime"
                    )
                    + f". Set {ENV} (minutes) to the partitions' time limit to skip the query.\n"
                )
        _resolved["limit"] = limit
    return _resolved["limit"]


def limit() -> int | None:
    """The limit :func:`resolve` found in this process; resolved for the profile's partitions
    if it has not been yet (only the Slurm profile's resource expressions get here)."""
    if "limit" in _resolved:
        return _resolved["limit"]
    return resolve(profile_partitions())


def first_attempt(estimate: int, max_minutes: int | None) -> int:
    """Minutes asked on the first attempt: the estimate, at most the limit."""
    return int(estimate) if max_minutes is None else min(int(estimate), max_minutes)


def runtime(
    minutes: int, attempt: int, max_minutes: int | None = None, resumes: bool = False
) -> int:
    """Minutes asked by a job of estimate ``minutes`` on ``attempt`` (1, 2, ...): ``minutes x
    attempt``, at most the limit; a job that ``resumes`` where the last attempt stopped (DFT,
    training) asks for the limit on every retry. The default limit is this process's
    (:func:`limit`): the profile's resource expressions call this."""
    max_minutes = limit() if max_minutes is None else max_minutes
    if max_minutes is None:
        return int(minutes) * attempt
    if resumes and attempt > 1:
        return max_minutes
    return min(int(minutes) * attempt, max_minutes)


def pack(
    estimates: Mapping[str, int], max_minutes: int | None, max_jobs: int | None = None
) -> dict[str, int]:
    """``{job: group index}``: jobs that run one after the other in one Slurm job, as many per
    group as fit the limit (the sum of :func:`first_attempt` minutes) and at most ``max_jobs``.
    Longest first, each group filled in that order (next-fit decreasing; the estimates take few
    distinct values, so this wastes little); ties by job name, so the grouping is reproducible.
    Without a limit, groups of ``max_jobs`` (or one group) in name order."""
    order = sorted(estimates, key=lambda j: (-first_attempt(estimates[j], max_minutes), j))
    groups: dict[str, int] = {}
    index, used, count = 0, 0, 0
    for job in order:
        t = first_attempt(estimates[job], max_minutes)
        full = (max_jobs is not None and count >= max_jobs) or (
            max_minutes is not None and used + t > max_minutes
        )
        if count and full:
            index, used, count = index + 1, 0, 0
        groups[job] = index
        used, count = used + t, count + 1
    return groups


def group_totals(estimates: Mapping[str, int], groups: Mapping[str, int], max_minutes) -> dict:
    """``{group index: sum of first-attempt minutes}`` of :func:`pack`'s groups."""
    totals: dict[int, int] = {}
    for job, g in groups.items():
        totals[g] = totals.get(g, 0) + first_attempt(estimates[job], max_minutes)
    return totals


def retry_share(estimate: int, group_total: int, max_minutes: int) -> int:
    """Minutes a job asks on a retry inside a group of first-attempt total ``group_total``: its
    share of the limit, :math:`\\lfloor L\\, t / T \\rfloor \\ge t` (a lone job: :math:`L`)."""
    t = first_attempt(estimate, max_minutes)
    return max(1, (max_minutes * t) // max(group_total, 1))


def dry_run_jobs(output: str) -> tuple[dict[str, list[int]], dict[str, int]]:
    """The Slurm jobs a ``snakemake -n`` output would submit, read from its printed job blocks.

    Returns ``({job: runtimes (min) of the rule jobs it runs}, {rule: largest runtime})``: a group
    is one Slurm job under its group id (``Group job <id> (jobs ...``, its rule jobs indented
    below), every unindented rule (or checkpoint) job one of its own, named ``<rule>#<n>``.
    """
    jobs: dict[str, list[int]] = {}
    largest: dict[str, int] = {}
    group = rule = None
    for line in output.splitlines():
        m = re.search(r"Group job (\S+) \(jobs", line)
        if m:
            group = m.group(1)
            continue
        m = re.match(r"^(\s*)(?:local)?(?:rule|checkpoint) (\w+):", line)
        if m:
            rule = m.group(2)
            group = group if m.group(1) else None  # an unindented job is no group's
            continue
        m = re.search(r"resources: .*\bruntime=(\d+)", line)
        if m and rule:
            runtime = int(m.group(1))
            largest[rule] = max(largest.get(rule, 0), runtime)
            jobs.setdefault(group or f"{rule}#{len(jobs)}", []).append(runtime)
    return jobs, largest
