"""Deployment-cost benchmark on real (tiny, one-epoch) checkpoints written by the trainer."""

import copy
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from baselines_helpers import ELEMENTS, toy_dataset, toy_split, write_caches

from magmom.evaluation.deployment_cost import COLUMNS, benchmark, synthetic_slab, time_call
from magmom.graphs import GraphCache
from magmom.layout import ModelSpec
from magmom.training.run import train_from_config

REPO_CONFIG = Path(__file__).resolve().parents[1] / "config.yaml"


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory):
    root = tmp_path_factory.mktemp("cost")
    with open(REPO_CONFIG) as fh:
        config = yaml.safe_load(fh)
    config = copy.deepcopy(config)
    config["models"]["hidden"] = 16
    config["training"].update(max_epochs=1, batch_size=8)
    dataset = toy_dataset(12, seed=5)
    paths = write_caches(root, dataset, toy_split([s for s, _, _ in dataset]), cutoff=3.0)
    train, val = GraphCache(paths["train"]), GraphCache(paths["val"])
    out = []
    for spec in (ModelSpec("cgconv", 3.0), ModelSpec("schnetconv", 3.0, residual=True)):
        train_from_config(spec, config, train, val, root / spec.model_id, progress=False)
        out.append(root / spec.model_id / "best.pt")
    return out


def test_synthetic_slab_has_64_atoms_of_the_configured_elements():
    atoms = synthetic_slab(ELEMENTS, seed=1)
    assert len(atoms) == 64 and tuple(atoms.pbc) == (True, True, False)
    assert set(atoms.get_chemical_symbols()) <= set(ELEMENTS)
    assert synthetic_slab(ELEMENTS, seed=1).get_chemical_symbols() == atoms.get_chemical_symbols()


def test_benchmark_rows(checkpoints):
    table = benchmark(
        checkpoints,
        ELEMENTS,
        include_chgnet=True,
        load_repeats=1,
        repeats=3,
        budget_s=0.5,
    )
    assert tuple(table.columns) == COLUMNS
    assert table["model_id"].tolist() == ["cgconv-r3", "schnetconv-r3-res", "chgnet-pretrained"]
    assert table["residual"].tolist() == [False, True, False]
    assert (table["n_atoms"] == 64).all() and (table["n_edges"] > 64).all()
    assert (table["parameters"] > 0).all()
    assert table.loc[2, "parameters"] == 412_525  # CHGNet 0.3.0
    for col in ("load_s", "load_warm_s", "cpu_ms"):
        assert (table[col] > 0).all() and np.isfinite(table[col]).all(), col
    if torch.cuda.is_available():  # a GPU host times every model on CUDA too
        assert (table["cuda_ms"] > 0).all() and np.isfinite(table["cuda_ms"]).all()
    else:  # without a GPU the column is empty, not zero
        assert table["cuda_ms"].isna().all()


def test_time_call_counts_calls():
    calls = []
    ms = time_call(lambda: calls.append(1), torch.device("cpu"), warmup=2, repeats=5)
    assert len(calls) == 7 and ms >= 0
