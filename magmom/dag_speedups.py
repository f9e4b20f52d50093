"""Per-job costs of a Snakemake 9 dry run that repeat one answer for every job or every look-up.

Planning the full study (``snakemake -n``, ~23k jobs, nearly all ``dft_slab``) spends most of its
time in Snakemake's per-job bookkeeping, not in the workflow's functions. Parts of it compute, for
each of the ~23k jobs or each of the ~115k input-file look-ups, what is the same for every job of
the rule, what it found already, or what no one reads (snakemake 9.27):

- **The script check.** After building the DAG, ``snakemake.dag.ScriptProcessor.process_job``
  resolves each job's ``script:`` path (formatted with the job's wildcards and params), reads the
  whole script through the source cache (``smart_open.parse_uri`` builds a namedtuple class on each
  of the three look-ups) and checks that it exists, then discards all of it. A ``script:`` without
  ``{`` does not depend on the job: :func:`check_scripts_once` checks it once per rule and DAG
  (a script path with ``{...}`` is still checked per job, and a missing script still fails).
- **Function signatures.** ``snakemake.common.get_function_params`` runs ``inspect.signature`` on
  every call: twice per input, group or resource function per job (``apply_input_function``),
  plus once per resource in ``Resource.evaluate``, about 19 times per ``dft_slab`` job. A plain
  function's parameters do not change between calls: :func:`cache_function_params` keeps them per
  function (a weak reference: nothing is kept alive), and per underlying function for bound
  methods (``Resource.evaluate``). Other callables (``functools.partial``, callable objects) and
  functions carrying Snakemake's ``_overwrite_params`` are answered exactly as before.
- **Job info nobody prints.** A dry run hands every job to ``Job.log_info``, which formats its
  inputs, outputs and logs (the dataset's and the default target's ~23k record paths each) into a
  log record; under ``--quiet rules`` (or plain ``-q``) Snakemake's filter then drops that record.
  :func:`skip_dropped_job_info` skips the formatting when every handler would drop it (no logger
  plugin); the job's resources are still evaluated, so a failing resource function still fails.
- **Producers of a file asked for again.** Every DFT record is an input of three jobs (``all``,
  ``assemble_dataset``, ``publish_dataset``). For each look-up, ``DAG.file2jobs`` asks the output
  index which rules produce the path (prefix look-up, then each candidate rule's output regex),
  and ``DAG.update`` re-checks the one job it finds (wildcard periodicity, ordering, debug log
  records) although its dependencies were added already. :func:`cache_producer_matches` keeps the
  rules per path on the output index (they depend on the path alone; a rebuilt index starts
  empty), and :func:`reuse_updated_producers` returns a single candidate already in the DAG, not on
  the current path and not consuming the file, as ``DAG.update`` would (otherwise, and with
  ``--verbose``/``--debug-dag``, the original runs: cycles, ambiguity and missing input are
  found as before).
- **No group, asked again.** ``Job.group`` keeps a group once its rule's group function gave one,
  but calls the function again (three times per job) while it gives None, as it does for every
  job of a local run. :func:`remember_no_group` keeps the None too (the setter still wins).
- **Constant resources.** ``Rule.expand_resources`` passes every job's ``_cores`` (threads)
  through ``apply_input_function`` (a Wildcards object, the aux params, the call), which for a
  resource without an evaluator returns the resource itself: :func:`skip_constant_resources`
  returns it directly.
- **Flags of plain paths.** ``snakemake.io.is_flagged`` (~2.8M calls) asks
  ``isinstance(value, AnnotatedStringInterface)``, an abstract-base-class check, first; most
  values are plain ``str`` (no flags) or one of the interface's two classes (``_IOFile``,
  ``AnnotatedString``). :func:`check_flags_by_type` answers those by their exact type and
  anything else as before.
- **Outputs inside outputs.** ``DAG.check_directory_outputs`` builds ``Path(f).absolute()`` (a
  ``getcwd`` each) for every output and calls ``os.path.commonpath`` twice per neighbouring pair;
  :func:`compare_output_paths_by_parts` builds the same paths from one ``getcwd`` and compares
  their parts (same order, same pairs, same ChildIOException).

None of them changes which jobs the DAG holds, their inputs, params, resources or rerun reasons,
only how often Snakemake recomputes an answer it already has or formats text it then drops.
:func:`install` (rules/common.smk) applies them once per process, unless the environment sets
``MAGMOM_DAG_SPEEDUPS=0`` (the reference ``benchmarks/dag_dry_run.py`` compares against in the
same run). tests/test_dag_speedups.py shows that they give the same dry run (the tiny preset's,
printed, both ways) and still fail where Snakemake failed.
"""

from __future__ import annotations

import os
import sys
import types
import weakref

# MAGMOM_DAG_SPEEDUPS=0: leave Snakemake as it is (a reference for benchmarks and tests)
ENV = "MAGMOM_DAG_SPEEDUPS"

