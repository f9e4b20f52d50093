"""Reruns that lose nothing and leave nothing stale (issue 14), on the real workflow.

A dataset imported through the workflow (tiny preset, 12 toy slabs, seconds per run) is the
fixture: a failed import keeps it and the next run retries; Ctrl-C then the same command resumes
(profiles/default); typed --config overrides; unknown model ids and suggested commands explain
themselves.
"""

from __future__ import annotations

import hashlib
import os
import re
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pandas as pd
import pytest
import torch
import yaml
from baselines_helpers import toy_dataset, write_dataset_db

from magmom.config import CONFIG_ARGS_ENV, config_args, snakemake_command, type_overrides
from magmom.layout import Layout
from magmom.suggestions import suggestion
from magmom.training.checkpoint import load_checkpoint

REPO = Path(__file__).resolve().parents[1]
SNAKEMAKE = str(Path(sys.executable).with_name("snakemake"))
PATHS = Layout("results/imp", "imp")
TINY = Layout("results/tiny", "tiny")  # presets/tiny.yaml
DATASET = list(PATHS.dataset_files().values())  # db, failures, summary


def command(workdir: Path, *args: str) -> list[str]:
    return [SNAKEMAKE, *args, "-s", str(REPO / "Snakefile"), "-d", str(workdir), "--configfile",
            str(REPO / "config.yaml"), str(REPO / "presets" / "tiny.yaml"),
            str(workdir / "overrides.yaml")]  # fmt: skip


def snakemake(workdir: Path, *args: str) -> subprocess.CompletedProcess:
    proc = subprocess.run(command(workdir, *args), capture_output=True, text=True, timeout=600)
    proc.output = proc.stdout + proc.stderr
    return proc


def state(workdir: Path) -> dict[str, tuple[str, int]]:
    """(content hash, mtime) of each published dataset file."""
    out = {}
    for name in DATASET:
        path = workdir / name
        out[name] = (hashlib.sha256(path.read_bytes()).hexdigest(), path.stat().st_mtime_ns)
    return out


@pytest.fixture()
def imported(tmp_path):
    write_dataset_db(tmp_path / "source.db", toy_dataset(12, seed=3), labeller="gpaw")
    overrides = {
        "dataset_name": "imp",
        "results_dir": PATHS.root,
        "dataset": {"source": "source.db", "on_bad_record": "skip"},
    }
    (tmp_path / "overrides.yaml").write_text(yaml.safe_dump(overrides))
    proc = snakemake(tmp_path, DATASET[0], "--cores", "1")
    assert proc.returncode == 0, proc.output[-3000:]
    return tmp_path


@pytest.mark.slow
def test_failed_import_keeps_the_dataset_and_the_next_run_retries(imported):
    before = state(imported)
    (imported / "empty.extxyz").write_text("")
    broken = ("--config", "dataset={source: empty.extxyz}")
    proc = snakemake(imported, DATASET[0], "--cores", "1", *broken)
    assert proc.returncode != 0
    assert (
        "config key 'dataset.source' (empty.extxyz): empty.extxyz holds no records (an empty or "
        f"truncated extxyz file?); the previous dataset {DATASET[0]} (with its failures "
        "and summary files) is left as it was"
    ) in proc.output
    assert state(imported) == before  # same bytes, same mtime: nothing downstream reruns
    # the same command again retries the import instead of reporting "Nothing to be done"
    again = snakemake(imported, DATASET[0], "-n", *broken)
    assert again.returncode == 0 and "import_dataset" in again.output, again.output[-2000:]


@contextmanager
def exclusive_lock(db: Path) -> Iterator[None]:
    """Hold an exclusive SQLite lock on ``db``: a reader (ASE's db, as the importer opens it)
    waits for it (sqlite busy timeout, 20 s in ASE) instead of reading."""
    con = sqlite3.connect(db, isolation_level=None)
    try:
        con.execute("BEGIN EXCLUSIVE")
        yield
    finally:
        con.close()  # ends the transaction: the lock is released


