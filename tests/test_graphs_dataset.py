"""GraphCache as a PyG dataset: batching, worker processes, seeded shuffling."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import torch
from graphs_helpers import metal_slabs, slab_input

from magmom.graphs import GraphCache, make_loader
from magmom.graphs.builder import build_caches


@pytest.fixture(scope="module")
def cache_path(tmp_path_factory):
    rng = np.random.default_rng(11)
    slabs = [
        slab_input(atoms, f"slab-{k:02d}-{rep}", rng)
        for rep in range(3)
        for k, atoms in enumerate(metal_slabs())
    ]
    path = tmp_path_factory.mktemp("ds") / "graphs-r4-unit-train.lmdb"
    build_caches(slabs, {s.slab_id: "train" for s in slabs}, {"train": path}, 4.0, 50)
    return path


def batches(loader):
    return [(b.slab_id, b.z.clone(), b.edge_index.clone(), b.y.clone()) for b in loader]


def test_batches_follow_the_contract(cache_path):
    cache = GraphCache(cache_path)
    batch = next(iter(make_loader(cache, batch_size=4, shuffle=False)))
    assert batch.num_graphs == 4
    assert batch.cell.shape == (4, 3, 3) and batch.natoms.tolist() == [
        cache[k].natoms for k in range(4)
    ]
    assert batch.slab_id == [cache[k].slab_id for k in range(4)]
    src, dst = batch.edge_index
    assert batch.edge_index.dtype == torch.long and int(batch.edge_index.max()) < batch.num_nodes
    assert torch.equal(batch.batch[src], batch.batch[dst]), "an edge crosses two graphs"
    assert batch.cell_offset.dtype == torch.long and batch.edge_vec.shape[1] == 3
    assert batch.y.shape == (batch.num_nodes,)


def test_workers_give_the_same_batches_as_the_main_process(cache_path):
    cache = GraphCache(cache_path)
    cache[0]  # the main process holds an open handle before the workers fork
    serial = batches(make_loader(cache, batch_size=5, shuffle=True, num_workers=0, seed=3))
    parallel = batches(make_loader(cache, batch_size=5, shuffle=True, num_workers=2, seed=3))
    assert [ids for ids, *_ in serial] == [ids for ids, *_ in parallel]
    for a, b in zip(serial, parallel, strict=True):
        for x, y in zip(a[1:], b[1:], strict=True):
            assert torch.equal(x, y)
    assert sorted(i for ids, *_ in parallel for i in ids) == sorted(
        cache[k].slab_id for k in range(len(cache))
    )


def test_shuffle_depends_only_on_the_seed(cache_path):
    cache = GraphCache(cache_path)

    def order(seed):
        return [i for b in make_loader(cache, 4, shuffle=True, seed=seed) for i in b.slab_id]

    assert order(1) == order(1)
    assert order(1) != order(2)
    loader = make_loader(cache, 4, shuffle=True, seed=1)
    first = [i for b in loader for i in b.slab_id]
    second = [i for b in loader for i in b.slab_id]
    assert first != second, "every epoch has the same order"


def test_cache_survives_pickling(cache_path):
    cache = GraphCache(cache_path)
    expected = cache[2]
    clone = pickle.loads(pickle.dumps(cache))
    assert clone.header == cache.header
    assert torch.equal(clone[2].edge_index, expected.edge_index)
    assert torch.equal(clone.element_mean(), cache.element_mean())
