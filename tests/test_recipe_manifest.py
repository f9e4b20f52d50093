"""Manifest rows, slab ids, the preset subset, determinism and the cached slab index."""

from __future__ import annotations

import copy
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from snakemake.utils import update_config

from magmom.recipe import slab_index
from magmom.recipe.index import cache_key
from magmom.recipe.manifest import (
    MANIFEST_COLUMNS,
    enumerate_slabs,
    manifest_bytes,
    read_manifest,
    recipe_slabs,
    select_subset,
    write_manifest,
)
from magmom.recipe.slab_spec import apportion

ROOT = Path(__file__).resolve().parents[1]


def load_config(*presets: str) -> dict:
    config = yaml.safe_load((ROOT / "config.yaml").read_text())
    for preset in presets:
        update_config(config, yaml.safe_load((ROOT / "presets" / preset).read_text()))
    return config


@pytest.fixture(scope="module")
def full_specs():
    return enumerate_slabs(load_config()["recipe"])


def test_slab_ids_are_unique_readable_file_names(full_specs):
    ids = [s.slab_id for s in full_specs]
    assert len(set(ids)) == len(ids)
    pattern = re.compile(r"^[a-z0-9_]+(-[a-z0-9_]+)*$")
    for s in full_specs:
        assert pattern.match(s.slab_id) and len(s.slab_id) < 120
        assert s.slab_id == f"{s.composition_id}-{s.lattice}-{s.placement}-v{s.variant}"
    assert "ag012-au088-fcc-random-v0" in ids
    assert "ag012-au088-fcc-random-v3" in ids and "ag012-au088-fcc-random-v4" not in ids


def test_manifest_columns_and_roundtrip(tmp_path, full_specs):
    path = tmp_path / "slabs.csv"
    data = write_manifest(full_specs[:500] + full_specs[-500:], path)
    assert path.read_bytes() == data
    df = read_manifest(path)
    assert tuple(df.columns) == MANIFEST_COLUMNS
    assert df["variant"].dtype.kind == "i" and df["n_atoms"].dtype.kind == "i"
    assert list(df["slab_id"]) == [s.slab_id for s in full_specs[:500] + full_specs[-500:]]
    assert not list(tmp_path.glob(".*"))  # no temporary file left behind


def test_read_manifest_rejects_other_csv(tmp_path):
    path = tmp_path / "x.csv"
    path.write_text("slab_id,foo\na,b\n")
    with pytest.raises(ValueError, match="missing column"):
        read_manifest(path)


def test_two_runs_give_identical_manifest_bytes(tmp_path):
    """Same bytes in fresh interpreters with different hash seeds (no set-order dependence)."""
    code = (
        "import sys, yaml\n"
        "from magmom.recipe.manifest import recipe_slabs, write_manifest\n"
        f"cfg = yaml.safe_load(open({str(ROOT / 'config.yaml')!r}))['recipe']\n"
        "write_manifest(recipe_slabs(cfg), sys.argv[1])\n"
    )
    outs = []
    for hash_seed in ("1", "12345"):
        out = tmp_path / f"slabs-{hash_seed}.csv"
        env = dict(os.environ, PYTHONHASHSEED=hash_seed, PYTHONPATH=str(ROOT))
        subprocess.run([sys.executable, "-c", code, str(out)], check=True, env=env, cwd=tmp_path)
        outs.append(out.read_bytes())
    assert outs[0] == outs[1]
    assert outs[0] == manifest_bytes(recipe_slabs(load_config()["recipe"]))


def test_apportion():
    assert apportion([0.125, 0.875], 64) == (8, 56)
    assert apportion([1 / 64, 2 / 64, 61 / 64], 12) == (1, 1, 10)
    assert apportion([0.5, 0.25, 0.25], 12) == (6, 3, 3)
    assert sum(apportion([0.1] * 6 + [0.4], 12)) == 12
    with pytest.raises(ValueError, match="do not fit"):
        apportion([0.2] * 5, 4)


def test_subset_is_per_type_and_independent_of_other_types(full_specs):
    kept = select_subset(full_specs, 5, seed=42)
    per_type: dict[str, int] = {}
    for s in kept:
        per_type[s.comp_type] = per_type.get(s.comp_type, 0) + 1
    assert set(per_type.values()) == {5} and len(per_type) == 10
    # dropping every slab of other types does not change which ternary slabs are kept
    ternary = [s for s in full_specs if s.comp_type == "ternary"]
    assert [s for s in kept if s.comp_type == "ternary"] == select_subset(ternary, 5, seed=42)
    # row order does not matter
    assert set(select_subset(full_specs[::-1], 5, seed=42)) == set(kept)
    assert select_subset(full_specs, None, seed=42) == full_specs


def test_preset_subset_is_drawn_from_the_preset_enumeration():
    recipe = load_config("demo.yaml")["recipe"]
    everything = {s.slab_id for s in enumerate_slabs(recipe)}
    kept = recipe_slabs(recipe)
    assert {s.slab_id for s in kept} <= everything
    per_type = [sum(1 for s in kept if s.comp_type == t) for t in {s.comp_type for s in kept}]
    assert max(per_type) == recipe["max_slabs_per_type"]


def test_slab_index_cold_then_cached(tmp_path):
    config = load_config("tiny.yaml")
    cache = tmp_path / "cache"
    ids = slab_index(config, cache)
    assert ids == [s.slab_id for s in recipe_slabs(config["recipe"])]
    files = list(cache.glob("slab-index-*.txt"))
    assert len(files) == 1 and files[0].read_text().split() == ids
    assert not list(cache.glob(".*"))
    # the cached path reads the file: prove it by changing the file's content
    files[0].write_text("sentinel-id\n")
    assert slab_index(config, cache) == ["sentinel-id"]


def test_slab_index_key_follows_the_recipe_section_only(tmp_path):
    config = load_config("tiny.yaml")
    other = copy.deepcopy(config)
    other["training"]["lr"] = 0.5
    assert cache_key(config["recipe"]) == cache_key(other["recipe"])
    edited = copy.deepcopy(config)
    edited["recipe"]["max_slabs_per_type"] = 3
    assert cache_key(edited["recipe"]) != cache_key(config["recipe"])
    a = slab_index(config, tmp_path)
    b = slab_index(edited, tmp_path)
    assert len(b) > len(a) and set(a) <= set(b)
    assert len(list(tmp_path.glob("slab-index-*.txt"))) == 2
