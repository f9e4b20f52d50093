"""MagmomGNN operators, build_model and the residual variant."""

from __future__ import annotations

import io

import numpy as np
import pytest
import torch
from models_helpers import (
    SMALL_MODELS,
    alloy_slab,
    batch,
    translated,
)

from magmom.models import ARCHITECTURES, MagmomGNN, ResidualTarget, build_model
from magmom.models.operators import OPERATORS
from magmom.models.spline_conv import SplineConv, spline_basis

pytestmark = pytest.mark.usefixtures("single_thread")

CUTOFF = 4.0


@pytest.fixture(scope="module")
def periodic_batch():
    return batch([alloy_slab(0), alloy_slab(1, size=(2, 2, 3))], CUTOFF)


def test_architecture_list():
    assert len(ARCHITECTURES) == 16
    assert ARCHITECTURES[-1] == "dimenet"
    assert list(OPERATORS) == [
        "cgconv", "schnetconv", "graphconv", "sageconv", "gatv2conv", "gcnconv",
        "transformerconv", "gineconv", "nnconv", "genconv", "gmmconv", "resgatedgraphconv",
        "generalconv", "pdnconv", "splineconv",
    ]  # fmt: skip
    distance_blind = {name for name, op in OPERATORS.items() if not op.uses_distance}
    assert distance_blind == {"graphconv", "sageconv", "gcnconv", "genconv"}


@pytest.mark.parametrize("architecture", ARCHITECTURES)
def test_forward_backward(architecture, periodic_batch):
    torch.manual_seed(0)
    model = build_model(architecture, CUTOFF, SMALL_MODELS)
    out = model(periodic_batch)
    assert out.shape == (periodic_batch.num_nodes,)
    assert torch.isfinite(out).all()
    ((out - 1.0) ** 2).mean().backward()
    grads = [p.grad for p in model.parameters() if p.requires_grad]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)
    # the embedding (or DimeNet's) always receives a gradient
    assert any(float(g.abs().sum()) > 0 for g in grads)


def _without_self_images(data):
    """The same graph minus its periodic self-images (edges i -> i with cell offset S != 0)."""
    j, i = data.edge_index
    image = (i == j) & data.cell_offset.ne(0).any(dim=1)
    out = data.clone()
    for name in ("edge_index", "edge_dist", "edge_vec", "cell_offset"):
        value = data[name]
        out[name] = value[:, ~image] if name == "edge_index" else value[~image]
    return out, int(image.sum())


@pytest.fixture(scope="module")
def self_image_graph():
    """An ideal 2x2x3 fcc(111) alloy slab at r6: every atom sees 6 images of itself."""
    atoms = alloy_slab(5, size=(2, 2, 3), rattle=0.0)
    return batch([atoms], 6.0, max_neighbors=50)


@pytest.mark.parametrize("architecture", ARCHITECTURES)
def test_every_architecture_uses_the_self_image_edges(architecture, self_image_graph):
    """Deleting the periodic self-images changes the output of every operator and DimeNet++."""
    reduced, n_images = _without_self_images(self_image_graph)
    assert n_images == 6 * self_image_graph.num_nodes
    torch.manual_seed(0)
    model = build_model(architecture, 6.0, SMALL_MODELS).double().eval()
    with torch.no_grad():
        for p in model.parameters():  # DimeNet++'s zero-initialised output heads
            if not p.any():
                p.normal_(0.0, 0.3)
        full = model(_float64(self_image_graph))
        cut = model(_float64(reduced))
    assert float((full - cut).abs().max()) > 1e-4 * float(full.abs().max())


@pytest.mark.parametrize("operator", ["gatv2conv", "gcnconv"])
def test_pyg_self_loop_handling_would_drop_the_self_images(operator, self_image_graph):
    """With PyG's default add_self_loops=True (the study's wiring) the self-images are deleted:
    removing them by hand leaves the output bit-identical, so the test above can fail."""
    reduced, _ = _without_self_images(self_image_graph)
    torch.manual_seed(0)
    model = build_model(operator, 6.0, SMALL_MODELS).double().eval()
    for layer in model.layers:
        layer.conv.add_self_loops, layer.self_loop = True, False
    with torch.no_grad():
        assert torch.equal(model(_float64(self_image_graph)), model(_float64(reduced)))


