"""Fixtures and hooks shared by the test modules.

The suite runs on pytest-xdist workers (``make test``: ``-n`` workers, ``--dist loadscope``), so
each module's tests, and its module-scoped fixtures (a GPAW run, a tiny workflow run), stay on one
worker and are built once. Modules holding a ``slow`` test are handed out first (longest work
first, so no long module starts last and leaves the other worker idle).
"""

from __future__ import annotations

import pytest


def pytest_collection_modifyitems(config, items):
    slow_modules = {item.module.__name__ for item in items if item.get_closest_marker("slow")}
    # a stable sort: within each group the collection order (file, then definition) is kept
    items.sort(key=lambda item: item.module.__name__ not in slow_modules)


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
