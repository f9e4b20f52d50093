"""The library's errors about one file carry the facts a caller words a fix from."""

from __future__ import annotations

import os
from pathlib import Path


class FileRemedyError(RuntimeError):
    """An error about the file ``path``; ``remedy`` names what fixes it (``"build"``,
    ``"rebuild"``, ``"retrain"``) or is None. The library states the facts in the message; the
    layers a user runs word the command (:mod:`magmom.suggestions`)."""

    def __init__(
        self, message: str, path: str | os.PathLike | None = None, remedy: str | None = None
    ):
        super().__init__(message)
        self.path = None if path is None else Path(path)
        self.remedy = remedy