def default_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def interrupt_import(workdir: Path, source: str, sig: int = signal.SIGINT) -> None:
    """Ctrl-C (SIGINT to Snakemake; or ``sig``, e.g. SIGHUP: a closed terminal) while the import
    job surely runs.

    ``dataset.source`` points at a fresh copy ``source`` (so the import reruns) held under an
    exclusive SQLite lock: the job starts, writes its log and waits for the lock, so it cannot
    finish before the SIGINT. Once Snakemake says it is terminating (it waits for running local
    jobs), the lock is released; the job writes its outputs, which Snakemake never marks complete.
    """
    (workdir / source).write_bytes((workdir / "source.db").read_bytes())
    overrides = yaml.safe_load((workdir / "overrides.yaml").read_text())
    overrides["dataset"]["source"] = source
    (workdir / "overrides.yaml").write_text(yaml.safe_dump(overrides))
    log = workdir / PATHS.log("dataset", "imp-import")
    started = log.stat().st_mtime_ns if log.exists() else 0
    with exclusive_lock(workdir / source):
        # default SIGINT handling, as in a terminal: a shell starts background commands (CI
        # runners, `cmd &`) with SIGINT ignored, and Python then installs no KeyboardInterrupt
        run = subprocess.Popen(command(workdir, DATASET[0]), stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True,
                               preexec_fn=default_sigint)  # fmt: skip
        lines: list[str] = []
        terminating = threading.Event()

        def read_output():
            for line in run.stdout:
                lines.append(line)
                if "Terminating processes on user request" in line:
                    terminating.set()

        reader = threading.Thread(target=read_output, daemon=True)
        reader.start()
        deadline = time.monotonic() + 120
        while not (log.exists() and log.stat().st_mtime_ns > started):  # the job has started
            assert run.poll() is None, "".join(lines)[-3000:]
            assert time.monotonic() < deadline, "the import job did not start"
            time.sleep(0.01)
        # Ctrl-C reaches Snakemake; the job waits for the lock. Snakemake's log handler swallows
        # a KeyboardInterrupt that lands while it writes a message (snakemake/logging.py, emit),
        # which it often does just as the job starts: press again, as a user would, until it
        # says it is terminating (well within ASE's 20 s wait for the lock).
        deadline = time.monotonic() + 15
        while not terminating.is_set() and run.poll() is None and time.monotonic() < deadline:
            os.kill(run.pid, sig)
            terminating.wait(1.0)
        assert terminating.is_set(), "".join(lines)[-3000:]
    run.wait(timeout=120)
    reader.join(timeout=10)
    assert "database is locked" not in log.read_text(), "".join(lines)[-3000:]


@pytest.mark.slow
def test_interrupted_run_resumes_with_the_same_command(imported):
    """Ctrl-C while a job runs: Snakemake leaves its outputs incomplete. profiles/default
    (rerun-incomplete) makes the unchanged command redo the job; without the profile Snakemake
    refuses with IncompleteFilesException."""
    interrupt_import(imported, "other.db")
    log = imported / PATHS.log("dataset", "imp-import")
    interrupted_log = (log.stat().st_mtime_ns, log.read_text())
    without = snakemake(imported, DATASET[0], "--workflow-profile", "none", "--cores", "1")
    tail = without.output[-3000:]
    assert without.returncode != 0 and "IncompleteFilesException" in without.output, tail
    proc = snakemake(imported, DATASET[0])  # the same command as before the Ctrl-C
    assert proc.returncode == 0, proc.output[-3000:]
    assert "Using workflow specific profile" in proc.output
    # the interrupted import itself ran again (its outputs were incomplete), not only the publish
    # step: the interrupted job had already written the staged files with source other.db
    job = re.search(r"^(?:local)?rule import_dataset:\n(.*?)\n\S", proc.output, re.M | re.S)
    assert job, proc.output[-3000:]
    # rerun because it was left incomplete (--rerun-incomplete forces it), not merely because
    # its input file changed (the interrupted run recorded no metadata for other.db)
    assert "reason: Forced execution" in job[1], job[1]
    assert (log.stat().st_mtime_ns, log.read_text()) != interrupted_log
    summary = yaml.safe_load((imported / DATASET[2]).read_text())
    assert summary["source"] == "other.db" and summary["n_slabs"] == 12


@pytest.mark.slow
def test_closed_terminal_leaves_no_lock_and_the_same_command_resumes(imported):
    """SIGHUP (the terminal running Snakemake closes) stops the run as a Ctrl-C does: no stale
    lock (Python's default would end the process at once, leaving LockException to the next run)
    and the interrupted import runs again."""
    interrupt_import(imported, "other.db", signal.SIGHUP)
    proc = snakemake(imported, DATASET[0])
    assert proc.returncode == 0 and "LockException" not in proc.output, proc.output[-3000:]
    assert re.search(r"^(?:local)?rule import_dataset:", proc.output, re.M), proc.output[-3000:]
    summary = yaml.safe_load((imported / DATASET[2]).read_text())
    assert summary["source"] == "other.db"


