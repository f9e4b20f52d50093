"""Send everything a workflow script prints (logging, tqdm, warnings, tracebacks) to its rule log."""

from __future__ import annotations

import contextlib
import logging
import sys
import traceback
from collections.abc import Iterator
from pathlib import Path


@contextlib.contextmanager
def log_to(log_path: str | Path | None, level: int = logging.INFO) -> Iterator[None]:
    """Redirect stdout/stderr and the root logger to ``log_path`` (append) for the block.

    Exceptions are written to the log with their traceback and re-raised, so Snakemake marks the
    job failed and the user finds the reason in the rule's log file. ``None`` leaves output alone.
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
        try:
            with contextlib.redirect_stdout(fh), contextlib.redirect_stderr(fh):
                try:
                    yield
                except BaseException:
                    traceback.print_exc(file=fh)
                    raise
        finally:
            root.removeHandler(handler)
            root.setLevel(old_level)


def script_log(snakemake) -> str | None:
    """The first log file of a Snakemake ``script:`` job, or None when the rule has none."""
    return snakemake.log[0] if len(snakemake.log) else None