# Function -> its parameters (inspect.signature(f).parameters); for bound methods keyed by the
# underlying function (all bound methods of one function have the same parameters).
_FUNCTION_PARAMS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_METHOD_PARAMS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
# The per-DAG set of (script type, rule, script entry) already checked, on each processor.
_CHECKED = "_magmom_checked_scripts"
# {path: producing rules} on each output index; on a job, that its rule gave it no group.
_PRODUCERS = "_magmom_producers"
# On a dry-run executor: whether its logging drops every job-info record.
_DROPPED = "_magmom_job_info_dropped"
_NO_GROUP = "_magmom_no_group"


def cache_function_params() -> None:
    """Make Snakemake's ``get_function_params`` remember a plain function's parameters."""
    import snakemake.common as common

    original = common.get_function_params
    if getattr(original, "_magmom_cached", False):
        return

    def get_function_params(func):
        if hasattr(func, common.FUNC_OVERWRITE_PARAMS_ATTR):
            return getattr(func, common.FUNC_OVERWRITE_PARAMS_ATTR)
        if type(func) is types.FunctionType:
            cache, key = _FUNCTION_PARAMS, func
        elif type(func) is types.MethodType and type(func.__func__) is types.FunctionType:
            cache, key = _METHOD_PARAMS, func.__func__
        else:
            return original(func)
        try:
            return cache[key]
        except KeyError:
            params = cache[key] = original(func)
            return params

    get_function_params._magmom_cached = True
    get_function_params.__wrapped__ = original
    # every snakemake module that imported the name (rules, jobs, ioutils.*) and common itself
    for name, module in list(sys.modules.items()):
        if name.split(".")[0] == "snakemake" and getattr(module, "get_function_params", None) is (
            original
        ):
            module.get_function_params = get_function_params


def check_scripts_once() -> None:
    """Make Snakemake check a job-independent ``script:`` (or ``notebook:``) once per rule."""
    from snakemake.dag import ScriptProcessor

    original = ScriptProcessor.process_job
    if getattr(original, "_magmom_once", False):
        return

    def process_job(self, job):
        entry = getattr(job.rule, self.script_type, None)
        if entry is None or "{" in str(entry):
            return original(self, job)
        checked = self.__dict__.setdefault(_CHECKED, set())
        key = (self.script_type, job.rule, str(entry))
        if key not in checked:
            original(self, job)  # raises WorkflowError when the script is not accessible
            checked.add(key)

    process_job._magmom_once = True
    process_job.__wrapped__ = original
    ScriptProcessor.process_job = process_job


def _job_info_is_dropped(workflow) -> bool:
    """Whether Snakemake's logging drops every job-info record of this run (``--quiet rules``
    and only Snakemake's own filtered handlers, no logger plugin)."""
    from snakemake.logging import DefaultFilter
    from snakemake.settings.enums import Quietness

    manager = workflow.logger_manager
    if manager.plugin_handlers or Quietness.RULES not in (manager.settings.quiet or ()):
        return False
    return all(
        any(isinstance(f, DefaultFilter) and Quietness.RULES in f.quiet for f in h.filters)
        for h in manager.logger.handlers
    )


def skip_dropped_job_info() -> None:
    """Make a dry run skip formatting the job info its logging would drop anyway."""
    from snakemake.executors.dryrun import Executor

    original = Executor.printjob
    if getattr(original, "_magmom_skips", False):
        return

    def printjob(self, job):
        # the run's logging is set up before the first job: asked once per executor
        dropped = self.__dict__.get(_DROPPED)
        if dropped is None:
            dropped = self.__dict__[_DROPPED] = _job_info_is_dropped(self.workflow)
        if not dropped:
            return original(self, job)
        # what log_info evaluates besides formatting: a failing resource function still fails
        for j in job.jobs if job.is_group() else (job,):
            j.resources  # noqa: B018 (evaluated and cached on the job)
            self.printcache(j)

    printjob._magmom_skips = True
    printjob.__wrapped__ = original
    Executor.printjob = printjob


def cache_producer_matches() -> None:
    """Make Snakemake's output index answer "which rules produce this file" once per file."""
    from snakemake.output_index import OutputIndex

    original = OutputIndex.match_producers
    if getattr(original, "_magmom_cached", False):
        return

    def match_producers(self, targetfile):
        # the answer depends on the path only (prefix, suffix and output patterns of the rules
        # indexed when this index was built); a new index (update_output_index) starts empty
        cache = self.__dict__.setdefault(_PRODUCERS, {})
        key = str(targetfile)
        try:
            return set(cache[key])
        except KeyError:
            rules = cache[key] = frozenset(original(self, targetfile))
            return set(rules)

    match_producers._magmom_cached = True
    match_producers.__wrapped__ = original
    OutputIndex.match_producers = match_producers


def remember_no_group() -> None:
    """Make a job remember that its rule gives it no group, as it remembers a group."""
    from snakemake.jobs import Job

    original = Job.group
    if getattr(original.fget, "_magmom_remembers", False):
        return

    def group(self):
        if self._group is None and not self.__dict__.get(_NO_GROUP, False):
            self._group = self.rule.expand_group(self.wildcards_dict)
            self.__dict__[_NO_GROUP] = self._group is None
        return self._group

    def set_group(self, value):
        original.fset(self, value)
        self.__dict__[_NO_GROUP] = False

    group._magmom_remembers = True
    group.__wrapped__ = original.fget
    Job.group = property(group, set_group, doc=original.__doc__)