@pytest.mark.slow
def test_a_recipe_geometry_change_relabels_exactly_the_slabs_it_shapes(tmp_path):
    """dft_slab reads the recipe db through ancient() (a rebuilt db must not relabel every slab);
    the settings that shape a slab reach it as a file per lattice x family (rule slab_settings),
    so changing one replans, in the same run, the slabs it shapes and no other."""
    overrides = {"eos": {"calculator": "reference"},
                 "recipe": {"elements": ["Fe", "Ni"], "max_slabs_per_type": 1}}  # fmt: skip
    (tmp_path / "overrides.yaml").write_text(yaml.safe_dump(overrides))
    proc = snakemake(tmp_path, TINY.recipe_manifest(), "--cores", "1")
    assert proc.returncode == 0, proc.output[-3000:]
    manifest = pd.read_csv(tmp_path / TINY.recipe_manifest()).set_index("type")
    pure, proto = manifest.loc["pure", "slab_id"], manifest.loc["binary_proto", "slab_id"]
    records = [TINY.dft_record(pure), TINY.dft_record(proto)]
    proc = snakemake(tmp_path, *records, "--cores", "2")  # CHGNet surrogate labels (tiny preset)
    assert proc.returncode == 0, proc.output[-3000:]

    def planned(*config: str) -> set[str]:
        dry = snakemake(tmp_path, *records, "-n", *(("--config", *config) if config else ()))
        assert dry.returncode == 0, dry.output[-3000:]
        jobs = re.findall(
            r"^rule dft_slab:\n(?:.*\n)*?\s+wildcards: slab_id=(\S+)", dry.output, re.M
        )
        return set(jobs)

    assert planned() == set()
    assert planned("recipe={vacuum: 14.0}") == {pure, proto}
    assert planned("recipe={random_alloys: {size: [2, 2, 4]}}") == {pure}
    assert planned("recipe={ordered: {binary_prototypes: {size: [2, 2, 8]}}}") == {proto}
    assert planned("training={lr: 1.0e-4}") == set()  # not a recipe setting


@pytest.mark.slow
def test_the_same_data_from_another_source_file_retrains_nothing(imported):
    """Correcting a dataset.source path to a file with the same records: the import and the
    caches rerun (other file, other dataset bytes), but the train job finds the same graphs
    (the caches' content hash) and resumes its finished run instead of setting it aside."""
    model = "cgconv-r3"
    fast = ("--config", "training={max_epochs: 1}")
    proc = snakemake(imported, PATHS.checkpoint(model), "--cores", "2", *fast)
    assert proc.returncode == 0, proc.output[-3000:]
    best = load_checkpoint(imported / PATHS.checkpoint(model), map_location="cpu")
    (imported / "fixed.db").write_bytes((imported / "source.db").read_bytes())
    overrides = yaml.safe_load((imported / "overrides.yaml").read_text())
    overrides["dataset"]["source"] = "fixed.db"
    (imported / "overrides.yaml").write_text(yaml.safe_dump(overrides))
    proc = snakemake(imported, PATHS.checkpoint(model), "--cores", "2", *fast)
    assert proc.returncode == 0, proc.output[-3000:]
    assert re.search(r"^(?:local)?rule import_dataset:", proc.output, re.M)  # it did rerun
    log = (imported / PATHS.log("train", model)).read_text()
    assert "resumed" in log and "set aside" not in log, log[-3000:]
    assert not (imported / PATHS.checkpoint(model)).parent.joinpath("set-aside").exists()
    again = load_checkpoint(imported / PATHS.checkpoint(model), map_location="cpu")
    assert again["epoch"] == best["epoch"] == 1
    for name, tensor in best["model_state"].items():  # the same weights: no epoch trained again
        assert torch.equal(again["model_state"][name], tensor), name


def test_default_profile_leaves_slurm_threads_alone(tmp_path):
    """Under --profile slurm the workflow profile sets no --cores: it would cap every job's
    threads at the login node's cores. (Locally it gives all cores: the test above runs
    without --cores.)"""
    overrides = {"dataset_name": "imp", "results_dir": PATHS.root}
    (tmp_path / "overrides.yaml").write_text(yaml.safe_dump(overrides))
    # A dry run caps threads at its cores (1 unless set): a site profile gives it 64, which the
    # workflow profile (it overrides --profile key by key) would replace by the 2 cores here.
    site = tmp_path / "site-profile"
    site.mkdir()
    (site / "config.yaml").write_text("cores: 64\n")
    slurm = snakemake(tmp_path, PATHS.graph_cache(3, "train"), "-n", "--profile", "slurm",
                      "--profile", str(site), "--sdm", "env-modules")  # fmt: skip
    assert slurm.returncode == 0, slurm.output[-3000:]
    assert "workflow specific profile" in slurm.output
    block = slurm.output.split("rule graph_cache:")[1].split("\n\n")[0]
    # profiles/slurm sets 16 threads for graph_cache; --cores all would have scaled them down
    assert re.findall(r"threads: (\d+)", block) == ["16"], block


