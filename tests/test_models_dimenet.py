"""Periodic DimeNet++: triplets, the sympy-free basis, and equality with PyG's DimeNet++."""

from __future__ import annotations

import time

import numpy as np
import pytest
import torch
import torch_geometric.nn.models.dimenet as pyg_dimenet
from ase import Atoms
from ase.build import fcc111
from models_helpers import (
    alloy_slab,
    graph,
)

from magmom.models.dimenet_basis import (
    SphericalBasis,
    spherical_bessel,
    spherical_bessel_zeros,
)
from magmom.models.dimenet_pp import PeriodicDimeNetPlusPlus
from magmom.models.triplets import dense_triplets, triplets

pytestmark = pytest.mark.usefixtures("single_thread")

SIZES = dict(
    hidden_channels=16,
    num_blocks=2,
    int_emb_size=8,
    basis_emb_size=4,
    out_emb_channels=16,
    num_spherical=7,
    num_radial=6,
    envelope_exponent=5,
    num_before_skip=1,
    num_after_skip=2,
    num_output_layers=2,
)
CUTOFF = 5.0


# --- plain-torch stand-ins for the pyg-lib pieces PyG's DimeNet++ calls ------------------------


def _radius_graph(pos, r, batch=None, max_num_neighbors=32, **_):
    """All pairs (j -> i) closer than ``r`` within one graph; row 0 = source j, row 1 = target i."""
    if batch is None:
        batch = torch.zeros(len(pos), dtype=torch.long)
    dist = torch.cdist(pos, pos)
    close = (dist < r) & (batch[:, None] == batch[None, :])
    close.fill_diagonal_(False)
    assert int(close.sum(0).max()) <= max_num_neighbors
    target, source = close.nonzero(as_tuple=True)
    return torch.stack([source, target])


class _Storage:
    def __init__(self, row, col, value):
        self._row, self._col, self._value = row, col, value

    def row(self):
        return self._row

    def col(self):
        return self._col

    def value(self):
        return self._value


class _TorchSparseTensor:
    """The few ``torch_sparse.SparseTensor`` operations of PyG's ``triplets()``, in torch."""

    def __init__(self, row, col, value=None, sparse_sizes=None):
        self.sizes = sparse_sizes
        order = torch.argsort(row * sparse_sizes[1] + col, stable=True)
        value = None if value is None else value[order]
        self.storage = _Storage(row[order], col[order], value)

    def __getitem__(self, index):  # select rows, in the order of ``index``
        counts = torch.bincount(self.storage.row(), minlength=self.sizes[0])
        start = torch.cumsum(counts, 0) - counts
        picked = counts[index]
        new_row = torch.repeat_interleave(torch.arange(len(index)), picked)
        rank = torch.arange(len(new_row)) - (torch.cumsum(picked, 0) - picked)[new_row]
        source = start[index][new_row] + rank
        value = self.storage.value()
        out = object.__new__(_TorchSparseTensor)
        out.sizes = (len(index), self.sizes[1])
        out.storage = _Storage(
            new_row, self.storage.col()[source], None if value is None else value[source]
        )
        return out

    def set_value(self, value):
        out = object.__new__(_TorchSparseTensor)
        out.sizes = self.sizes
        out.storage = _Storage(self.storage.row(), self.storage.col(), value)
        return out

    def sum(self, dim):
        assert dim == 1
        value = self.storage.value()
        weights = torch.ones(len(self.storage.row())) if value is None else value.float()
        return torch.bincount(self.storage.row(), weights=weights, minlength=self.sizes[0])


@pytest.fixture(scope="module")
def pyg_reference():
    """PyG's DimeNet++ (sympy basis: the slow part of this file, built once)."""
    torch.manual_seed(0)
    return pyg_dimenet.DimeNetPlusPlus(
        out_channels=1, cutoff=CUTOFF, output_initializer="glorot_orthogonal", **SIZES
    ).eval()


def _mine_with_weights_of(reference) -> PeriodicDimeNetPlusPlus:
    model = PeriodicDimeNetPlusPlus(cutoff=CUTOFF, **SIZES).eval()
    model.load_state_dict(reference.state_dict())  # strict: identical parameter names/shapes
    return model


def _molecule() -> Atoms:
    """A compact non-periodic cluster: no periodic images, so PyG's triplet rule applies."""
    rng = np.random.default_rng(5)
    positions = []
    while len(positions) < 9:
        p = rng.uniform(0.0, 4.5, 3)
        if all(np.linalg.norm(p - q) > 1.8 for q in positions):
            positions.append(p)
    numbers = rng.choice([26, 27, 28, 46, 78], size=9)
    return Atoms(numbers=numbers, positions=np.array(positions) + 8.0, cell=[20, 20, 20])


# --- triplets ----------------------------------------------------------------------------------


