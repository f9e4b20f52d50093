"""LMDB graph caches: round trip, header, rejection of bad files, atomic writes, no pickle."""

from __future__ import annotations

import dataclasses
import hashlib
import pickle
import pickletools
import shutil

import lmdb
import numpy as np
import pytest
import torch
from graphs_helpers import metal_slabs, random_slab, slab_input
from torch_geometric.data import Data

import magmom.graphs.cache as cache_module
from magmom.graphs import CacheError, CacheReader, GraphCache
from magmom.graphs.builder import GraphBuildError, build_caches, graph_arrays, slabs_sha256
from magmom.graphs.cache import HEADER_KEY, SCHEMA_VERSION, CacheWriter
from magmom.graphs.cap_report import (
    cap_markdown,
    cap_note,
    cap_summaries_by_cutoff,
    cap_summary,
    neighbor_rule_of,
)
from magmom.graphs.cap_stats import REACH_BIN
from magmom.graphs.neighbours import neighbor_edges
from magmom.graphs.record_format import MAGIC, RecordError, decode, encode

CUTOFF, CAP = 6.0, 20


@pytest.fixture(scope="module")
def slabs():
    rng = np.random.default_rng(3)
    structures = metal_slabs() + [random_slab(rng, 5, 2.1, 2.4, 70.0)]
    return [slab_input(atoms, f"slab-{k:02d}", rng) for k, atoms in enumerate(structures)]


@pytest.fixture(scope="module")
def split_of(slabs):
    return {s.slab_id: ("train", "val", "test")[k % 3] for k, s in enumerate(slabs)}


@pytest.fixture(scope="module")
def caches(tmp_path_factory, slabs, split_of):
    out = tmp_path_factory.mktemp("graphs")
    paths = {split: out / f"graphs-r6-unit-{split}.lmdb" for split in ("train", "val", "test")}
    meta = {"dataset_sha256": "d" * 64, "split_sha256": "s" * 64, "dataset_name": "unit"}
    counts = build_caches(slabs, split_of, paths, CUTOFF, CAP, "abs", meta, processes=2)
    assert counts == {"train": 3, "val": 3, "test": 2}
    return paths


def contract(arrays):
    """The stored arrays converted as the graph contract specifies."""
    return {
        "z": torch.from_numpy(arrays["z"].astype(np.int64)),
        "pos": torch.from_numpy(arrays["pos"]),
        "edge_index": torch.from_numpy(arrays["edge_index"].astype(np.int64)),
        "edge_dist": torch.from_numpy(arrays["edge_dist"]),
        "edge_vec": torch.from_numpy(arrays["edge_vec"]),
        "cell_offset": torch.from_numpy(arrays["cell_offset"].astype(np.int64)),
        "cell": torch.from_numpy(arrays["cell"]),
        "y": torch.from_numpy(arrays["y"]),
        "magmom": torch.from_numpy(arrays["magmom"]),
    }


def test_record_round_trip_and_validation():
    arrays = {
        "a": np.arange(7, dtype=np.uint8),
        "b": np.random.default_rng(0).normal(size=(3, 4)).astype(np.float32),
        "empty": np.zeros((2, 0), dtype=np.int64),
        "scalar": np.array(3.5),
    }
    record = encode(arrays)
    out = decode(record)
    assert list(out) == list(arrays)
    for name, value in arrays.items():
        assert out[name].dtype == value.dtype and out[name].shape == value.shape
        np.testing.assert_array_equal(out[name], value)
    assert decode(bytearray(record))["b"].flags.writeable
    with pytest.raises(RecordError, match="preamble says"):
        decode(record[:-1])
    flipped = bytearray(record)
    flipped[-20] ^= 0x01
    with pytest.raises(RecordError, match="checksum"):
        decode(bytes(flipped))
    with pytest.raises(RecordError, match="magic"):
        decode(pickle.dumps(arrays))
    with pytest.raises(TypeError, match="dtype"):
        encode({"o": np.array(["text"], dtype=object)})