def test_typed_overrides_on_the_command_line(tmp_path):
    """Nested --config values reach the jobs with their YAML types (Snakemake passes them as
    strings): the schema accepts them (a string '5.0e-4' is not a number) and a real job uses
    them (the recipe keeps 1 slab per composition type, not the preset's 2)."""
    (tmp_path / "overrides.yaml").write_text("{}\n")
    override = "training={max_epochs: 2, lr: 5.0e-4, tf32: false}"
    proc = snakemake(tmp_path, "-n", TINY.checkpoint("cgconv-r4"), "--config", override)
    assert proc.returncode == 0, proc.output[-3000:]
    overrides = (
        "eos={calculator: reference}",
        "recipe={elements: [Fe, Ni], max_slabs_per_type: 1}",
    )
    proc = snakemake(tmp_path, TINY.recipe_manifest(), "--cores", "1", "--config", *overrides)
    assert proc.returncode == 0, proc.output[-3000:]
    manifest = pd.read_csv(tmp_path / TINY.recipe_manifest())
    per_type = manifest["type"].value_counts()
    assert per_type.max() == 1 and len(per_type) >= 3, per_type  # the preset keeps 2 per type
    assert set(" ".join(manifest["elements"]).split()) <= {"Fe", "Ni"}, manifest["elements"]
    # the helper itself, on what Snakemake hands it: nested strings, typed at the same keys
    config = {"training": {"max_epochs": "2", "lr": "5.0e-4", "tf32": "false", "seed": 42},
              "models": {"residual": [{"architecture": "cgconv", "cutoff": "4"}]},
              "dataset": {"source": "null"}, "dataset_name": "x"}  # fmt: skip
    type_overrides(config, {k: v for k, v in config.items() if k != "dataset_name"})
    assert config["training"] == {"max_epochs": 2, "lr": 5e-4, "tf32": False, "seed": 42}
    assert config["models"]["residual"] == [{"architecture": "cgconv", "cutoff": 4}]
    assert config["dataset"]["source"] is None


def test_unknown_model_ids_list_the_buildable_ones(tmp_path):
    (tmp_path / "overrides.yaml").write_text("{}\n")
    proc = snakemake(tmp_path, "-n", TINY.checkpoint("notamodel-r4"))
    assert proc.returncode != 0
    assert "'notamodel-r4' is not a model id this configuration can build." in proc.output
    assert ("This configuration's models: cgconv-r3, cgconv-r4, schnetconv-r3, schnetconv-r4, "
            "dimenet-r3, dimenet-r4, cgconv-r4-res, element-mean") in proc.output  # fmt: skip
    proc = snakemake(tmp_path, "-n", TINY.checkpoint("cgconv-r5"))
    assert "(cutoff 5 Å has no graph cache: graphs.cutoffs is 3, 4)" in proc.output
    for ok in ("cgconv-r4", "chgnet-finetuned"):  # buildable ids never see the catch-all
        proc = snakemake(tmp_path, "-n", TINY.checkpoint(ok))
        assert proc.returncode == 0 and "rule unknown_model" not in proc.output, proc.output[-2000:]
        assert "InputFunctionException" not in proc.output


def test_suggested_commands_carry_the_config_files(tmp_path, monkeypatch):
    from magmom.graphs import GraphCache
    from magmom.graphs.cache import CacheError

    monkeypatch.chdir(tmp_path)
    (tmp_path / "presets").mkdir()
    args = config_args([tmp_path / "presets" / "tiny.yaml", "/elsewhere/my config.yaml"])
    assert args == "--configfile presets/tiny.yaml '/elsewhere/my config.yaml'"
    monkeypatch.setenv(CONFIG_ARGS_ENV, args)
    assert snakemake_command("x.lmdb") == f"snakemake x.lmdb {args}"
    (tmp_path / "truncated.lmdb").write_bytes(b"\0" * 100)
    with pytest.raises(CacheError) as err:
        GraphCache("truncated.lmdb")
    assert suggestion(err.value) == f"delete it and rebuild it: snakemake truncated.lmdb {args}"