def skip_constant_resources() -> None:
    """Make Snakemake take a constant resource as it is instead of calling it per job."""
    from snakemake.resources import Resource
    from snakemake.rules import Rule

    original = Rule.apply_input_function
    if getattr(original, "_magmom_constants", False):
        return

    def apply_input_function(self, func, wildcards, *args, **kwargs):
        # Resource.evaluate of a resource without an evaluator returns the resource itself,
        # whatever the arguments (the aux params of expand_resources call nothing)
        if (
            type(func) is types.MethodType
            and func.__func__ is Resource.evaluate
            and func.__self__._evaluator is None
        ):
            return func.__self__, False
        return original(self, func, wildcards, *args, **kwargs)

    apply_input_function._magmom_constants = True
    apply_input_function.__wrapped__ = original
    Rule.apply_input_function = apply_input_function


def reuse_updated_producers() -> None:
    """Make Snakemake take a file's one producing job, already in the DAG, as it is."""
    import logging

    from snakemake.dag import DAG
    from snakemake.logging import logger

    original = DAG.update
    if getattr(original, "_magmom_reuses", False):
        return

    async def update(
        self,
        jobs,
        file=None,
        visited=None,
        known_producers=None,
        progress=False,
        create_inventory=False,
    ):
        # One candidate whose dependencies were added already (update_ returns at once for it),
        # that is no cycle (not on the current path, not consuming the file) and no debug log to
        # write: what DAG.update returns after checking it again (its wildcards passed the
        # periodicity check before it was added), with the same progress message.
        if (
            visited is not None
            and not create_inventory
            and len(jobs) == 1
            and not logger.isEnabledFor(logging.DEBUG)
        ):
            (job,) = jobs
            if job in self._dependencies and job not in visited and file not in job.input:
                n = len(self._dependencies)
                if progress and n % 1000 == 0 and n and self._progress != n:
                    logger.info(f"Processed {n} potential jobs.")
                    self._progress = n
                return job
        return await original(
            self,
            jobs,
            file=file,
            visited=visited,
            known_producers=known_producers,
            progress=progress,
            create_inventory=create_inventory,
        )

    update._magmom_reuses = True
    update.__wrapped__ = original
    DAG.update = update


def check_flags_by_type() -> None:
    """Make Snakemake's ``is_flagged`` tell a plain path from an annotated one by its type."""
    import snakemake.io as io

    original = io.is_flagged
    if getattr(original, "_magmom_by_type", False):
        return
    annotated = (io._IOFile, io.AnnotatedString)  # AnnotatedStringInterface's two classes

    def is_flagged(value, flag):
        kind = type(value)
        if kind is str:  # no str is an AnnotatedStringInterface
            return False
        if kind in annotated:
            return value.is_flagged(flag)
        return original(value, flag)

    is_flagged._magmom_by_type = True
    is_flagged.__wrapped__ = original
    # every snakemake module that imported the name (dag, jobs, rules, persistence, ...) and io
    for name, module in list(sys.modules.items()):
        if name.split(".")[0] == "snakemake" and getattr(module, "is_flagged", None) is original:
            module.is_flagged = is_flagged


def compare_output_paths_by_parts() -> None:
    """Make Snakemake's check for outputs inside another job's output compare path parts."""
    from pathlib import Path

    from snakemake.dag import DAG
    from snakemake.exceptions import ChildIOException

    original = DAG.check_directory_outputs
    if getattr(original, "_magmom_by_parts", False):
        return

    def check_directory_outputs(self):
        # As DAG.check_directory_outputs: every output as an absolute path (Path(f).absolute()
        # is Path(cwd, f)), sorted, and each neighbour pair tested; "a's parts begin b's" is
        # os.path.commonpath([a, b]) == os.path.commonpath([a]) for such normalized paths.
        cwd = os.getcwd()
        outputs = sorted({(Path(cwd, f), job) for job in self.jobs for f in job.output})
        for i in range(len(outputs) - 1):
            (a, job_a), (b, job_b) = outputs[i : i + 2]
            parts = a.parts
            if b.parts[: len(parts)] == parts and a != b and job_a != job_b:
                raise ChildIOException(parent=outputs[i], child=outputs[i + 1])

    check_directory_outputs._magmom_by_parts = True
    check_directory_outputs.__wrapped__ = original
    DAG.check_directory_outputs = check_directory_outputs


def install() -> None:
    if os.environ.get(ENV, "1") == "0":
        return
    cache_function_params()
    check_scripts_once()
    skip_dropped_job_info()
    cache_producer_matches()
    remember_no_group()
    skip_constant_resources()
    reuse_updated_producers()
    check_flags_by_type()
    compare_output_paths_by_parts()
