"""Atomic file writes: write to a temporary sibling, fsync, then rename over the target.

A reader never sees a half-written file, and a killed job leaves either the old file or none.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path


@contextlib.contextmanager
def atomic_path(target: str | os.PathLike, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path beside ``target``; rename it onto ``target`` if the block succeeds.

    ``suffix`` defaults to the target's suffix so that format-sniffing writers (ASE, pandas) see
    the right extension. On an exception the temporary file is removed and ``target`` is untouched.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(
        prefix=f".{target.name}.",
        suffix=suffix if suffix is not None else target.suffix,
        dir=target.parent,
    )
    os.close(fd)
    os.unlink(tmp)  # let the writer create it (some writers refuse an existing file)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        if tmp_path.exists():
            with open(tmp_path, "rb+") as fh:
                os.fsync(fh.fileno())
        os.replace(tmp_path, target)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def write_bytes(target: str | os.PathLike, data: bytes) -> None:
    with atomic_path(target) as tmp:
        tmp.write_bytes(data)


def write_text(target: str | os.PathLike, text: str) -> None:
    write_bytes(target, text.encode())


def write_json(target: str | os.PathLike, obj, indent: int = 2) -> None:
    """Atomically write ``obj`` as JSON (keys sorted, so equal objects give equal bytes)."""
    write_text(target, json.dumps(obj, indent=indent, sort_keys=True, allow_nan=False) + "\n")
