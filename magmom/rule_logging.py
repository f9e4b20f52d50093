"""Send everything a workflow script prints (logging, tqdm, warnings, tracebacks) to its log."""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import socket
import time
import traceback
from collections.abc import Iterator
from pathlib import Path


@contextlib.contextmanager
def log_to(log_path: str | Path | None, level: int = logging.INFO) -> Iterator[None]:
    """Redirect stdout/stderr and the root logger to ``log_path`` (append) for the block.

    Exceptions are written to the log with their traceback and re-raised, so Snakemake marks the
    job failed and the user finds the reason in the rule's log file (with the command that fixes
    it, when the error carries the facts for one: :mod:`magmom.suggestions`); the failed job's
    log is also copied to :func:`failed_log_path` (Snakemake deletes a job's log when it reruns
    the job, and the copy is no declared file of any job). ``None`` leaves output alone.
    """
    if log_path is None:
        logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
        yield
        return
    Path(log_path).parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "a", buffering=1) as fh:
        handler = logging.StreamHandler(fh)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        root = logging.getLogger()
        old_level = root.level
        root.addHandler(handler)
        root.setLevel(level)
        logging.getLogger(__name__).info("job context: %s", job_context())
        try:
            with contextlib.redirect_stdout(fh), contextlib.redirect_stderr(fh):
                try:
                    yield
                except BaseException as exc:
                    try:  # the command that fixes it, under the traceback
                        from magmom.suggestions import add_suggestion
                    except ImportError:  # an env without magmom.config's yaml/jsonschema
                        pass  # (the recipe's: its scripts raise no error that has a command)
                    else:
                        add_suggestion(exc)
                    traceback.print_exc(file=fh)
                    keep = failed_log_path(log_path)
                    print(f"(this log is kept as {keep}: a rerun of the job replaces it)", file=fh)
                    fh.flush()
                    shutil.copyfile(log_path, keep)
                    raise
        finally:
            root.removeHandler(handler)
            root.setLevel(old_level)


def failed_log_path(log_path: str | Path) -> Path:
    """Where a failed job's log is kept: ``<name>.failed-<UTC time>.log`` beside the log."""
    path = Path(log_path)
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    return path.with_name(f"{path.stem}.failed-{stamp}{path.suffix or '.log'}")


def job_context() -> str:
    """Where the job runs: host, and under Slurm its job id, array task, partition and GPUs.

    Logged at the start of every rule log, so a run can be traced to its Slurm jobs
    (``tests/test_slurm_workflow.py`` checks that every job ran through sbatch).
    """
    fields = {"host": socket.gethostname()}
    keys = ("SLURM_JOB_ID", "SLURM_ARRAY_JOB_ID", "SLURM_ARRAY_TASK_ID", "SLURM_JOB_PARTITION")
    for key in (*keys, "CUDA_VISIBLE_DEVICES"):
        if os.environ.get(key):
            fields[key.lower()] = os.environ[key]
    return " ".join(f"{k}={v}" for k, v in fields.items())


def script_log(snakemake) -> str | None:
    """The first log file of a Snakemake ``script:`` job, or None when the rule has none."""
    return snakemake.log[0] if len(snakemake.log) else None
