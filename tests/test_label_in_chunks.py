"""scripts/label_in_chunks.py: the labelling order, its split over workers and deferred slabs."""

from __future__ import annotations

import importlib.util
import subprocess
from pathlib import Path

import pandas as pd
import pytest

from magmom.data import shipped

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def chunks():
    spec = importlib.util.spec_from_file_location(
        "label_in_chunks", ROOT / "scripts" / "label_in_chunks.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def manifest() -> pd.DataFrame:
    rows = [
        ("fe100-bcc-pure-v0", "pure", "Fe"),
        ("v100-bcc-pure-v0", "pure", "V"),
        ("cr100-bcc-pure-v0", "pure", "Cr"),
        ("cu050-ni050-fcc-random-v0", "binary", "Cu Ni"),
        ("mn050-pt050-fcc-random-v0", "binary", "Mn Pt"),
        ("au050-pd050-fcc-random-v0", "binary", "Au Pd"),
        ("co050-v050-hcp-random-v0", "binary", "Co V"),
    ]
    return pd.DataFrame(rows, columns=["slab_id", "type", "elements"])


def test_workers_split_the_order_and_deferred_slabs_come_last(chunks, tmp_path):
    order = chunks.labelling_order(manifest())
    assert sorted(order) == sorted(manifest()["slab_id"])
    one, two = (
        chunks.pending(manifest(), tmp_path, 0, 2),
        chunks.pending(manifest(), tmp_path, 1, 2),
    )
    assert sorted(one + two) == sorted(order) and not set(one) & set(two)
    first = one[0]
    deferred = chunks.pending(manifest(), tmp_path, 0, 2, defer=[first, "not-mine"])
    assert deferred == [*one[1:], first]  # labelled after the others, not dropped
    # a shipped record takes the slab out, deferred or not
    record = shipped.shipped_record(tmp_path, first)
    record.parent.mkdir(parents=True, exist_ok=True)
    record.write_text("{}")
    assert chunks.pending(manifest(), tmp_path, 0, 2, defer=[first]) == one[1:]


def test_commit_takes_removed_checkpoints_and_skips_files_that_never_were(
    chunks, tmp_path, monkeypatch
):
    """A shipped slab's saved checkpoints are removed from data/<name>/partial/: the chunk's commit
    must record the removal (not drop the gone path), while a failed slab's extxyz, which was
    never written, is no reason to fail the commit."""
    repo = tmp_path / "repo"
    partial = repo / "data" / "mini" / "partial" / "x-v0"
    partial.mkdir(parents=True)
    (partial / "prerelax.json").write_text("{}")
    for var in ("GIT_AUTHOR", "GIT_COMMITTER"):
        monkeypatch.setenv(f"{var}_NAME", "t")
        monkeypatch.setenv(f"{var}_EMAIL", "t@t")
    run = dict(cwd=repo, check=True, capture_output=True)
    subprocess.run(["git", "init", "-q"], **run)
    subprocess.run(["git", "add", "."], **run)
    subprocess.run(["git", "commit", "-qm", "a"], **run)
    monkeypatch.setattr(chunks, "ROOT", repo)
    record = repo / "data" / "mini" / "records" / "x-v0.json"
    record.parent.mkdir(parents=True)
    record.write_text("{}")
    (partial / "prerelax.json").unlink()
    never = repo / "data" / "mini" / "slabs" / "x-v0.extxyz"

    chunks.commit([record, never, partial / "prerelax.json"], "ship x-v0")

    tracked = subprocess.run(["git", "ls-files"], **run).stdout.decode().split()
    assert tracked == ["data/mini/records/x-v0.json"]
    assert subprocess.run(["git", "status", "--porcelain"], **run).stdout == b""
