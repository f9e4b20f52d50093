"""Leakage-free split: no composition in two splits, stratified proportions, determinism."""

from __future__ import annotations

import random
from collections import Counter, defaultdict

import numpy as np
import pytest

from magmom.data.split import (
    POOLED,
    SPLITS,
    SlabKey,
    SplitError,
    apportion,
    assign_splits,
    format_split_csv,
    read_split,
    split_table,
)

FRACTIONS = (0.8, 0.1, 0.1)


def study_like_slabs(seed: int = 0) -> list[SlabKey]:
    """Slabs shaped like the magmom21 recipe: variants, two-lattice compositions, placements,
    and prototype compositions that share their id with a random binary alloy."""
    rng = np.random.default_rng(seed)
    slabs = []

    def add(comp, comp_type, n_variants, lattices=("fcc",), placements=("random",)):
        for lattice in lattices:
            for placement in placements:
                for v in range(n_variants):
                    slabs.append(SlabKey(f"{comp}-{lattice}-{placement}-v{v}", comp, comp_type))

    for k in range(21):
        add(f"el{k:02d}100", "pure", 1)
    for k in range(120):
        lattices = ("fcc", "hcp") if k % 7 == 0 else ("bcc",)
        add(f"a{k:03d}050-b{k:03d}050", "binary", 4, lattices)
    for k in range(60):  # prototypes: half share the composition id of a random binary
        comp = f"a{k:03d}050-b{k:03d}050" if k % 2 else f"p{k:03d}025-q{k:03d}075"
        add(comp, "binary_proto", 1, placements=("l1_0_ab", "l1_0_ba"))
    for name, n, variants in [("ternary", 90, 3), ("quaternary", 50, 2), ("quinary", 30, 1)]:
        for k in range(n):
            add(f"{name[:3]}{k:03d}", name, variants)
    for k in range(40):
        add(f"dil{k:03d}", "dilute_1", 1, placements=("top", "sub", "mid"))
    for k in range(9):
        add(f"sen{k:03d}", "senary", 1)
    rng.shuffle(slabs)
    return slabs


def test_apportion_is_largest_remainder():
    assert apportion(10, FRACTIONS) == [8, 1, 1]
    assert apportion(7, FRACTIONS) == [5, 1, 1]
    assert apportion(5, FRACTIONS) == [4, 1, 0]
    assert apportion(2, FRACTIONS) == [2, 0, 0]
    for n in range(0, 200, 7):
        counts = apportion(n, FRACTIONS)
        assert sum(counts) == n
        assert all(abs(c - n * f) < 1 for c, f in zip(counts, FRACTIONS, strict=True))


def test_no_composition_in_two_splits():
    slabs = study_like_slabs()
    rows = split_table(slabs, FRACTIONS, seed=42)
    assert len(rows) == len(slabs)
    splits_of = defaultdict(set)
    for row in rows:
        splits_of[row["composition_id"]].add(row["split"])
    assert all(len(s) == 1 for s in splits_of.values())
    # the shared binary / prototype compositions too
    shared = {s.composition_id for s in slabs if s.comp_type == "binary_proto"} & {
        s.composition_id for s in slabs if s.comp_type == "binary"
    }
    assert len(shared) == 30 and all(len(splits_of[c]) == 1 for c in shared)


def test_stratified_proportions():
    slabs = study_like_slabs()
    assignment = assign_splits(slabs, FRACTIONS, seed=42)
    types = defaultdict(set)
    for s in slabs:
        types[s.composition_id].add(s.comp_type)
    strata = defaultdict(list)
    for comp, t in types.items():
        strata["+".join(sorted(t))].append(comp)
    assert "binary+binary_proto" in strata
    for stratum, comps in strata.items():
        counts = Counter(assignment[c] for c in comps)
        expected = apportion(len(comps), FRACTIONS)
        if len(comps) >= 7:
            assert [counts[s] for s in SPLITS] == expected, stratum
    rows = split_table(slabs, FRACTIONS, seed=42)
    fractions = Counter(r["split"] for r in rows)
    for split, f in zip(SPLITS, FRACTIONS, strict=True):
        assert abs(fractions[split] / len(rows) - f) < 0.02, split
    for comp_type in ("pure", "binary", "ternary", "quaternary", "quinary", "dilute_1"):
        of_type = [r for r in rows if r["type"] == comp_type]
        share = Counter(r["split"] for r in of_type)
        assert abs(share["train"] / len(of_type) - 0.8) < 0.06, comp_type
        assert share["val"] > 0 and share["test"] > 0, comp_type


def test_same_input_and_seed_give_the_same_bytes():
    slabs = study_like_slabs()
    text = format_split_csv(split_table(slabs, FRACTIONS, seed=42))
    shuffled = list(slabs)
    random.Random(5).shuffle(shuffled)
    assert format_split_csv(split_table(shuffled, FRACTIONS, seed=42)) == text
    assert format_split_csv(split_table(slabs, FRACTIONS, seed=43)) != text
    lines = text.splitlines()
    assert lines[0] == "slab_id,composition_id,type,split"
    assert [line.split(",")[0] for line in lines[1:]] == sorted(s.slab_id for s in slabs)