def _float64(data):
    out = data.clone()
    for name in ("pos", "edge_dist", "edge_vec", "cell"):
        out[name] = data[name].double()
    return out


def test_no_operator_adds_self_loops_itself():
    """Only the layer adds each atom's own loop; no convolution deletes or merges i -> i edges."""
    for name in OPERATORS:
        model = build_model(name, 4.0, SMALL_MODELS)
        assert not any(getattr(m, "add_self_loops", False) for m in model.modules()), name
        has_loop = any(getattr(m, "self_loop", False) for m in model.modules())
        assert has_loop == (name in ("gatv2conv", "gcnconv", "pdnconv")), name


@pytest.mark.parametrize("architecture", ARCHITECTURES)
def test_translation_invariance(architecture):
    """Moving every atom and wrapping it back into the cell leaves each prediction unchanged."""
    atoms = alloy_slab(3)
    moved = translated(atoms, [1.7, -2.9, 0.4])
    assert not np.allclose(moved.positions, atoms.positions + [1.7, -2.9, 0.4])  # wrapped
    torch.manual_seed(0)
    model = build_model(architecture, CUTOFF, SMALL_MODELS).eval()
    if architecture == "dimenet":  # zero-initialised output layers would make this trivial
        for block in model.output_blocks:
            torch.nn.init.normal_(block.lin.weight)
    with torch.no_grad():
        a = model(batch([atoms], CUTOFF))
        b = model(batch([moved], CUTOFF))
    assert a.abs().max() > 1e-3
    torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-5)


def test_distance_blind_operators_ignore_distances(periodic_batch):
    """Operators without (d) depend on the connectivity only; (d) operators on the distances."""
    scaled = periodic_batch.clone()
    scaled.edge_dist = periodic_batch.edge_dist * 0.9
    scaled.edge_vec = periodic_batch.edge_vec * 0.9
    for name, op in OPERATORS.items():
        torch.manual_seed(0)
        model = build_model(name, CUTOFF, SMALL_MODELS).eval()
        with torch.no_grad():
            same = torch.allclose(model(periodic_batch), model(scaled), atol=1e-6)
        assert same != op.uses_distance, name


def test_published_parameter_counts():
    """The study's three published checkpoints at width 128: 230,785 / 249,217 / 764,294."""

    def count(architecture):
        model = build_model(architecture, 6.0, {"hidden": 128, "layers": 3})
        return sum(p.numel() for p in model.parameters())

    assert count("cgconv") == 230_785
    assert count("schnetconv") == 249_217
    assert count("dimenet") == 764_294


def test_build_model_errors():
    with pytest.raises(ValueError, match="unknown architecture 'schnet'.*allowed: cgconv"):
        build_model("schnet", 4.0, {})
    with pytest.raises(ValueError, match="cutoff"):
        build_model("cgconv", 0.0, {})
    with pytest.raises(ValueError, match="models.dimenet"):
        build_model("dimenet", 4.0, {"dimenet": {"hidden": 3}})
    with pytest.raises(ValueError, match=r"element_mean must have shape \(119,\)"):
        build_model("cgconv", 4.0, {}, element_mean=torch.zeros(95))


def test_magmom_gnn_structure():
    model = build_model("gineconv", 3.0, {"hidden": 24, "layers": 4, "readout_hidden_layers": 2})
    assert isinstance(model, MagmomGNN)
    assert model.embedding.num_embeddings == 119 and model.embedding.padding_idx == 0
    assert len(model.layers) == 4
    linears = [m for m in model.readout if isinstance(m, torch.nn.Linear)]
    assert [(m.in_features, m.out_features) for m in linears] == [(24, 24), (24, 24), (24, 1)]


