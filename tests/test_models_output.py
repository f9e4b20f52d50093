"""|m| predictions are never negative, the same way in training, evaluation, the predictor and the
ASE calculator (magmom.models.output); the share of negative raw outputs reaches the metrics; a
checkpoint's neighbour rule reaches the predictor's graphs."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from ase import Atoms
from torch_geometric.data import Batch
from training_helpers import tiny_slabs, train_tiny_model

import magmom
from magmom.evaluation.metrics import evaluate
from magmom.layout import ModelSpec
from magmom.predict.predictor import MomentPredictor
from magmom.predictions import RAW_COLUMN, read_predictions
from magmom.training.checkpoint import load_checkpoint, load_model, save_checkpoint
from magmom.training.predict import predict, predict_checkpoint
from magmom.training.settings import TrainingSettings
from magmom.training.trainer import Trainer

pytestmark = pytest.mark.usefixtures("single_thread")


@pytest.fixture(scope="module")
def shifted(tmp_path_factory):
    """A trained tiny cgconv whose last readout bias is lowered until half of its raw test outputs
    are negative, saved as a checkpoint."""
    root = tmp_path_factory.mktemp("output")
    caches, best = train_tiny_model(
        root, root / "models" / "cgconv-r4", ModelSpec("cgconv", 4.0), max_epochs=1, batch_size=8
    )
    model, ckpt = load_model(best)
    test = [caches["test"][k] for k in range(len(caches["test"]))]
    with torch.no_grad():
        raw = model(Batch.from_data_list(test))
        model.readout[-1].bias -= float(raw.median())
    path = root / "shifted.pt"
    save_checkpoint(path, {**ckpt, "model_state": model.state_dict()})
    return {"root": root, "path": path, "caches": caches, "test": test}


def test_test_predictions_are_clipped_and_the_negative_share_is_reported(shifted):
    csv = shifted["root"] / "predictions.csv"
    predict_checkpoint(shifted["path"], shifted["caches"]["test"], csv)
    frame = read_predictions(csv)
    raw = frame[RAW_COLUMN].to_numpy()
    assert 0.3 < (raw < 0).mean() < 0.7
    np.testing.assert_allclose(frame["y_pred"], raw.clip(0), rtol=0, atol=1e-7)
    metrics = evaluate(frame, excluded_elements=())
    assert metrics["all"]["raw_negative_fraction"] == pytest.approx((raw < 0).mean())
    assert metrics["all"]["mae"] == pytest.approx(np.abs(raw.clip(0) - frame["y_true"]).mean())
    # a producer without raw outputs (a baseline): the share is that of its predictions
    baseline = frame.drop(columns=RAW_COLUMN).assign(y_pred=raw)
    assert evaluate(baseline, ())["all"]["raw_negative_fraction"] == pytest.approx((raw < 0).mean())


def test_signed_targets_are_not_clipped(shifted):
    model, _ = load_model(shifted["path"])
    frame = predict(model, shifted["test"], target="signed")
    assert (frame["y_pred"] < 0).any()
    pd.testing.assert_series_equal(frame["y_pred"], frame[RAW_COLUMN], check_names=False)


def test_training_and_validation_see_the_clipped_prediction(shifted, tmp_path):
    model, _ = load_model(shifted["path"])
    batch = Batch.from_data_list(shifted["test"])
    with torch.no_grad():
        raw = model(batch)
    y = batch.y
    for target, pred in (("abs", raw.clamp_min(0)), ("signed", raw)):
        identity = {"model_id": "clip", "graph": {"target": target}}
        trainer = Trainer(model, TrainingSettings(), tmp_path / target, identity=identity)
        assert trainer.evaluate([batch]) == pytest.approx(float((pred - y).abs().mean()), rel=1e-6)


def test_predictor_and_calculator_never_return_a_negative_moment(shifted):
    slabs = tiny_slabs(40, seed=7)[32:]  # the test cache's slabs (tiny_caches)
    atoms = Atoms(
        numbers=slabs[0].numbers, positions=slabs[0].positions, cell=slabs[0].cell, pbc=True
    )
    atoms.pbc = (True, True, False)
    predictor = MomentPredictor(shifted["path"], device="cpu")
    model, _ = load_model(shifted["path"])
    with torch.no_grad():
        raw = model(Batch.from_data_list([predictor.graph_of(atoms)])).numpy()
    assert (raw < 0).any() and (raw > 0).any()
    np.testing.assert_allclose(predictor.predict_atoms(atoms), raw.clip(0), atol=1e-6)
    atoms.calc = magmom.MagmomCalculator(predictor)
    moments = atoms.get_magnetic_moments()
    assert (moments >= 0).all() and (moments == 0).any()
    start = magmom.set_initial_magmoms(atoms.copy(), predictor)
    assert (start.get_initial_magnetic_moments() >= 0).all()


def test_the_checkpoint_rule_reaches_the_predictor(shifted, tmp_path):
    """A checkpoint names its neighbour rule; one of schema 2 (no rule) was shell-complete."""
    ckpt = load_checkpoint(shifted["path"])
    slab = tiny_slabs(1, seed=1)[0]
    atoms = Atoms(numbers=slab.numbers, positions=slab.positions, cell=slab.cell)
    atoms.pbc = (True, True, False)
    edges = {}
    for name, graph in {
        "global": {**ckpt["graph"], "neighbor_rule": "study_global", "max_neighbors": 3},
        "radius": {**ckpt["graph"], "neighbor_rule": "radius", "max_neighbors": None},
        "schema 2": {
            k: v for k, v in {**ckpt["graph"], "max_neighbors": 3}.items() if k != "neighbor_rule"
        },
    }.items():
        save_checkpoint(tmp_path / f"{name}.pt", {**ckpt, "graph": graph})
        predictor = MomentPredictor(tmp_path / f"{name}.pt", device="cpu")
        edges[name] = np.bincount(predictor.graph_of(atoms).edge_index[1], minlength=len(atoms))
    assert edges["global"].sum() == 3 * len(atoms) and edges["global"].max() > 3
    assert edges["schema 2"].min() >= 3 and edges["radius"].sum() > edges["schema 2"].sum()