def _brute_force_triplets(g) -> set[tuple[int, int]]:
    """(kj, ji) pairs whose path k -> j -> i does not return onto atom i itself (geometry)."""
    source, target = g.edge_index.tolist()
    vec = g.edge_vec.double()
    out = set()
    for ji in range(len(source)):
        for kj in range(len(source)):
            if target[kj] == source[ji] and float((vec[ji] + vec[kj]).norm()) > 1e-4:
                out.add((kj, ji))
    return out


def test_small_cell_keeps_other_images_of_i():
    """In a 1x1 cell atoms see their own images: k = i triplets exist, the true self does not."""
    atoms = fcc111("Cu", size=(1, 1, 3), vacuum=10.0)
    g = graph(atoms, 3.0)
    source, target = g.edge_index
    assert bool((source == target).any()), "the cell must make atoms their own neighbours"

    t = triplets(g.edge_index, g.num_nodes, g.cell_offset)
    pairs = set(zip(t.idx_kj.tolist(), t.idx_ji.tolist(), strict=True))
    assert pairs == _brute_force_triplets(g)
    assert len(pairs) == len(t.idx_kj)  # no duplicates
    k_is_i = t.idx_k == t.idx_i
    assert bool(k_is_i.any()), "k = i in another image must be kept"
    returning = (g.cell_offset[t.idx_kj] + g.cell_offset[t.idx_ji] == 0).all(dim=1)
    assert not bool((k_is_i & returning).any()), "the path back onto atom i itself is removed"
    assert torch.equal(t.idx_j, source[t.idx_ji]) and torch.equal(t.idx_i, target[t.idx_ji])
    assert torch.equal(t.idx_j, target[t.idx_kj]) and torch.equal(t.idx_k, source[t.idx_kj])

    pyg_rule = triplets(g.edge_index, g.num_nodes, None)  # drops every k = i
    assert len(pyg_rule.idx_kj) == int((~k_is_i).sum()) < len(t.idx_kj)


@pytest.mark.parametrize("max_neighbors", [None, 12])
def test_dense_layout_holds_the_same_triplets(max_neighbors):
    g = graph(alloy_slab(2, size=(2, 2, 3)), 4.0, max_neighbors)
    t = triplets(g.edge_index, g.num_nodes, g.cell_offset)
    d = dense_triplets(g.edge_index, g.num_nodes, g.cell_offset)
    node, b, a = d.mask.nonzero(as_tuple=True)
    dense_pairs = set(zip(d.in_edge[node, a].tolist(), d.out_edge[node, b].tolist(), strict=True))
    assert dense_pairs == set(zip(t.idx_kj.tolist(), t.idx_ji.tolist(), strict=True))
    assert d.count == len(t.idx_kj)
    # every edge finds itself at its out_position
    assert torch.equal(d.out_edge.flatten()[d.out_position], torch.arange(g.num_edges))


def test_triplets_of_an_empty_graph():
    edge_index = torch.zeros((2, 0), dtype=torch.long)
    assert len(triplets(edge_index, 3, torch.zeros((0, 3), dtype=torch.long)).idx_kj) == 0
    assert dense_triplets(edge_index, 3, torch.zeros((0, 3), dtype=torch.long)).count == 0


# --- basis -------------------------------------------------------------------------------------


def test_bessel_zeros_known_values():
    zeros = spherical_bessel_zeros(3, 2)
    np.testing.assert_allclose(zeros[0], [np.pi, 2 * np.pi], rtol=1e-14)
    np.testing.assert_allclose(zeros[1], [4.493409457909064, 7.725251836937707], rtol=1e-13)
    np.testing.assert_allclose(zeros[2], [5.763459196894550, 9.095011330476355], rtol=1e-13)


def test_spherical_bessel_matches_scipy():
    """Float64 accuracy from tiny to large arguments, including the cancellation-prone x < l."""
    from scipy.special import spherical_jn

    x = torch.cat(
        [torch.logspace(-6, 0, 60, dtype=torch.float64), torch.linspace(1, 40, 400).double()]
    )
    orders = torch.arange(7)[:, None].expand(7, len(x))
    ours = spherical_bessel(orders, x.expand(7, -1), max_order=6)
    reference = np.stack([spherical_jn(order, x.numpy()) for order in range(7)])
    np.testing.assert_allclose(ours.numpy(), reference, rtol=1e-9, atol=1e-15)


def test_basis_construction_is_fast():
    start = time.perf_counter()
    SphericalBasis(7, 6, cutoff=8.0)
    assert time.perf_counter() - start < 0.5  # sympy needs ~10 s; this guards a regression