@pytest.mark.parametrize("architecture", ["cgconv", "dimenet"])
def test_residual_variant(architecture, periodic_batch):
    element_mean = torch.zeros(119)
    element_mean[[26, 27, 28, 46, 78]] = torch.tensor([2.2, 1.6, 0.6, 0.3, 0.2])
    torch.manual_seed(0)
    plain = build_model(architecture, CUTOFF, SMALL_MODELS).eval()
    torch.manual_seed(0)
    residual = build_model(architecture, CUTOFF, SMALL_MODELS, element_mean=element_mean).eval()
    assert isinstance(residual, ResidualTarget)
    assert "element_mean" in residual.state_dict()
    assert not any(p is residual.element_mean for p in residual.parameters())
    with torch.no_grad():
        expected = plain(periodic_batch) + element_mean[periodic_batch.z]
        torch.testing.assert_close(residual(periodic_batch), expected)

    # a checkpoint restores the bias even when the model is rebuilt with a placeholder
    buffer = io.BytesIO()
    torch.save(residual.state_dict(), buffer)
    buffer.seek(0)
    rebuilt = build_model(architecture, CUTOFF, SMALL_MODELS, element_mean=torch.zeros(119))
    rebuilt.load_state_dict(torch.load(buffer, weights_only=True))
    rebuilt.eval()
    torch.testing.assert_close(rebuilt.element_mean, element_mean)
    with torch.no_grad():
        torch.testing.assert_close(rebuilt(periodic_batch), expected)


# --- SplineConv --------------------------------------------------------------------------------


def test_spline_basis_open_linear():
    """Degree-1 open spline with 8 knots: u in [0, 1] maps onto knots 0..7 (v = 7 u)."""
    pseudo = torch.tensor([[0.0], [0.5], [1.0 / 7.0 * 2.25], [1.0]])
    basis, knot = spline_basis(
        pseudo, torch.tensor([8]), torch.tensor([1], dtype=torch.uint8), degree=1
    )
    torch.testing.assert_close(basis, torch.tensor([[1.0, 0.0], [0.5, 0.5], [0.75, 0.25], [1, 0]]))
    assert knot.tolist() == [[0, 1], [3, 4], [2, 3], [7, 0]]


@pytest.mark.parametrize("degree", [1, 2, 3])
def test_spline_basis_partition_of_unity_2d(degree):
    pseudo = torch.rand(50, 2, generator=torch.Generator().manual_seed(degree))
    kernel_size = torch.tensor([5, 6])
    basis, knot = spline_basis(pseudo, kernel_size, torch.tensor([1, 0], dtype=torch.uint8), degree)
    assert basis.shape == knot.shape == (50, (degree + 1) ** 2)
    torch.testing.assert_close(basis.sum(dim=1), torch.ones(50))
    assert int(knot.min()) >= 0 and int(knot.max()) < 30
    # column s: dimension 0 offset = s % (degree+1), fastest, as in the reference kernels
    v0 = (pseudo[:, 0] * (5 - degree)).floor().long()
    assert torch.equal(knot[:, 1] % 5, (v0 + 1) % 5)


def test_spline_conv_matches_edgewise_definition():
    torch.manual_seed(0)
    conv = SplineConv(6, 4, dim=1, kernel_size=8)
    torch.nn.init.normal_(conv.bias)
    x = torch.randn(5, 6)
    edge_index = torch.tensor([[1, 2, 3, 4, 0, 0], [0, 0, 0, 1, 2, 2]])
    pseudo = torch.tensor([0.0, 0.3, 0.77, 1.0, 0.5, 0.123])[:, None]
    out = conv(x, edge_index, pseudo)

    expected = x @ conv.lin.weight.T + conv.bias
    for node in range(5):
        messages = []
        for e in (edge_index[1] == node).nonzero().flatten().tolist():
            v = float(pseudo[e]) * 7
            k = int(np.floor(v))
            t = v - k
            kernel = (1 - t) * conv.weight[k % 8] + t * conv.weight[(k + 1) % 8]
            messages.append(x[edge_index[0, e]] @ kernel)
        if messages:
            expected[node] += torch.stack(messages).mean(0)
    torch.testing.assert_close(out, expected, atol=1e-5, rtol=1e-5)
    assert set(conv.state_dict()) == {"weight", "lin.weight", "bias", "kernel_size",
                                      "is_open_spline"}  # fmt: skip


@pytest.mark.parametrize("architecture", ARCHITECTURES)
def test_graph_without_edges(architecture):
    """Atoms farther apart than the cutoff still get a (finite) prediction each."""
    from ase import Atoms

    atoms = Atoms("FeNi", positions=[[0, 0, 5], [0, 0, 15]], cell=[3, 3, 20], pbc=[1, 1, 0])
    g = batch([atoms], 2.0)
    assert g.num_edges == 0
    model = build_model(architecture, 2.0, SMALL_MODELS).eval()
    with torch.no_grad():
        out = model(g)
    assert out.shape == (2,) and torch.isfinite(out).all()
