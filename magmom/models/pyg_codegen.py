"""PyG's generated operator code, kept out of the shared temporary directory.

PyG 2.8 compiles each message-passing class's ``propagate`` from a Jinja template when the class
is first instantiated in a process, writes the code to ``NamedTemporaryFile(delete=False)`` in the
temporary directory, imports it and never removes it (``torch_geometric/template.py``): one file
per operator class per process, hundreds in ``/tmp`` after a test run or a study's training jobs.
The imported module does not read its file again (nothing here compiles with TorchScript, which
would re-read the source), so :func:`private_codegen_dir` lets PyG write into a private directory
that is removed when the block ends. Tracebacks through the generated code then show no source
line; the frames still name the class and method.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def private_codegen_dir() -> Iterator[str]:
    """Within the block, temporary files (PyG's generated code) go to a private directory that
    is deleted on exit; the process's temporary directory is restored."""
    with tempfile.TemporaryDirectory(prefix="magmom-pyg-") as private:
        before = tempfile.tempdir
        tempfile.tempdir = private
        try:
            yield private
        finally:
            tempfile.tempdir = before
