"""Fixtures shared by the test modules."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="module")
def single_thread():
    """One torch and one BLAS thread for a test module, as the rules run (``threads: 1``).

    The workloads are tiny (small graphs, CHGNet and GPAW on 2-4 atoms), so extra threads only
    add synchronisation; on a shared 2-core machine OpenMP spin-waiting made LAPACK calls up to
    20x slower. A module opts in with ``pytestmark = pytest.mark.usefixtures("single_thread")``
    (or a module fixture asks for it by name, to run inside it).
    """
    import torch
    from threadpoolctl import threadpool_limits

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with threadpool_limits(limits=1):
            yield
    finally:
        torch.set_num_threads(before)