def test_round_trip_of_every_field(caches, slabs, split_of):
    by_id = {s.slab_id: s for s in slabs}
    for split, path in caches.items():
        cache = GraphCache(path, cutoff=CUTOFF, max_neighbors=CAP, target="abs", split=split)
        ids = sorted(i for i, s in split_of.items() if s == split)
        assert len(cache) == len(ids)
        for k, slab_id in enumerate(ids):
            data = cache[k]
            slab = by_id[slab_id]
            expected = contract(graph_arrays(slab, CUTOFF, CAP, "abs"))
            assert data.slab_id == slab_id
            assert data.natoms == len(slab.numbers) == data.num_nodes
            for name, value in expected.items():
                got = data[name]
                assert got.dtype == value.dtype, name
                assert got.shape == value.shape, name
                assert torch.equal(got, value), name
            # the stored values are the slab's own numbers, in the contract's dtypes and shapes
            assert torch.equal(data.z, torch.as_tensor(slab.numbers, dtype=torch.long))
            assert data.edge_index.shape[0] == 2 and data.cell.shape == (1, 3, 3)
            torch.testing.assert_close(data.magmom, torch.tensor(slab.magmoms, dtype=torch.float32))
            torch.testing.assert_close(data.y, data.magmom.abs())
            torch.testing.assert_close(data.pos, torch.tensor(slab.positions, dtype=torch.float32))
            src, dst = data.edge_index
            recomputed = (
                data.pos[src]
                - data.pos[dst]
                + torch.einsum("ek,kc->ec", data.cell_offset.float(), data.cell[0])
            )
            torch.testing.assert_close(data.edge_vec, recomputed, atol=1e-4, rtol=0)
            torch.testing.assert_close(data.edge_dist, data.edge_vec.norm(dim=1), atol=1e-5, rtol=0)


def test_header_and_element_stats(caches, slabs, split_of):
    cache = GraphCache(caches["train"])
    header = cache.header
    ids = sorted(i for i, s in split_of.items() if s == "train")
    assert header["schema_version"] == cache_module.SCHEMA_VERSION
    assert header["cutoff"] == CUTOFF and header["max_neighbors"] == CAP
    assert header["neighbor_rule"] == "shell_complete"  # a cap given, no rule named
    assert header["count"] == len(ids) and header["target"] == "abs"
    assert header["dataset_sha256"] == "d" * 64 and header["split_sha256"] == "s" * 64
    assert header["slabs_sha256"] == slabs_sha256(ids)
    stats = cache.element_stats()
    count, total, sumsq = (torch.from_numpy(a) for a in (stats.count, stats.sum, stats.sumsq))
    assert count.dtype == total.dtype == sumsq.dtype == torch.float64
    assert count.shape == (119,)
    z = torch.cat([cache[k].z for k in range(len(cache))])
    y = torch.cat([cache[k].y for k in range(len(cache))]).double()
    assert torch.equal(count, torch.bincount(z, minlength=119).double())
    torch.testing.assert_close(total, torch.zeros(119, dtype=torch.float64).index_add(0, z, y))
    torch.testing.assert_close(sumsq, torch.zeros(119, dtype=torch.float64).index_add(0, z, y * y))
    mean = cache.element_mean()
    assert mean.dtype == torch.float32 and mean.shape == (119,)
    for element in torch.unique(z):
        torch.testing.assert_close(mean[element], y[z == element].mean().float())
    torch.testing.assert_close(mean[1], y.mean().float())  # hydrogen never occurs: global mean


def test_signed_target(tmp_path, slabs):
    split_of = {s.slab_id: "train" for s in slabs[:2]}
    path = tmp_path / "signed.lmdb"
    build_caches(slabs[:2], split_of, {"train": path}, 3.0, 50, "signed")
    cache = GraphCache(path, target="signed")
    assert torch.equal(cache[0].y, cache[0].magmom) and (cache[0].y < 0).any()


def test_wrong_expectations_are_rejected(caches):
    path = caches["val"]
    with pytest.raises(CacheError, match=r"built with cutoff=6\.0, expected cutoff=8") as err:
        GraphCache(path, cutoff=8)
    GraphCache(path, cutoff="6", max_neighbors=CAP)
    assert str(path) in str(err.value)
    with pytest.raises(CacheError, match="target='abs', expected target='signed'"):
        GraphCache(path, target="signed")
    with pytest.raises(CacheError, match="max_neighbors"):
        CacheReader(path, max_neighbors=50)


