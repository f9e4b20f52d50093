"""Layer scales of MagmomGNN: the data-dependent initialisation that keeps sum-aggregating
operators from starting orders of magnitude off the target scale at large cutoffs."""

import copy
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from baselines_helpers import toy_dataset, toy_split, write_caches
from torch_geometric.data import Batch

from magmom.graphs import GraphCache
from magmom.graphs.builder import SlabInput, graph_arrays
from magmom.graphs.dataset import arrays_to_data
from magmom.layout import ModelSpec
from magmom.models import build_model
from magmom.models.magmom_gnn import MagmomGNN, calibrate_layer_scales
from magmom.training.checkpoint import load_model
from magmom.training.run import train_from_config

REPO_CONFIG = Path(__file__).resolve().parents[1] / "config.yaml"
CUTOFF = 6.0
MODELS = {"hidden": 16, "layers": 3, "readout_hidden_layers": 1}


@pytest.fixture(scope="module")
def batch():
    graphs = []
    for slab_id, atoms, m in toy_dataset(6, seed=2):
        slab = SlabInput(slab_id, atoms.numbers, atoms.positions, atoms.cell[:], atoms.pbc, m)
        graphs.append(arrays_to_data(graph_arrays(slab, CUTOFF, 50)))
    return Batch.from_data_list(graphs)


def layer_outputs(model: MagmomGNN, batch) -> list[float]:
    """RMS of each scaled layer output (in the model's current mode)."""
    out, h = [], model.embedding(batch.z)
    with torch.no_grad():
        for layer, scale in zip(model.layers, model.layer_scale, strict=True):
            h = layer(h, batch.edge_index, batch.edge_dist) * scale
            out.append(float(h.pow(2).mean().sqrt()))
    return out


@pytest.mark.parametrize("operator", ["nnconv", "generalconv", "graphconv"])
def test_calibration_brings_sum_aggregators_to_the_target_scale(operator, batch):
    torch.manual_seed(0)
    model = build_model(operator, CUTOFF, MODELS)
    n_params = sum(p.numel() for p in model.parameters())
    with torch.no_grad():
        before = model(batch).abs().mean().item()
    assert before > 20  # ~40 edges per atom: the unscaled sums explode
    (scales,) = calibrate_layer_scales(model, batch)
    assert (scales < 1).all() and (scales > 0).all()
    assert max(layer_outputs(model, batch)) == pytest.approx(1.0, rel=1e-3)
    with torch.no_grad():
        after = model(batch).abs().mean().item()
    assert after < 2 and after < before / 10
    assert sum(p.numel() for p in model.parameters()) == n_params  # a buffer, not a parameter


@pytest.mark.parametrize("operator", ["sageconv", "gcnconv", "schnetconv"])
def test_calibration_leaves_well_scaled_layers_alone(operator, batch):
    torch.manual_seed(0)
    model = build_model(operator, CUTOFF, MODELS)
    with torch.no_grad():
        before = model(batch)
    (scales,) = calibrate_layer_scales(model, batch)
    assert scales.tolist() == [1.0, 1.0, 1.0]
    with torch.no_grad():
        assert torch.equal(model(batch), before)


def test_scales_are_saved_and_old_state_dicts_load_with_unit_scales(batch):
    torch.manual_seed(0)
    model = build_model("nnconv", CUTOFF, MODELS, element_mean=torch.full((119,), 0.5))
    calibrate_layer_scales(model, batch)  # found inside the residual wrapper
    state = copy.deepcopy(model.state_dict())
    assert (state["network.layer_scale"] < 1).all()
    fresh = build_model("nnconv", CUTOFF, MODELS, element_mean=torch.zeros(119))
    fresh.load_state_dict(state)
    assert torch.equal(fresh.network.layer_scale, model.network.layer_scale)
    with torch.no_grad():
        assert torch.equal(fresh(batch), model(batch))
    del state["network.layer_scale"]  # a checkpoint written before the scales existed
    fresh.load_state_dict(state)
    assert fresh.network.layer_scale.tolist() == [1.0, 1.0, 1.0]


def test_training_calibrates_and_the_checkpoint_keeps_the_scales(tmp_path):
    with open(REPO_CONFIG) as fh:
        config = yaml.safe_load(fh)
    config["models"].update(MODELS)
    config["training"].update(max_epochs=2, batch_size=4)
    dataset = toy_dataset(10, seed=4)
    paths = write_caches(tmp_path, dataset, toy_split([s for s, _, _ in dataset]), cutoff=CUTOFF)
    train, val = GraphCache(paths["train"]), GraphCache(paths["val"])
    train_from_config(
        ModelSpec("nnconv", CUTOFF), config, train, val, tmp_path / "m", progress=False
    )
    model, _ = load_model(tmp_path / "m" / "best.pt", device="cpu")
    scales = model.layer_scale.numpy()
    assert (scales < 1).all() and np.isfinite(scales).all()
    val_batch = Batch.from_data_list([val[i] for i in range(len(val))])
    with torch.no_grad():
        assert model(val_batch).abs().max().item() < 20  # on the target scale (a few μB)


@pytest.mark.parametrize("operator", ["cgconv", "transformerconv", "nnconv"])
def test_calibration_sees_the_training_mode_network(operator, batch):
    """The scaled features have RMS <= 1, = 1 where a layer was scaled, in training mode (what
    the layers train with; cgconv's BatchNorm uses batch statistics there), and calibrating
    leaves BatchNorm's running statistics as they were."""
    torch.manual_seed(0)
    model = build_model(operator, CUTOFF, {**MODELS, "hidden": 32})
    running = {k: v.clone() for k, v in model.named_buffers() if k != "layer_scale"}
    (scales,) = calibrate_layer_scales(model, batch)
    assert all(torch.equal(v, running[k]) for k, v in model.named_buffers() if k in running)
    model.train()
    rms = layer_outputs(model, batch)
    for scale, value in zip(scales.tolist(), rms, strict=True):
        assert value <= 1.0 + 1e-4
        if scale < 1.0:
            assert value == pytest.approx(1.0, rel=1e-3)
    assert min(rms) > 0.3, f"{operator}: training-mode features at RMS {rms}"
