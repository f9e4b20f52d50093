"""Hand-built atom features: hand-computed values and a loop reference on real caches."""

import numpy as np
import pytest
import torch
from ase.data import atomic_numbers
from baselines_helpers import ELEMENTS, toy_dataset, toy_split, write_caches

from magmom.baselines.atom_features import (
    atom_features,
    cache_table,
    element_lookup,
    feature_elements,
    feature_names,
)
from magmom.graphs import GraphCache


def test_features_of_a_hand_made_graph():
    # atoms: 0 Fe, 1 Ni, 2 Fe, 3 Cu (isolated); edges j -> i
    z = torch.tensor([26, 28, 26, 29])
    edge_index = torch.tensor([[1, 2, 0, 0, 1], [0, 0, 1, 2, 2]])
    dist = torch.tensor([2.5, 3.0, 2.5, 3.0, 2.0])
    x = atom_features(z, edge_index, dist, element_lookup(ELEMENTS))
    names = feature_names(ELEMENTS)
    assert x.shape == (4, 2 * len(ELEMENTS) + 4) and len(names) == x.shape[1]
    row = dict(zip(names, x[0].tolist(), strict=True))
    assert row["is_Fe"] == 1 and row["is_Ni"] == 0
    assert (row["n_Ni"], row["n_Fe"], row["n_Cu"]) == (1, 1, 0)
    assert row["coordination"] == 2
    assert row["dist_mean"] == pytest.approx(2.75)
    assert (row["dist_min"], row["dist_max"]) == (pytest.approx(2.5), pytest.approx(3.0))
    row2 = dict(zip(names, x[2].tolist(), strict=True))
    assert (row2["n_Fe"], row2["n_Ni"], row2["coordination"]) == (1, 1, 2)
    assert row2["dist_min"] == pytest.approx(2.0) and row2["dist_max"] == pytest.approx(3.0)
    isolated = dict(zip(names, x[3].tolist(), strict=True))
    assert isolated["is_Cu"] == 1
    assert [isolated[k] for k in ("coordination", "dist_mean", "dist_min", "dist_max")] == [0] * 4


def test_unknown_element_is_named():
    assert "Ag" not in ELEMENTS
    with pytest.raises(ValueError) as err:
        atom_features(
            torch.tensor([47]),
            torch.zeros(2, 0, dtype=torch.long),
            torch.zeros(0),
            element_lookup(ELEMENTS),
        )
    # the message names the missing element and exactly the covered ones (the first column too)
    covered = ", ".join(sorted(ELEMENTS, key=atomic_numbers.get))
    message = f"element(s) Ag have no column in the feature one-hot, which covers {covered} ("
    assert message in str(err.value)


def test_feature_elements_add_every_element_of_the_caches(tmp_path):
    """An imported dataset may hold elements outside recipe.elements: they get columns."""
    dataset = toy_dataset(6, seed=3)
    split_of = toy_split([s for s, _, _ in dataset])
    caches = [GraphCache(p) for p in write_caches(tmp_path, dataset, split_of, 4.0).values()]
    held = {int(z) for c in caches for z in np.flatnonzero(c.element_stats().count > 0)}
    first = ELEMENTS[-1]
    got = feature_elements([first], caches)
    assert got[0] == first and len(got) == len(set(got))
    assert {atomic_numbers[e] for e in got[1:]} == held - {atomic_numbers[first]}
    assert [atomic_numbers[e] for e in got[1:]] == sorted(atomic_numbers[e] for e in got[1:])
    assert feature_elements(ELEMENTS, caches) == list(ELEMENTS)  # nothing to add


def reference_features(data, elements):
    """Per-atom loop over the edges (slow, obvious)."""
    k = len(elements)
    n = data.num_nodes
    out = np.zeros((n, 2 * k + 4))
    col = {atomic_numbers[e]: i for i, e in enumerate(elements)}
    src, dst = data.edge_index.numpy()
    d = data.edge_dist.numpy().astype(np.float64)
    for i in range(n):
        out[i, col[int(data.z[i])]] = 1
        mine = dst == i
        for j in src[mine]:
            out[i, k + col[int(data.z[j])]] += 1
        if mine.any():
            out[i, 2 * k :] = [mine.sum(), d[mine].mean(), d[mine].min(), d[mine].max()]
    return out


def test_cache_table_matches_the_loop_reference(tmp_path):
    dataset = toy_dataset(6, seed=3)
    split_of = toy_split([s for s, _, _ in dataset])
    paths = write_caches(tmp_path, dataset, split_of, cutoff=4.0)
    cache = GraphCache(paths["train"])
    table = cache_table(cache, ELEMENTS, batch_size=2)
    expected = np.concatenate([reference_features(cache[k], ELEMENTS) for k in range(len(cache))])
    np.testing.assert_allclose(table.x, expected, rtol=1e-6, atol=1e-5)
    # identities follow the cache order (sorted slab ids), atom_index restarts per slab
    ids = [cache[k].slab_id for k in range(len(cache))]
    assert table.atoms["slab_id"].unique().tolist() == sorted(ids)
    n0 = cache[0].num_nodes
    assert table.atoms["atom_index"].tolist()[: n0 + 1] == [*range(n0), 0]
    assert table.y.shape == (len(table.atoms),)
    np.testing.assert_allclose(table.y[:n0], cache[0].y.numpy())
    assert (table.x[:, 2 * len(ELEMENTS)] > 0).all()  # every slab atom has neighbours at 4 Å