def test_strata_are_seeded_independently():
    slabs = study_like_slabs()
    base = assign_splits(slabs, FRACTIONS, seed=42)
    extra = slabs + [SlabKey(f"new{k}-fcc", f"new{k:03d}", "ternary_proto") for k in range(30)]
    grown = assign_splits(extra, FRACTIONS, seed=42)
    assert all(grown[c] == split for c, split in base.items())


def test_tiny_strata_are_pooled_so_every_split_gets_compositions():
    # like presets/tiny.yaml: at most two slabs per type, ten types
    types = ["pure", "binary", "ternary", "quaternary", "quinary", "senary", "dilute_1",
             "dilute_2", "binary_proto", "ternary_proto"]  # fmt: skip
    slabs = [
        SlabKey(f"{t}-{k}-v{v}", f"{t}-{k}", t) for t in types for k in range(2) for v in range(1)
    ]
    assignment = assign_splits(slabs, FRACTIONS, seed=42)
    counts = Counter(assignment.values())
    assert counts["val"] >= 1 and counts["test"] >= 1 and counts["train"] >= 14
    assert [counts[s] for s in SPLITS] == apportion(20, FRACTIONS)
    # a big stratum is split on its own; the tiny ones are pooled beside it
    big = [SlabKey(f"b{k}", f"b{k}", "binary") for k in range(50)]
    tiny = [SlabKey("p0", "p0", "pure"), SlabKey("s0", "s0", "senary")]
    mixed = assign_splits(big + tiny, FRACTIONS, seed=42)
    assert Counter(mixed[f"b{k}"] for k in range(50)) == Counter(train=40, val=5, test=5)
    # fewer compositions than splits: nothing to split, everything trains (no error)
    assert set(assign_splits(tiny, FRACTIONS, seed=42).values()) == {"train"}
    assert POOLED.startswith("(")


def test_three_compositions_fill_three_splits():
    slabs = [SlabKey(f"s{k}", f"c{k}", "pure") for k in range(3)]
    assert sorted(assign_splits(slabs, FRACTIONS, seed=1).values()) == ["test", "train", "val"]


def test_duplicate_slab_and_bad_fractions_are_rejected():
    with pytest.raises(SplitError, match="'a' occurs twice"):
        split_table([SlabKey("a", "c", "pure"), SlabKey("a", "d", "pure")])
    with pytest.raises(SplitError, match="summing to 1"):
        assign_splits([SlabKey("a", "c", "pure")], (0.5, 0.2, 0.2))


def test_split_file_round_trip_and_checks(tmp_path):
    rows = split_table(study_like_slabs(), FRACTIONS, seed=42)
    path = tmp_path / "x-split.csv"
    path.write_text(format_split_csv(rows))
    assert read_split(path) == {r["slab_id"]: r["split"] for r in rows}
    bad = tmp_path / "bad.csv"
    bad.write_text("slab_id,composition_id,type,split\na,c,pure,holdout\n")
    with pytest.raises(SplitError, match=r"bad.csv:2: slab 'a' has split 'holdout'"):
        read_split(bad)
    bad.write_text("slab_id,composition_id,type,split\na,c,pure,train\na,c,pure,test\n")
    with pytest.raises(SplitError, match="listed twice"):
        read_split(bad)
    bad.write_text("slab_id,split\na,train\n")
    with pytest.raises(SplitError, match="missing column"):
        read_split(bad)


def write_dataset(path, slabs: list[SlabKey], drop: str | None = None) -> None:
    """An ASE db following the dataset contract (docs/architecture.md), one tiny slab per row."""
    from ase import Atoms
    from ase.db import connect

    with connect(path, append=False) as db:
        for s in slabs:
            atoms = Atoms("Cu2", positions=[[0, 0, 5], [1.3, 1.3, 7]], cell=[2.6, 2.6, 12])
            atoms.pbc = (True, True, False)
            meta = {
                "slab_id": s.slab_id,
                "composition_id": s.composition_id,
                "comp_type": s.comp_type,
                "lattice": "fcc",
                "placement": "random",
                "variant": 0,
                "labeller": "gpaw",
                "spinpol": False,
            }
            if s.slab_id == drop:
                del meta["comp_type"]
            db.write(atoms, key_value_pairs=meta, data={"magmoms": np.array([0.1, -0.2])})


def test_split_of_a_dataset_file(tmp_path):
    from magmom.data.split import slab_keys_from_dataset

    slabs = study_like_slabs()[:60]
    path = tmp_path / "unit.db"
    write_dataset(path, slabs)
    keys = slab_keys_from_dataset(path)
    assert sorted(keys, key=lambda k: k.slab_id) == sorted(slabs, key=lambda k: k.slab_id)
    assert format_split_csv(split_table(keys)) == format_split_csv(split_table(slabs))


def test_missing_type_is_an_error_naming_the_slab(tmp_path):
    from magmom.data.split import slab_keys_from_dataset

    slabs = study_like_slabs()[:5]
    path = tmp_path / "unit.db"
    write_dataset(path, slabs, drop=slabs[3].slab_id)
    with pytest.raises(SplitError, match=rf"unit.db: slab '{slabs[3].slab_id}' has no 'comp_type'"):
        slab_keys_from_dataset(path)
