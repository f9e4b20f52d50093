"""Checkpoints: contents, weights_only loading, atomic writes, model rebuild, resume guard."""

from __future__ import annotations

import random

import numpy as np
import pytest
import torch
from training_helpers import state_equal, tiny_caches, tiny_config

from magmom.graphs import GraphCache
from magmom.layout import ModelSpec
from magmom.training import checkpoint as ckpt_module
from magmom.training.checkpoint import (
    CheckpointError,
    load_checkpoint,
    load_model,
    rng_state,
    save_checkpoint,
    set_rng_state,
)
from magmom.training.loader import graph_loader
from magmom.training.run import train_from_config, train_model
from magmom.training.settings import TrainingSettings
from magmom.training.trainer import Trainer

pytestmark = pytest.mark.usefixtures("single_thread")


@pytest.fixture(scope="module")
def caches(tmp_path_factory):
    paths = tiny_caches(tmp_path_factory.mktemp("caches"))
    return {split: GraphCache(path) for split, path in paths.items()}


@pytest.fixture(scope="module")
def trained(caches, tmp_path_factory):
    """cgconv-r4-res trained for 3 epochs on the LMDB caches (the real model builder)."""
    out = tmp_path_factory.mktemp("cgconv-r4-res")
    config = tiny_config(max_epochs=3, batch_size=8)
    train_from_config(
        ModelSpec("cgconv", 4.0, True), config, caches["train"], caches["val"], out, progress=False
    )
    return out


@pytest.mark.parametrize("name", ["best.pt", "last.pt"])
def test_checkpoints_load_with_weights_only(trained, caches, name):
    raw = torch.load(trained / name, weights_only=True)  # no allow-listed globals needed
    assert raw["format"] == "magmom-checkpoint"
    assert (raw["model_id"], raw["architecture"], raw["cutoff"], raw["residual"]) == (
        "cgconv-r4-res",
        "cgconv",
        4.0,
        True,
    )
    assert raw["config"]["training"]["huber_delta"] == 0.1
    assert raw["config"]["models"]["hidden"] == 8
    assert torch.equal(raw["element_mean"], caches["train"].element_mean())
    assert {"model_state", "optimizer_state", "scheduler_state", "epoch"} <= raw.keys()
    assert raw["scheduler_state"]["factor"] == 0.5
    assert len(raw["optimizer_state"]["state"]) > 0


def test_last_holds_the_resume_state(trained):
    last = load_checkpoint(trained / "last.pt")
    assert last["epoch"] == 3 and len(last["history"]) == 3
    assert set(last["trainer"]) == {"best_val_mae", "best_epoch", "epochs_without_improvement"}
    assert {"torch", "cuda", "numpy", "python"} == set(last["rng"])
    best = load_checkpoint(trained / "best.pt")
    assert last["best"]["epoch"] == best["epoch"] == last["trainer"]["best_epoch"]
    assert state_equal(last["best"]["model_state"], best["model_state"])


def test_best_checkpoint_reproduces_its_validation_mae(trained, caches):
    model, best = load_model(trained / "best.pt")
    trainer = Trainer(model, TrainingSettings(), trained, identity={"model_id": "check"})
    assert trainer.evaluate(graph_loader(caches["val"], 8, shuffle=False)) == best["val_mae"]


def test_rng_state_round_trip():
    state = rng_state()
    a = (torch.rand(3), np.random.rand(3), random.random())
    set_rng_state(state)
    b = (torch.rand(3), np.random.rand(3), random.random())
    assert torch.equal(a[0], b[0]) and (a[1] == b[1]).all() and a[2] == b[2]


def test_failed_write_leaves_the_previous_checkpoint(tmp_path, monkeypatch):
    path = tmp_path / "last.pt"
    save_checkpoint(path, {"format": "magmom-checkpoint", "epoch": 1})
    before = path.read_bytes()

    def broken_save(obj, f):
        with open(f, "wb") as fh:
            fh.write(b"half a checkpoint")
        raise OSError("disk full")

    monkeypatch.setattr(ckpt_module.torch, "save", broken_save)
    with pytest.raises(OSError, match="disk full"):
        save_checkpoint(path, {"format": "magmom-checkpoint", "epoch": 2})
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["last.pt"]


def test_unreadable_or_foreign_files_are_rejected(tmp_path):
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="weights_only=True"):
        load_checkpoint(junk)
    torch.save({"state_dict": {}}, tmp_path / "foreign.pt")
    with pytest.raises(CheckpointError, match="not a magmom checkpoint"):
        load_checkpoint(tmp_path / "foreign.pt")
    with pytest.raises(CheckpointError, match="does not exist"):
        load_checkpoint(tmp_path / "missing.pt")


def test_corrupt_last_checkpoint_restarts_training(caches, tmp_path, caplog):
    (tmp_path / "last.pt").write_bytes(b"\x00" * 64)
    config = tiny_config(max_epochs=1, batch_size=8)
    result = train_from_config(
        ModelSpec("cgconv", 4.0), config, caches["train"], caches["val"], tmp_path, progress=False
    )
    assert result.resumed_from_epoch == 0 and "starting from scratch" in caplog.text
    assert load_checkpoint(tmp_path / "last.pt")["epoch"] == 1


def test_other_cache_restarts_training(caches, tmp_path):
    config = tiny_config(max_epochs=1, batch_size=8)
    spec = ModelSpec("cgconv", 4.0)
    train_from_config(spec, config, caches["train"], caches["val"], tmp_path, progress=False)
    # same settings, validation on another cache: last.pt must not be resumed
    result = train_from_config(
        spec, config, caches["train"], caches["test"], tmp_path, progress=False
    )
    assert result.resumed_from_epoch == 0


def test_cache_of_another_cutoff_is_refused(caches, tmp_path):
    config = tiny_config(max_epochs=1)
    with pytest.raises(RuntimeError, match="cutoff 4.0 Å, but model cgconv-r6 needs 6 Å"):
        train_from_config(
            ModelSpec("cgconv", 6.0), config, caches["train"], caches["val"], tmp_path
        )


def test_named_settings_train_as_a_whole_config_does(caches, tmp_path):
    """The train rule passes models/training/target by name; its checkpoint records them as the
    config (the rule's format), and the run is the same run as one from a whole config with
    those sections (equal fingerprint: it resumes)."""
    config = tiny_config(max_epochs=1, batch_size=8)
    spec = ModelSpec("cgconv", 4.0)
    named = {"models": config["models"], "training": config["training"]}
    train_model(spec, caches["train"], caches["val"], tmp_path, **named, progress=False)
    raw = load_checkpoint(tmp_path / "best.pt")
    assert raw["config"] == {**named, "dataset": {"target": "abs"}}
    assert raw["graph"]["target"] == "abs"
    whole = {**named, "dataset": {"target": "abs"}}
    again = train_from_config(spec, whole, caches["train"], caches["val"], tmp_path, progress=False)
    assert again.resumed_from_epoch == 1
