"""A DFT job killed by SIGTERM mid-relaxation (Slurm's signal at the time limit) loses nothing.

Real GPAW on the 2-atom Ni(111) slab of tests/dft_helpers.py, cheap settings, a 3-step
plane-wave relaxation that cannot converge (fmax 1e-4), and the tests' ladder whose level 0
cannot converge (maxiter 1), so the relaxation runs on ladder level 1. The job runs as the rule
runs it (:func:`label_slab_job` in its own process); once the plane-wave checkpoint records a
finished ionic step the process gets SIGTERM, as Slurm sends it. The retry (same call, same work
directory) resumes at that step and on that ladder level: the optimiser's finished steps are not
repeated, level 0 is not tried again, only the SCF at the checkpointed geometry is recomputed
(wave functions are not checkpointed).
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time

import pytest
from dft_helpers import ROOT, cheap_config, slab_meta, tiny_slab, write_slab_db

from magmom.dft.label import LabelSettings, label_slab_job

SLAB = "ni100-fcc-pure-v0"
PW_STEPS = 3


def _config() -> dict:
    cfg = cheap_config()  # level 0 fails after one SCF iteration: the work is on level 1
    cfg["dft"]["lcao"]["steps"] = 0
    cfg["dft"]["relax"].update(steps=PW_STEPS, fmax=1e-4)
    return cfg


@pytest.mark.slow
def test_sigterm_mid_relaxation_then_retry_resumes_at_the_checkpoint(tmp_path, single_thread):
    db = write_slab_db(tmp_path / "initial_slabs.db", [(tiny_slab(), slab_meta(SLAB))])
    work, out = tmp_path / "work", tmp_path / "record.json"
    cfg_path = tmp_path / "config.json"
    cfg_path.write_text(json.dumps(_config()))
    job = (
        "import json, sys; from magmom.dft.label import LabelSettings, label_slab_job; "
        f"settings = LabelSettings.of(json.load(open({str(cfg_path)!r}))); "
        f"label_slab_job({str(db)!r}, {SLAB!r}, settings, {str(work)!r}, {str(out)!r})"
    )
    env = {"PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}
    proc = subprocess.Popen([sys.executable, "-c", job], env={**__import__("os").environ, **env})
    ckpt = work / "pw-checkpoint.json"
    deadline = time.monotonic() + 600
    killed_at = None
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            state = json.loads(ckpt.read_text())
        except (FileNotFoundError, json.JSONDecodeError):
            state = {}
        if state.get("steps_done", 0) >= 1 and not state.get("done"):
            proc.send_signal(signal.SIGTERM)
            killed_at = state["steps_done"]
            break
        time.sleep(0.2)
    proc.wait(timeout=60)
    if killed_at is None:
        pytest.fail(f"the job ended (status {proc.returncode}) before a plane-wave step finished")
    assert proc.returncode == -signal.SIGTERM
    assert not out.exists(), "a killed job must not leave a record"
    state = json.loads(ckpt.read_text())  # intact: checkpoints are written atomically
    assert state["done"] is False and state["steps_done"] >= killed_at

    # Snakemake's retry: the same job, the same work directory
    record = label_slab_job(db, SLAB, LabelSettings.of(_config()), work, out)
    assert record["status"] == "ok", record.get("reason")
    pw = [a for a in record["scf_attempts"] if a["stage"] == "pw"]
    failed, first, resumed = pw
    done = state["steps_done"]
    assert (failed["level"], failed["outcome"]) == (0, "scf_failed")
    assert (first["level"], first["outcome"]) == (1, "interrupted")
    assert (resumed["level"], resumed["outcome"]) == (1, "converged")  # level 0 not retried
    assert resumed["first_ionic_step"] == done  # no finished ionic step is repeated
    # SCFs: the start geometry + one per optimiser step, split between the two runs
    assert len(first["scf_iterations"]) == done + 1
    assert len(resumed["scf_iterations"]) == PW_STEPS - done + 1
    assert record["stages"]["pw"]["ionic_steps"] == PW_STEPS
    assert (work / f"pw-L1-s{done}.txt").is_file()  # the resumed GPAW run's own log