def test_header_summarises_the_cap(caches, slabs, split_of):
    """Edges per atom, capped atoms and the farthest kept neighbour, checked against the
    neighbour lists of every slab, per split and merged over the three splits."""
    by_split = {split: [s for s in slabs if split_of[s.slab_id] == split] for split in caches}
    kept, within, reach = {}, {}, {}
    for split, members in by_split.items():
        kept[split], within[split], reach[split] = [], [], []
        for s in members:
            full = neighbor_edges(s.positions, s.cell, s.pbc, CUTOFF)
            capped = neighbor_edges(s.positions, s.cell, s.pbc, CUTOFF, CAP)
            n = len(s.numbers)
            kept[split] += np.bincount(capped.i, minlength=n).tolist()
            within[split] += np.bincount(full.i, minlength=n).tolist()
            reach[split] += [capped.dist[capped.i == a].max() for a in range(n)]
        cap = GraphCache(caches[split]).header["cap"]
        assert cap["atoms"] == len(kept[split])
        assert cap["edges"] == sum(kept[split])
        assert cap["edges_per_atom_max"] == max(kept[split])
        assert cap["capped_atoms"] == sum(
            k < w for k, w in zip(kept[split], within[split], strict=True)
        )
        assert abs(cap["reach_median"] - np.median(reach[split])) <= REACH_BIN
    every = [x for split in caches for x in kept[split]]
    total = cap_summary(caches.values())
    assert total.atoms == len(every) and total.edges_per_atom_max == max(every) > CAP
    assert total.edges_per_atom_mean == pytest.approx(np.mean(every))
    all_within = [x for split in caches for x in within[split]]
    capped = sum(k < w for k, w in zip(every, all_within, strict=True))
    assert capped > 0
    assert total.capped_fraction == pytest.approx(capped / len(every))
    all_reach = [x for split in caches for x in reach[split]]
    assert abs(total.reach_median - np.median(all_reach)) <= REACH_BIN
    by_cutoff = cap_summaries_by_cutoff(caches.values())
    assert list(by_cutoff) == [CUTOFF] and by_cutoff[CUTOFF].atoms == total.atoms
    assert total.reach_max == pytest.approx(max(all_reach), abs=REACH_BIN)
    assert total.reach_max < CUTOFF - 0.5  # the cap binds: the effective radius falls short
    table = cap_markdown(by_cutoff, "shell_complete", CAP).splitlines()
    assert table[-1] == (
        f"| 6 Å | {total.reach_median:.2f} Å | {total.reach_max:.2f} Å | "
        f"{total.edges_per_atom_mean:.1f} | {total.edges_per_atom_max} | "
        f"{total.capped_fraction:.1%} | {total.atoms:,} |"
    )
    assert f"its {CAP} nearest neighbours" in table[0] and "`shell_complete`" in table[0]


def test_wrong_schema_version_is_rejected(tmp_path, slabs, monkeypatch):
    path = tmp_path / "old.lmdb"
    monkeypatch.setattr(cache_module, "SCHEMA_VERSION", 0)
    build_caches(slabs[:1], {slabs[0].slab_id: "train"}, {"train": path}, 3.0, 50)
    monkeypatch.undo()
    with pytest.raises(
        CacheError, match=f"{path}.*schema version 0, this code reads version {SCHEMA_VERSION}"
    ):
        GraphCache(path)


@pytest.mark.parametrize("keep", [0.5, 0.02, 100, 0])
def test_truncated_file_is_rejected(caches, tmp_path, keep):
    data = caches["train"].read_bytes()
    n = int(len(data) * keep) if isinstance(keep, float) else keep
    path = tmp_path / "truncated.lmdb"
    path.write_bytes(data[:n])
    with pytest.raises(CacheError, match=rf"{path}.*(truncated|not a valid LMDB)"):
        GraphCache(path)


