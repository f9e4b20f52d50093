"""Test-set predictions: the predictions contract (columns, one row per atom, order, values)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from ase.data import chemical_symbols
from training_helpers import tiny_caches, tiny_factory, tiny_graphs, train_tiny_model

from magmom.graphs import GraphCache
from magmom.layout import ModelSpec
from magmom.predictions import COLUMNS, RAW_COLUMN, write_predictions
from magmom.training.checkpoint import load_model
from magmom.training.predict import predict, predict_checkpoint

pytestmark = pytest.mark.usefixtures("single_thread")


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("predict")
    out = root / "models" / "schnetconv-r4"
    spec = ModelSpec("schnetconv", 4.0)
    caches, best = train_tiny_model(root, out, spec, max_epochs=2, batch_size=8)
    return caches, best, root


def test_predictions_follow_the_contract(setup):
    caches, best, root = setup
    csv = root / "predictions" / "schnetconv-r4.csv"
    predict_checkpoint(best, caches["test"], csv, batch_size=3)
    frame = pd.read_csv(csv, dtype={"slab_id": str})
    assert tuple(frame.columns) == (*COLUMNS, RAW_COLUMN)
    graphs = [caches["test"][k] for k in range(len(caches["test"]))]
    assert len(frame) == sum(g.num_nodes for g in graphs)
    keys = list(zip(frame["slab_id"], frame["atom_index"], strict=True))
    assert keys == sorted(keys)
    model, _ = load_model(best)
    for g in graphs:
        rows = frame[frame["slab_id"] == g.slab_id]
        assert rows["atom_index"].tolist() == list(range(g.num_nodes))
        assert rows["element"].tolist() == [chemical_symbols[z] for z in g.z.tolist()]
        np.testing.assert_allclose(rows["y_true"], g.y.numpy(), rtol=1e-6, atol=1e-7)
        with torch.no_grad():
            alone = model(g.clone()).numpy()  # one slab alone: batching must not change it
        np.testing.assert_allclose(rows[RAW_COLUMN], alone, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(rows["y_pred"], alone.clip(0), rtol=1e-5, atol=1e-6)


def test_rows_are_sorted_whatever_the_cache_order():
    graphs = tiny_graphs(5, seed=3)
    shuffled = [graphs[i] for i in (3, 0, 4, 1, 2)]
    model = tiny_factory("tiny", 4.0, {"hidden": 4})
    a, b = predict(model, graphs, batch_size=2), predict(model, shuffled, batch_size=4)
    pd.testing.assert_frame_equal(a, b, check_exact=False, rtol=1e-6)
    assert a["slab_id"].is_monotonic_increasing


def test_duplicate_slabs_are_an_error():
    graphs = tiny_graphs(2, seed=3)
    model = tiny_factory("tiny", 4.0, {"hidden": 4})
    with pytest.raises(ValueError, match="occurs more than once"):
        predict(model, [graphs[0], graphs[1], graphs[0]])


def test_write_requires_every_column(tmp_path):
    frame = pd.DataFrame({"slab_id": ["a"], "atom_index": [0], "y_pred": [0.1]})
    with pytest.raises(ValueError, match="lack columns"):
        write_predictions(frame, tmp_path / "p.csv")
    assert not (tmp_path / "p.csv").exists()


def test_cutoff_mismatch_is_an_error(setup, tmp_path):
    caches, best, _ = setup
    other = GraphCache(tiny_caches(tmp_path, cutoff=3.0)["test"])
    with pytest.raises(ValueError, match="trained at cutoff 4 Å"):
        predict_checkpoint(best, other, tmp_path / "p.csv")