def test_basis_matches_pyg_sympy_basis(pyg_reference):
    """Same values as PyG's sympy-built SphericalBasisLayer, evaluated in float64."""
    sbf = SphericalBasis(7, 6, cutoff=CUTOFF)
    dist = torch.linspace(0.2, CUTOFF * 1.02, 400, dtype=torch.float64)
    angle = torch.linspace(0.0, np.pi, 400, dtype=torch.float64)[torch.randperm(400)]
    idx = torch.arange(400)
    reference = pyg_reference.sbf(dist, angle, idx)
    ours = sbf(dist, torch.cos(angle), idx)
    # PyG rounds its Bessel zeros to float32: ~1e-7 relative on the arguments
    scale = reference.abs().clamp_min(1.0)
    assert float(((ours - reference).abs() / scale).max()) < 1e-5
    # the float32 path stays within 1e-5 where edges live (PyG's own float32 closed forms
    # lose all digits to cancellation at short distances; ours are series-evaluated there)
    long = dist > 0.3 * CUTOFF
    ours32 = sbf(dist.float(), torch.cos(angle).float(), idx).double()
    assert float(((ours32 - reference).abs() / scale)[long].max()) < 1e-5
    torch.testing.assert_close(
        pyg_reference.rbf(dist.float()), PeriodicDimeNetPlusPlus(cutoff=CUTOFF).rbf(dist.float())
    )


# --- the model ---------------------------------------------------------------------------------


def test_equals_pyg_dimenet_plus_plus_on_a_molecule(pyg_reference, monkeypatch):
    """Same weights, non-periodic cluster: per-atom outputs equal PyG's before its graph sum."""
    monkeypatch.setattr(pyg_dimenet, "radius_graph", _radius_graph)
    monkeypatch.setattr(pyg_dimenet, "SparseTensor", _TorchSparseTensor)
    atoms = _molecule()
    atoms.pbc = False
    g = graph(atoms, CUTOFF)
    assert bool((g.cell_offset == 0).all())
    model = _mine_with_weights_of(pyg_reference)

    per_atom = []
    hooks = [
        block.register_forward_hook(lambda _m, _i, out: per_atom.append(out))
        for block in pyg_reference.output_blocks
    ]
    try:
        with torch.no_grad():
            total = pyg_reference(g.z, g.pos)
            ours = model(g)
    finally:
        for hook in hooks:
            hook.remove()
    reference = torch.stack(per_atom).sum(0).squeeze(-1)
    assert reference.abs().max() > 1e-2
    torch.testing.assert_close(ours, reference, atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(ours.sum(), total.squeeze(), atol=1e-4, rtol=1e-4)


def _pyg_blocks_periodic(reference, g):
    """PyG's own blocks and sympy basis driven with the periodic edges and triplets."""
    t = triplets(g.edge_index, g.num_nodes, g.cell_offset)
    dist = g.edge_vec.norm(dim=-1)
    pos_ij, pos_jk = -g.edge_vec[t.idx_ji], -g.edge_vec[t.idx_kj]
    angle = torch.atan2(
        torch.cross(pos_ij, pos_jk, dim=1).norm(dim=-1), (pos_ij * pos_jk).sum(dim=-1)
    )
    rbf = reference.rbf(dist)
    sbf = reference.sbf(dist, angle, t.idx_kj)
    x = reference.emb(g.z, rbf, t.i, t.j)
    out = reference.output_blocks[0](x, rbf, t.i, num_nodes=g.num_nodes)
    for interaction, output in zip(
        reference.interaction_blocks, reference.output_blocks[1:], strict=True
    ):
        x = interaction(x, rbf, sbf, t.idx_kj, t.idx_ji)
        out = out + output(x, rbf, t.i, num_nodes=g.num_nodes)
    return out.squeeze(-1)


def test_equals_pyg_blocks_on_a_periodic_slab(pyg_reference):
    """With image triplets present, the dense formulation equals PyG's gather/scatter blocks."""
    g = graph(fcc111("Ni", size=(2, 2, 3), vacuum=10.0), CUTOFF)
    g.z = torch.tensor([26, 27, 28, 46, 78, 26, 27, 28, 46, 78, 26, 27])
    model = _mine_with_weights_of(pyg_reference)
    with torch.no_grad():
        ours = model(g)
        reference = _pyg_blocks_periodic(pyg_reference, g)
    torch.testing.assert_close(ours, reference, atol=1e-5, rtol=1e-4)


def test_construction_and_state_dict_round_trip():
    model = PeriodicDimeNetPlusPlus(cutoff=6.0, **SIZES)
    keys = set(model.state_dict())
    assert not any(key.startswith("sbf.") for key in keys)  # basis is rebuilt, not stored
    assert "rbf.freq" in keys
    clone = PeriodicDimeNetPlusPlus(cutoff=6.0, **SIZES)
    clone.load_state_dict(model.state_dict())
    g = graph(alloy_slab(4, size=(2, 2, 3)), 6.0)
    with torch.no_grad():
        torch.testing.assert_close(model(g), clone(g))


def test_every_constructor_argument_is_documented():
    """PyG dimenet.py style: the class docstring's ``Args:`` block names every argument."""
    import inspect

    from magmom.models.dimenet_pp import PeriodicDimeNetPlusPlus

    doc = inspect.getdoc(PeriodicDimeNetPlusPlus)
    assert "Args:" in doc
    args = doc.split("Args:", 1)[1]
    params = list(inspect.signature(PeriodicDimeNetPlusPlus.__init__).parameters)[1:]
    missing = [p for p in params if f"\n    {p} (" not in "\n" + args]
    assert not missing, f"not in the Args block: {missing}"
