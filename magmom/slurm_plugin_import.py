"""Keeps ``snakemake`` from asking the Slurm controller anything when it starts.

snakemake-executor-plugin-slurm 2.8 builds the help text of its ``--slurm-status-command`` option
while its module is imported (``_get_status_command_help()`` in a dataclass field), and that text
depends on ``job_status_query.get_min_job_age()``, which runs ``scontrol show config`` with a 10 s
timeout. Snakemake imports every installed executor plugin on start-up (to offer their options),
so every ``snakemake`` command, with or without ``--profile slurm``, ``-n`` included, asks the
controller once wherever the Slurm clients (``sinfo``) are on ``PATH``; a host whose controller
does not answer (clients installed, daemons down) waits ~9 s each time.

Imported at interpreter start by the ``.pth`` file ``scripts/setup.sh`` writes into the venv, this
module wraps ``get_min_job_age`` when the plugin loads: during the plugin's own import it returns
None without running anything (the help text then leaves out its MinJobAge remark); afterwards,
when the executor checks job status on a real cluster, it runs unchanged.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import sys

PLUGIN = "snakemake_executor_plugin_slurm"
TARGET = f"{PLUGIN}.job_status_query"


def _wrap(module) -> None:
    original = module.get_min_job_age

    def get_min_job_age():
        plugin = sys.modules.get(PLUGIN)
        if plugin is not None and not hasattr(plugin, "Executor"):
            return None  # the plugin is still being imported: its help text, no status check
        return original()

    get_min_job_age.__wrapped__ = original
    module.get_min_job_age = get_min_job_age


class _Finder(importlib.abc.MetaPathFinder):
    """Finds the plugin's job_status_query as usual and wraps it once it has run."""

    def find_spec(self, name, path=None, target=None):
        if name != TARGET:
            return None
        spec = importlib.machinery.PathFinder.find_spec(name, path)
        if spec is None or spec.loader is None or not hasattr(spec.loader, "exec_module"):
            return spec
        exec_module = spec.loader.exec_module

        def exec_and_wrap(module):
            exec_module(module)
            _wrap(module)

        spec.loader.exec_module = exec_and_wrap
        return spec


def install() -> None:
    if not any(isinstance(f, _Finder) for f in sys.meta_path):
        sys.meta_path.insert(0, _Finder())


install()
