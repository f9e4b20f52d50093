"""The training loop: determinism, kill-and-resume, early stopping, LR schedule, resume guard."""

from __future__ import annotations

import logging
import math
import os
import signal
import subprocess
import sys
import time

import pytest
import torch
from training_helpers import REPO, state_equal, tiny_config, tiny_factory, tiny_graphs

from magmom.layout import ModelSpec
from magmom.training.checkpoint import load_checkpoint
from magmom.training.loader import EpochShuffleSampler
from magmom.training.run import train_from_config
from magmom.training.set_aside import SET_ASIDE
from magmom.training.settings import TrainingError, TrainingSettings, stop_epoch

SPEC = ModelSpec("tiny", 4.0, residual=True)


pytestmark = pytest.mark.usefixtures("single_thread")


@pytest.fixture(scope="module")
def data():
    return tiny_graphs(24, seed=1), tiny_graphs(8, seed=2)


def fit(data, out, *, threads=1, config=None, spec=SPEC, **kwargs):
    config = config or tiny_config(max_epochs=6, batch_size=8, early_stopping_patience=50)
    return train_from_config(
        spec,
        config,
        *data,
        out,
        threads=threads,
        model_factory=tiny_factory,
        progress=False,
        **kwargs,
    )


def history_without_time(path):
    rows = load_checkpoint(path)["history"]
    return [{k: v for k, v in row.items() if k != "time"} for row in rows]


class Interrupt(Exception):
    pass


def stop_after(epoch):
    def hook(trainer):
        if trainer.epoch == epoch:
            raise Interrupt

    return hook


def assert_same_run(dir_a, dir_b):
    for name in ("best.pt", "last.pt"):
        a, b = load_checkpoint(dir_a / name), load_checkpoint(dir_b / name)
        assert a["epoch"] == b["epoch"]
        assert state_equal(a["model_state"], b["model_state"]), name
        assert a["scheduler_state"] == b["scheduler_state"]
        state_a, state_b = a["optimizer_state"]["state"], b["optimizer_state"]["state"]
        for k in state_a:
            assert all(torch.equal(state_a[k][n], state_b[k][n]) for n in state_a[k])
    assert history_without_time(dir_a / "last.pt") == history_without_time(dir_b / "last.pt")


def test_settings_from_config():
    s = TrainingSettings.from_config(tiny_config()["training"])
    assert (s.huber_delta, s.lr, s.weight_decay, s.grad_clip) == (0.1, 1e-3, 0.01, 1.0)
    assert (s.scheduler_factor, s.scheduler_patience, s.min_lr) == (0.5, 10, 1e-6)


@pytest.mark.parametrize("model_id", ["cgconv-r4", "cgconv-r4-res", "dimenet-r3.5", "gmmconv-r8"])
def test_model_id_round_trip(model_id):
    assert ModelSpec.from_model_id(model_id).model_id == model_id


def test_sampler_depends_on_seed_and_epoch_only():
    a, b = EpochShuffleSampler(50, seed=3), EpochShuffleSampler(50, seed=3)
    a.set_epoch(1)
    first = list(a)
    a.set_epoch(2)
    second = list(a)
    b.set_epoch(2)
    assert list(b) == second != first
    assert sorted(first) == list(range(50))


def test_seeded_runs_are_identical(data, tmp_path):
    fit(data, tmp_path / "a")
    fit(data, tmp_path / "b")
    assert_same_run(tmp_path / "a", tmp_path / "b")


@pytest.mark.parametrize("threads", [1, 2], ids=["in-process", "one-worker"])
def test_interrupt_and_resume_equals_uninterrupted(data, tmp_path, threads):
    fit(data, tmp_path / "full", threads=threads)
    with pytest.raises(Interrupt):
        fit(data, tmp_path / "cut", threads=threads, on_epoch_end=stop_after(3))
    assert load_checkpoint(tmp_path / "cut" / "last.pt")["epoch"] == 3
    # the workflow manager deletes the declared outputs of the failed job; last.pt survives
    (tmp_path / "cut" / "best.pt").unlink()
    (tmp_path / "cut" / "history.csv").unlink()
    result = fit(data, tmp_path / "cut", threads=threads)
    assert result.resumed_from_epoch == 3 and result.epochs == 6
    assert_same_run(tmp_path / "full", tmp_path / "cut")
    assert (tmp_path / "cut" / "history.csv").read_text().count("\n") == 7


