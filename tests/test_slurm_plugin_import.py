"""magmom.slurm_plugin_import: starting snakemake asks no Slurm controller anything.

Fake Slurm clients on PATH (sinfo, squeue, sacct, and an scontrol that records each call), as on a
host with the clients installed and the controller down. Importing the Slurm executor plugin, as
every `snakemake` start does, must not run scontrol; a status check afterwards still does.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from magmom import slurm_plugin_import

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture
def slurm_clients(tmp_path):
    calls = tmp_path / "scontrol-calls"
    for tool in ("sinfo", "squeue", "sacct"):
        (tmp_path / tool).write_text("#!/bin/sh\nexit 0\n")
    (tmp_path / "scontrol").write_text(f'#!/bin/sh\necho "$*" >> {calls}\nexit 1\n')
    for f in tmp_path.iterdir():
        f.chmod(0o755)
    env = {**os.environ, "PATH": f"{tmp_path}{os.pathsep}{os.environ['PATH']}"}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (ROOT, env.get("PYTHONPATH")) if p)
    return env, calls


def run(code: str, env: dict) -> None:
    p = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert p.returncode == 0, p.stderr[-3000:]


def test_the_plugin_import_runs_scontrol_unless_deferred(slurm_clients):
    env, calls = slurm_clients
    # the control: the plugin as shipped, with the venv's start-up hook (scripts/setup.sh's .pth)
    # taken out again, asks at import
    unhook = (
        "import sys\n"
        "sys.meta_path[:] = [f for f in sys.meta_path if type(f).__module__ != "
        f"{slurm_plugin_import.__name__!r}]\n"
    )
    run(unhook + "import snakemake_executor_plugin_slurm", env)
    assert calls.read_text().splitlines() == ["show config"]
    calls.unlink()
    run(f"import {slurm_plugin_import.__name__}; import snakemake_executor_plugin_slurm", env)
    assert not calls.exists(), "scontrol ran while snakemake started"


def test_status_checks_still_ask_the_controller(slurm_clients):
    env, calls = slurm_clients
    code = (
        f"import {slurm_plugin_import.__name__}, snakemake_executor_plugin_slurm\n"
        "from snakemake_executor_plugin_slurm import job_status_query as q\n"
        "assert q.get_min_job_age() is None\n"  # the fake scontrol fails
    )
    run(code, env)
    assert calls.read_text().splitlines() == ["show config"]


def test_setup_puts_the_import_into_the_venv():
    setup = open(os.path.join(ROOT, "scripts", "setup.sh")).read()
    assert f"import {slurm_plugin_import.__name__}" in setup
    assert "magmom-slurm-plugin-import.pth" in setup


def test_the_start_up_hook_leaves_no_magmom_module_imported(slurm_clients):
    """The .pth must not decide which magmom a later import finds (the Snakefile puts its own
    checkout first on sys.path): at start-up it installs the hook and forgets the package."""
    env, _ = slurm_clients
    env = {k: v for k, v in env.items() if k != "PYTHONPATH"}
    code = (
        "import sys\n"
        "assert not [m for m in sys.modules if m.split('.')[0] == 'magmom'], sorted(sys.modules)\n"
    )
    run(code, env)
