"""`python -m magmom.training`: a tiny run from LMDB caches, resume, errors; device helpers."""

from __future__ import annotations

import os
import subprocess
import sys

import pandas as pd
import pytest
import torch
from training_helpers import REPO, TINY, tiny_caches

from magmom.config import ConfigError
from magmom.training.checkpoint import load_checkpoint
from magmom.training.cli import load_config, main
from magmom.training.device import configure_tf32, loader_workers, select_device


@pytest.fixture(autouse=True)
def restore_threads():
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)


OVERRIDES = """
models: {hidden: 8}
training: {max_epochs: 3, batch_size: 8, early_stopping_patience: 50}
"""


def cli(cwd, *args):
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run(
        [sys.executable, "-m", "magmom.training", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )


def test_cli_trains_resumes_and_predicts(tmp_path, monkeypatch):
    tiny_caches(tmp_path)  # the tiny preset's layout: the CLI's defaults find them
    (tmp_path / "short.yaml").write_text(OVERRIDES)
    args = [
        "--architecture",
        "cgconv",
        "--cutoff",
        "4",
        "--residual",
        "--config",
        str(REPO / "config.yaml"),
        "--configfile",
        str(REPO / "presets" / "tiny.yaml"),
        "short.yaml",
        "--test-cache",
        TINY.graph_cache(4, "test"),
        "--no-progress",
    ]
    run = cli(tmp_path, *args)
    assert run.returncode == 0, run.stderr
    model_dir = tmp_path / TINY.model_dir("cgconv-r4-res")
    assert "cgconv-r4-res: best val MAE" in run.stdout
    history = pd.read_csv(model_dir / "history.csv")
    assert list(history.columns) == ["epoch", "train_loss", "train_mae", "val_mae", "lr", "time"]
    assert history["epoch"].tolist() == [1, 2, 3]
    best = load_checkpoint(model_dir / "best.pt")
    assert best["residual"] and best["config"]["dataset_name"] == "tiny"
    predictions = pd.read_csv(tmp_path / TINY.predictions("cgconv-r4-res"))
    assert len(predictions) == 8 * 12  # 8 test slabs of 12 atoms

    # the same command again (in-process this time): resumes the finished run, trains nothing
    monkeypatch.chdir(tmp_path)
    assert main([*args, "--log", "train.log"]) == 0
    assert "resumed cgconv-r4-res from" in (tmp_path / "train.log").read_text()
    assert load_checkpoint(model_dir / "last.pt")["epoch"] == 3


def test_cli_names_a_missing_cache(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    code = main(
        [
            "--architecture",
            "gcnconv",
            "--cutoff",
            "6",
            "--config",
            str(REPO / "config.yaml"),
            "--configfile",
            str(REPO / "presets" / "tiny.yaml"),
        ]
    )
    assert code == 1
    err = capsys.readouterr().err
    assert f"graph cache {TINY.graph_cache(6, 'train')} does not exist" in err


def test_config_overrides_merge_and_are_checked(tmp_path):
    config = load_config(REPO / "config.yaml", [REPO / "presets" / "tiny.yaml"])
    assert config["training"]["max_epochs"] == 3 and config["training"]["lr"] == 1e-3
    bad = tmp_path / "bad.yaml"
    bad.write_text("training: {huber_delta: -1}\n")
    with pytest.raises(ConfigError, match="training.huber_delta"):
        load_config(REPO / "config.yaml", [bad])


def test_device_helpers():
    assert [loader_workers(t) for t in (1, 2, 8)] == [0, 1, 7]
    assert select_device("cpu").type == "cpu"
    assert select_device(None).type == ("cuda" if torch.cuda.is_available() else "cpu")
    if not torch.cuda.is_available():
        with pytest.raises(RuntimeError, match="torch.cuda.is_available"):
            select_device("cuda")
    before = torch.backends.cuda.matmul.fp32_precision
    configure_tf32(torch.device("cpu"), True)  # the CPU run leaves the CUDA switches alone
    assert torch.backends.cuda.matmul.fp32_precision == before


def test_tf32_switches_on_cuda(monkeypatch):
    """The CUDA branch sets both switches (run on a CPU box with the device type only)."""
    matmul, conv = torch.backends.cuda.matmul, torch.backends.cudnn.conv
    saved = (matmul.fp32_precision, conv.fp32_precision)
    try:
        configure_tf32(torch.device("cuda"), True)
        assert (matmul.fp32_precision, conv.fp32_precision) == ("tf32", "tf32")
        configure_tf32(torch.device("cuda"), False)
        assert (matmul.fp32_precision, conv.fp32_precision) == ("ieee", "ieee")
    finally:
        matmul.fp32_precision, conv.fp32_precision = saved
