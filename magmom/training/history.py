"""A run's per-epoch history: the rows the loop appends and ``history.csv``.

One row per epoch: ``epoch``, the training loss and MAE, the validation MAE, the learning rate the
epoch ran with and its wall time (s); floats written with 8 significant digits.
"""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Mapping, Sequence

from magmom.io import write_text

HISTORY_COLUMNS = ("epoch", "train_loss", "train_mae", "val_mae", "lr", "time")


def write_history(path: str | os.PathLike, history: Sequence[Mapping]) -> None:
    """Write ``history`` (rows of :data:`HISTORY_COLUMNS`) to the CSV ``path`` (atomically)."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=HISTORY_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for row in history:
        writer.writerow({k: (f"{v:.8g}" if isinstance(v, float) else v) for k, v in row.items()})
    write_text(path, buffer.getvalue())