@pytest.mark.parametrize("architecture", ["cgconv", "dimenet"])
def test_real_models_resume_bit_for_bit(data, tmp_path, architecture):
    """cgconv (batch norm running statistics) and periodic DimeNet++ from magmom.models."""
    spec = ModelSpec(architecture, 4.0)
    config = tiny_config(max_epochs=4, batch_size=8, early_stopping_patience=50)
    run = dict(threads=1, progress=False)
    train_from_config(spec, config, *data, tmp_path / "full", **run)
    with pytest.raises(Interrupt):
        train_from_config(spec, config, *data, tmp_path / "cut", on_epoch_end=stop_after(2), **run)
    assert train_from_config(spec, config, *data, tmp_path / "cut", **run).resumed_from_epoch == 2
    assert_same_run(tmp_path / "full", tmp_path / "cut")


KILL_SCRIPT = """
import sys
import torch
torch.set_num_threads(1)
sys.path.insert(0, {tests!r})
from training_helpers import tiny_config, tiny_factory, tiny_graphs
from magmom.layout import ModelSpec
from magmom.training.run import train_from_config
config = tiny_config(max_epochs={epochs}, batch_size=8, early_stopping_patience=50)
train_from_config(ModelSpec("tiny", 4.0, True), config, tiny_graphs(24, seed=1),
                  tiny_graphs(8, seed=2), {out!r}, model_factory=tiny_factory, progress=False)
"""


def test_sigkill_and_rerun_equals_uninterrupted(data, tmp_path):
    """A real kill (SIGKILL at an arbitrary moment, possibly mid-write), then a plain re-run."""
    epochs = 16
    config = tiny_config(max_epochs=epochs, batch_size=8, early_stopping_patience=50)
    fit(data, tmp_path / "full", config=config)
    code = KILL_SCRIPT.format(tests=str(REPO / "tests"), epochs=epochs, out=str(tmp_path / "cut"))
    proc = subprocess.Popen(
        [sys.executable, "-c", code], env={**os.environ, "PYTHONPATH": str(REPO)}
    )
    last = tmp_path / "cut" / "last.pt"
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and proc.poll() is None:
        if last.exists() and load_checkpoint(last)["epoch"] >= 3:
            break
        time.sleep(0.05)
    assert proc.poll() is None, "the run finished before it could be killed"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert 3 <= load_checkpoint(last)["epoch"] < epochs
    result = fit(data, tmp_path / "cut", config=config)
    assert result.resumed_from_epoch >= 3
    assert_same_run(tmp_path / "full", tmp_path / "cut")
    # a kill during a write may leave a temporary sibling; the re-run removes it
    assert sorted(p.name for p in (tmp_path / "cut").iterdir()) == [
        "best.pt",
        "history.csv",
        "last.pt",
    ]


def test_finished_run_is_not_retrained_but_extended(data, tmp_path):
    fit(data, tmp_path)
    again = fit(data, tmp_path)
    assert again.resumed_from_epoch == 6 and again.epochs == 6
    longer = tiny_config(max_epochs=8, batch_size=8, early_stopping_patience=50)
    extended = fit(data, tmp_path, config=longer)
    assert extended.resumed_from_epoch == 6 and extended.epochs == 8


def set_aside_runs(out):
    """{folder name: sorted file names} of the earlier states set aside in ``out``."""
    folder = out / SET_ASIDE
    if not folder.is_dir():
        return {}
    return {d.name: sorted(p.name for p in d.iterdir()) for d in sorted(folder.iterdir())}


def test_changed_settings_start_from_scratch(data, tmp_path, caplog):
    fit(data, tmp_path)
    other = tiny_config(max_epochs=6, batch_size=8, early_stopping_patience=50, lr=5e-4)
    with caplog.at_level(logging.WARNING):
        result = fit(data, tmp_path, config=other)
    assert result.resumed_from_epoch == 0
    assert "other settings or inputs: training.lr: 0.001 -> 0.0005" in caplog.text
    ((folder, files),) = set_aside_runs(tmp_path).items()
    assert files == ["best.pt", "history.csv", "last.pt"]
    assert load_checkpoint(tmp_path / SET_ASIDE / folder / "last.pt")["epoch"] == 6
    assert f"set aside in {tmp_path / SET_ASIDE / folder}" in caplog.text