def test_corrupted_graph_is_rejected(caches, tmp_path):
    data = bytearray(caches["train"].read_bytes())
    start = data.find(MAGIC, data.find(MAGIC) + 1)  # a graph record (the header is written last)
    data[start + 600] ^= 0xFF
    path = tmp_path / "corrupt.lmdb"
    path.write_bytes(bytes(data))
    cache = GraphCache(path)
    errors = []
    for k in range(len(cache)):
        try:
            cache[k]
        except CacheError as err:
            errors.append(str(err))
    assert len(errors) == 1 and str(path) in errors[0] and "checksum" in errors[0]


def test_file_without_header_or_not_lmdb_is_rejected(tmp_path):
    path = tmp_path / "foreign.lmdb"
    env = lmdb.open(str(path), subdir=False, lock=False)
    with env.begin(write=True) as txn:
        txn.put(b"0", pickle.dumps(Data(z=torch.zeros(2))))
    env.close()
    with pytest.raises(CacheError, match="no header record"):
        GraphCache(path)
    junk = tmp_path / "junk.lmdb"
    junk.write_bytes(np.random.default_rng(0).bytes(50_000))
    with pytest.raises(CacheError, match="not a valid LMDB"):
        GraphCache(junk)
    with pytest.raises(CacheError, match="not found"):
        GraphCache(tmp_path / "missing.lmdb")


def test_entry_count_mismatch_is_rejected(caches, tmp_path):
    path = tmp_path / "extra.lmdb"
    shutil.copy(caches["test"], path)
    env = lmdb.open(str(path), subdir=False, lock=False)
    with env.begin(write=True) as txn:
        txn.put(b"9999999999", encode({"z": np.ones(1, np.uint8)}))
    env.close()
    with pytest.raises(CacheError, match="header says 2 graphs but the file holds 3"):
        GraphCache(path)


def looks_like_pickle(value: bytes) -> bool:
    """True when ``value`` starts with a pickle PROTO opcode or parses as a complete pickle."""
    if value[:1] == b"\x80" and value[1:2] in (b"\x02", b"\x03", b"\x04", b"\x05"):
        return True
    try:
        return any(op.name == "STOP" for op, _, _ in pickletools.genops(value))
    except Exception:
        return False


def test_no_pickle_in_stored_values(caches):
    assert looks_like_pickle(pickle.dumps(Data(z=torch.zeros(3))))
    assert looks_like_pickle(pickle.dumps({"z": [1, 2]}, protocol=0))
    for path in caches.values():
        assert b"torch_geometric" not in path.read_bytes()
        items = list(CacheReader(path).raw_items())
        assert [k for k, _ in items][-1] == HEADER_KEY and len(items) == 1 + len(GraphCache(path))
        values = [v for _, v in items]
        for value in values:
            assert value.startswith(MAGIC)
            assert not looks_like_pickle(value)


def test_build_is_atomic_and_leaves_no_lock_files(tmp_path, slabs):
    good = slabs[:3]
    target = tmp_path / "atomic.lmdb"
    split_of = {s.slab_id: "train" for s in good}
    build_caches(good, split_of, {"train": target}, 3.0, 50)
    before = target.read_bytes()
    bad = list(good) + [slab_input(metal_slabs()[0], "slab-zz", np.random.default_rng(1))]
    bad[-1] = dataclasses.replace(bad[-1], magmoms=np.zeros(2))
    split_of["slab-zz"] = "train"
    with pytest.raises(GraphBuildError, match="slab-zz"):
        build_caches(bad, split_of, {"train": target}, 4.0, 50, processes=2)
    assert target.read_bytes() == before, "a failed build touched the existing cache"
    GraphCache(target)[0]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["atomic.lmdb"], "leftovers or lock file"


def test_same_inputs_give_identical_bytes(tmp_path, slabs):
    split_of = {s.slab_id: "train" for s in slabs}
    digests = []
    for processes in (1, 2):
        path = tmp_path / f"p{processes}.lmdb"
        build_caches(slabs[::-1], split_of, {"train": path}, 4.0, 50, processes=processes)
        digests.append(hashlib.sha256(path.read_bytes()).hexdigest())
    assert digests[0] == digests[1]


