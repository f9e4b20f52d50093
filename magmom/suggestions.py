"""The commands a message suggests, worded from the facts an error carries.

The library's errors name the file and what is wrong with it, and carry ``path`` and ``remedy``
(:class:`magmom.graphs.cache.CacheError`: ``build`` or ``rebuild``;
:class:`magmom.training.checkpoint.CheckpointError`: ``retrain``;
:class:`magmom.predict.predictor.ModelNotFoundError`: ``train``, with the ``checkpoints`` the
repository's configurations write for the model); they build no command line.
The layers a user runs word the suggestion here: the rule scripts through
:func:`magmom.rule_logging.log_to` (which adds it to the exception as a note, so it stands in the
job's log and in Snakemake's output) and the command lines (``python -m magmom.training``,
``python -m magmom.predict``). A suggested ``snakemake`` command works as printed: it carries the
config files of the running workflow, or of the configuration whose results tree holds the file
(:func:`magmom.config.snakemake_command`).
"""

from __future__ import annotations

import os
from pathlib import Path

from magmom.config import CONFIG_ARGS_ENV, config_files_for, snakemake_command
from magmom.layout import BEST


def retrain_hint(path: str | os.PathLike) -> str:
    """How to retrain the model of checkpoint ``path`` from scratch (a fresh run sets the old
    state aside; deleting best.pt alone would let the job resume its last.pt)."""
    best = Path(path).parent / BEST
    outside = "`python -m magmom.training ... --fresh`"
    if CONFIG_ARGS_ENV not in os.environ and config_files_for(best) is None:
        # a checkpoint copied out of a results tree: no rule builds that path
        return f"retrain it from scratch with {outside} ({best} is in no results tree)"
    command = snakemake_command(str(best), "--forcerun train", "--config 'training={fresh: true}'")
    return (
        f"retrain it from scratch with `{command}` (the earlier state is set aside, not "
        f"deleted), or with {outside} outside the workflow"
    )


def train_hint(checkpoints) -> str:
    """How to train a model whose checkpoint the repository's configurations write at
    ``checkpoints`` (:func:`magmom.predict.predictor.training_checkpoints`): the ``snakemake``
    command of each."""
    return "train it first: " + " or ".join(f"`{snakemake_command(str(c))}`" for c in checkpoints)


def suggestion(exc: BaseException) -> str | None:
    """The command that fixes ``exc`` (or the error it was raised from), or None."""
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        path, remedy = getattr(exc, "path", None), getattr(exc, "remedy", None)
        if remedy == "train" and getattr(exc, "checkpoints", None):
            return train_hint(exc.checkpoints)
        if path is not None and remedy == "build":
            return f"build it with: {snakemake_command(str(path))}"
        if path is not None and remedy == "rebuild":
            return f"delete it and rebuild it: {snakemake_command(str(path))}"
        if path is not None and remedy == "retrain":
            return retrain_hint(path)
        exc = exc.__cause__ or exc.__context__
    return None


def add_suggestion(exc: BaseException) -> str | None:
    """Add :func:`suggestion` to ``exc`` as a note (shown under its traceback); return it."""
    hint = suggestion(exc)
    if hint and hint not in getattr(exc, "__notes__", ()):
        exc.add_note(hint)
    return hint