def test_deleted_best_does_not_resume_a_longer_run(data, tmp_path, caplog):
    """The issue's case: best.pt deleted, last.pt of a longer run left behind; the new (shorter)
    run must not restore best.pt from it, and must equal a run from scratch."""
    fit(data, tmp_path / "long")
    (tmp_path / "long" / "best.pt").unlink()
    short = tiny_config(max_epochs=3, batch_size=8, early_stopping_patience=50)
    with caplog.at_level(logging.WARNING):
        result = fit(data, tmp_path / "long", config=short)
    assert result.resumed_from_epoch == 0 and result.epochs == 3
    assert "went on to epoch 6, past where this run stops (epoch 3: max_epochs=3" in caplog.text
    assert list(set_aside_runs(tmp_path / "long").values()) == [["history.csv", "last.pt"]]
    fit(data, tmp_path / "scratch", config=short)
    assert_same_run(tmp_path / "long", tmp_path / "scratch")


def test_fresh_sets_earlier_state_aside(data, tmp_path, caplog):
    fit(data, tmp_path)
    with caplog.at_level(logging.WARNING):
        assert fit(data, tmp_path, resume=False).resumed_from_epoch == 0
    assert "a fresh start was asked for" in caplog.text
    assert list(set_aside_runs(tmp_path).values()) == [["best.pt", "history.csv", "last.pt"]]
    fit(data, tmp_path, resume=False)  # a second fresh start keeps both earlier states
    assert len(set_aside_runs(tmp_path)) == 2


@pytest.mark.parametrize(
    ("max_epochs", "patience", "stop"), [(10, 2, 4), (10, 3, None), (3, 5, 3), (5, 9, 5)]
)
def test_stop_epoch_replays_the_budget(max_epochs, patience, stop):
    history = [{"epoch": e, "val_mae": m} for e, m in enumerate([1.0, 0.5, 0.6, 0.7, 0.4], 1)]
    settings = TrainingSettings(max_epochs=max_epochs, early_stopping_patience=patience)
    assert stop_epoch(history, settings) == stop


def test_early_stopping_and_lr_schedule_on_a_plateau(data, tmp_path):
    """A model that cannot improve: best at epoch 1, stop after `patience` more epochs, and the LR
    halves after every `scheduler.patience + 1` bad epochs down to min_lr."""
    config = tiny_config(max_epochs=100, batch_size=8, early_stopping_patience=9, lr=1e-3)
    config["training"]["scheduler"] = {"factor": 0.5, "patience": 1, "min_lr": 2e-4}
    result = fit(data, tmp_path, config=config, spec=ModelSpec("constant", 4.0))
    assert result.stopped_early and result.epochs == 10 and result.best_epoch == 1
    history = load_checkpoint(tmp_path / "last.pt")["history"]
    assert [row["epoch"] for row in history] == list(range(1, 11))
    # bad epochs 2,3 -> reduce after epoch 3; 4,5 -> after 5; 6,7 -> after 7 (clamped to 2e-4)
    expected = [1e-3] * 3 + [5e-4] * 2 + [2.5e-4] * 2 + [2e-4] * 3
    assert [row["lr"] for row in history] == pytest.approx(expected)
    assert len({row["val_mae"] for row in history}) == 1
    assert load_checkpoint(tmp_path / "best.pt")["epoch"] == 1


def test_learns_and_keeps_the_best_epoch(data, tmp_path):
    config = tiny_config(max_epochs=8, batch_size=8, early_stopping_patience=50, lr=3e-3)
    result = fit(data, tmp_path, config=config)
    history = load_checkpoint(tmp_path / "last.pt")["history"]
    maes = [row["val_mae"] for row in history]
    assert maes[-1] < 0.7 * maes[0]
    assert result.best_val_mae == min(maes)
    assert load_checkpoint(tmp_path / "best.pt")["epoch"] == 1 + maes.index(min(maes))


def test_diverging_run_fails_with_a_message(data, tmp_path):
    config = tiny_config(max_epochs=3, batch_size=8)
    bad = [d.clone() for d in data[0]]
    bad[0].y[0] = math.nan
    with pytest.raises(TrainingError, match="non-finite"):
        fit((bad, data[1]), tmp_path, config=config)
    assert not (tmp_path / "last.pt").exists()


def test_empty_cache_is_reported(data, tmp_path):
    with pytest.raises(TrainingError, match="validation graph cache val.lmdb holds no graphs"):
        fit((data[0], []), tmp_path, cache_names=("train.lmdb", "val.lmdb"))