def test_dataset_and_split_must_agree(tmp_path, slabs):
    with pytest.raises(GraphBuildError, match="not in the split file"):
        build_caches(slabs[:2], {slabs[0].slab_id: "train"}, {"train": tmp_path / "a.lmdb"}, 3, 5)
    split_of = {slabs[0].slab_id: "train", "ghost": "test"}
    with pytest.raises(GraphBuildError, match="ghost"):
        build_caches(slabs[:1], split_of, {"train": tmp_path / "a.lmdb"}, 3, 5)


def test_writer_discards_on_error(tmp_path):
    target = tmp_path / "w.lmdb"
    with pytest.raises(ZeroDivisionError), CacheWriter(target, {"cutoff": 1.0}) as writer:
        writer.add({"z": np.ones(2, np.uint8), "y": np.ones(2, np.float32)})
        raise ZeroDivisionError("interrupted build")
    assert list(tmp_path.iterdir()) == []
    with CacheWriter(target, {"cutoff": 1.0}) as writer:
        writer.add({"z": np.ones(2, np.uint8), "y": np.ones(2, np.float32)})
    reader = CacheReader(target, cutoff=1.0)
    assert len(reader) == 1 and reader.stats.count[1] == 2
    assert reader.header["cap"]["atoms"] == 2 and reader.header["cap"]["capped_atoms"] is None
    header = dict(reader.raw_items())[HEADER_KEY]
    assert decode(header)["stat_sum"][1] == 2.0


def test_arrival_order_does_not_change_the_cache_contents(tmp_path, slabs):
    split_of = {s.slab_id: "train" for s in slabs}
    caches = []
    for name, order in (("fwd", slabs), ("rev", slabs[::-1])):
        path = tmp_path / f"{name}.lmdb"
        build_caches(iter(order), split_of, {"train": path}, 4.0, 50, processes=2, batch_size=3)
        caches.append(GraphCache(path))
    a, b = caches
    assert [a[k].slab_id for k in range(len(a))] == sorted(split_of)
    for k in range(len(a)):
        assert a.reader.raw(k) == b.reader.raw(k)
    np.testing.assert_allclose(a.element_stats().sum, b.element_stats().sum)


def test_writer_checks_indices(tmp_path):
    arrays = {"z": np.ones(2, np.uint8), "y": np.ones(2, np.float32)}
    with (
        pytest.raises(ValueError, match="written twice"),
        CacheWriter(tmp_path / "d.lmdb", {}) as w,
    ):
        w.add(arrays, index=1)
        w.add(arrays, index=1)
    with pytest.raises(CacheError, match="graph 1 of 0..2 not written"):
        with CacheWriter(tmp_path / "g.lmdb", {}) as w:
            w.add(arrays, index=2)
            w.add(arrays, index=0)
    assert list(tmp_path.iterdir()) == []
    with CacheWriter(tmp_path / "ok.lmdb", {}) as w:
        for index in (2, 0, 1):
            w.add({**arrays, "y": np.full(2, index, np.float32)}, index=index)
    reader = CacheReader(tmp_path / "ok.lmdb")
    assert [float(reader.arrays(k)["y"][0]) for k in range(3)] == [0.0, 1.0, 2.0]


def test_the_report_reads_the_neighbour_rule_from_the_cache_headers(tmp_path, slabs):
    """The cap paragraph names the rule and cap the caches were built with (not a config's)."""
    split_of = {s.slab_id: "train" for s in slabs[:2]}
    capped, radius = tmp_path / "capped.lmdb", tmp_path / "radius.lmdb"
    build_caches(slabs[:2], split_of, {"train": capped}, 4.0, 7, rule="shell_complete")
    build_caches(slabs[:2], split_of, {"train": radius}, 4.0, None, rule="radius")
    assert neighbor_rule_of([capped]) == ("shell_complete", 7)
    note = cap_note([capped])
    assert "`shell_complete`" in note and "its 7 nearest neighbours" in note
    assert "`radius`" in cap_note([radius])
    with pytest.raises(ValueError, match="different neighbour rules.*capped.lmdb.*radius.lmdb"):
        cap_note([capped, radius])
