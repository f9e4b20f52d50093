"""Finished records shipped into data/{name}/ (magmom.data.shipped): exported, imported, restored.

The records come from the real labeller (the CHGNet surrogate: the same record format as GPAW's,
seconds instead of minutes) on 3-atom slabs; the shipped extxyz is read back by the importer that
``dataset.source`` uses.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from dft_helpers import cheap_config, slab_meta, tiny_slab, write_slab_db

from magmom.data import shipped, shipped_status
from magmom.data.importers import read_source
from magmom.dft.label import LabelSettings, label_slab_from_db
from magmom.dft.record import read_record, read_records

pytestmark = pytest.mark.usefixtures("single_thread")

ROOT = Path(__file__).resolve().parents[1]

SLABS = {
    "fe033-ni067-fcc-random-v0": (("Fe", "Ni", "Ni"), "fe033-ni067", "binary"),
    "co100-fcc-pure-v0": (("Co", "Co", "Co"), "co100", "pure"),
}


@pytest.fixture(scope="module")
def labelled(tmp_path_factory, single_thread):
    tmp = tmp_path_factory.mktemp("shipped")
    rows = []
    for slab_id, (symbols, comp, comp_type) in SLABS.items():
        rows.append((tiny_slab(symbols, vacuum=5.0), slab_meta(slab_id, comp, comp_type)))
    db = write_slab_db(tmp / "initial_slabs.db", rows)
    cfg = cheap_config(labeller="chgnet")
    cfg["dft"]["prerelax"]["steps"] = 2
    records = {}
    for slab_id in SLABS:
        out = tmp / "results" / "dft" / f"{slab_id}.json"
        label_slab_from_db(db, slab_id, LabelSettings.of(cfg), tmp / "work" / slab_id, out)
        records[slab_id] = out
    return {"tmp": tmp, "records": records}


def test_export_import_restore_and_checksums(labelled):
    tmp, records = labelled["tmp"], labelled["records"]
    root = shipped.shipped_root("mini", tmp / "repo")
    assert root == tmp / "repo" / "data" / "mini"
    missing = tmp / "results" / "dft" / "not-labelled-v0.json"
    done = shipped.export_records([*records.values(), missing], root)
    assert sorted(done["new"]) == sorted(SLABS) and done["missing"] == ["not-labelled-v0"]
    # shipped again unchanged: nothing to commit
    assert shipped.export_records(records.values(), root)["unchanged"] == list(records)
    for slab_id, path in records.items():
        assert shipped.shipped_record(root, slab_id).read_bytes() == path.read_bytes()

    out = shipped.collect(root, "mini")
    assert out["slabs"] == 2 and out["records"] == 2
    slabs, failures = read_source(root / "mini.extxyz")
    assert failures == []
    by_id = {s.meta["slab_id"]: s for s in slabs}
    assert set(by_id) == set(SLABS)
    for slab_id, path in records.items():
        rec = read_record(path)
        got = by_id[slab_id]
        assert np.allclose(got.magmoms, rec["magmoms"], rtol=0, atol=1e-7)  # extxyz: 8 decimals
        assert np.allclose(got.atoms.positions, rec["structure"]["positions"], rtol=0, atol=1e-7)
        assert got.meta["comp_type"] == SLABS[slab_id][2]
        assert got.meta["labeller"] == "chgnet"  # surrogate labels stay marked
    assert shipped.check_sums(root) == []

    # a changed record is shipped again, and the checksums notice the stale combined file
    path = records["co100-fcc-pure-v0"]
    rec = json.loads(path.read_text())
    rec["wall_time_this_run"] += 1.0
    path.write_text(json.dumps(rec))
    assert shipped.export_records([path], root)["updated"] == ["co100-fcc-pure-v0"]
    assert shipped.check_sums(root) == ["records/co100-fcc-pure-v0.json"]

    # restoring into an empty results tree brings every shipped record back, byte for byte
    fresh = tmp / "fresh" / "dft"
    assert sorted(shipped.restore_records(root, fresh)) == sorted(SLABS)
    assert shipped.restore_records(root, fresh) == []
    for slab_id in SLABS:
        assert (fresh / f"{slab_id}.json").read_bytes() == shipped.shipped_record(
            root, slab_id
        ).read_bytes()


def test_failed_record_is_shipped_without_a_structure(labelled, tmp_path):
    src = labelled["records"]["fe033-ni067-fcc-random-v0"]
    root = tmp_path / "data" / "mini"
    assert shipped.export_records([src], root)["new"] == ["fe033-ni067-fcc-random-v0"]
    assert shipped.shipped_slab(root, "fe033-ni067-fcc-random-v0").exists()
    rec = json.loads(src.read_text())
    for key in ("magmoms", "abs_magmoms", "total_magmom"):
        rec.pop(key, None)
    rec.update(status="failed", reason="LadderExhausted: pw")
    failed = tmp_path / "fe033-ni067-fcc-random-v0.json"
    failed.write_text(json.dumps(rec))
    assert shipped.export_records([failed], root)["updated"] == ["fe033-ni067-fcc-random-v0"]
    assert not shipped.shipped_slab(root, "fe033-ni067-fcc-random-v0").exists()
    assert read_record(shipped.shipped_record(root, "fe033-ni067-fcc-random-v0"))["status"] == (
        "failed"
    )


SHIPPED = sorted(p.parent for p in shipped.shipped_root("*", ROOT).parent.glob("*/SHA256SUMS"))


@pytest.mark.parametrize("root", SHIPPED, ids=[p.name for p in SHIPPED])
def test_the_repository_shipped_labels_match_their_sums_and_import(root):
    """Every data/{name}/ of this repository: checksums hold, every listed file exists, the combined
    extxyz imports through dataset.source's importer with one labelled slab per shipped record,
    each with the record's moments, and every label is GPAW's (no surrogate in shipped DFT data)."""
    assert shipped.check_sums(root) == []
    listed = {line.split()[1] for line in (root / "SHA256SUMS").read_text().splitlines()}
    assert f"{root.name}.extxyz" in listed
    records = sorted((root / "records").glob("*.json"))
    assert {f"records/{p.name}" for p in records} <= listed
    slabs, failures = read_source(root / f"{root.name}.extxyz")
    assert failures == []
    by_id = {s.meta["slab_id"]: s for s in slabs}
    ok = {p.stem: read_record(p) for p in records}
    ok = {k: r for k, r in ok.items() if r["status"] == "ok"}
    assert set(by_id) == set(ok)
    for slab_id, rec in ok.items():
        assert rec["labeller"] == "gpaw"
        assert np.allclose(by_id[slab_id].magmoms, rec["magmoms"], rtol=0, atol=1e-7)
        # the label's settings and start comparison survive the import (the warm start's check)
        meta = by_id[slab_id].meta
        assert meta["parameters_sha256"] == rec["parameters_sha256"], slab_id
        assert meta["start_comparison"] == rec["initial_moments"]["comparison"], slab_id


def test_the_repository_ships_the_mini_labels():
    assert ROOT / "data" / "mini" in SHIPPED


@pytest.mark.parametrize("root", SHIPPED, ids=[p.name for p in SHIPPED])
def test_the_repository_readme_states_what_the_shipped_records_hold(root):
    """The README's status block (counts per family, facet, element, group; cost per slab) is the
    one its shipped records give: a record shipped without the block rewritten fails here."""
    readme = root / shipped.README
    block = shipped_status.read_block(readme.read_text(), str(readme))
    assert block == shipped_status.status_markdown(read_records([root / shipped.RECORDS])), (
        f"{readme}: stale status block; rewrite it with "
        "`python scripts/label_in_chunks.py --configfile presets/<name>.yaml --chunks 0 --collect`"
    )


def test_the_status_block_counts_the_records_and_leaves_the_rest_of_the_readme(tmp_path):
    mini = ROOT / "data" / "mini" / shipped.RECORDS
    root = tmp_path / "data" / "mini"
    (root / shipped.RECORDS).mkdir(parents=True)
    for slab_id in ("fe100-bcc-pure-v0", "mn100-bcc-pure-v0", "ni100-fcc-pure-v0"):
        (root / shipped.RECORDS / f"{slab_id}.json").write_bytes(
            (mini / f"{slab_id}.json").read_bytes()
        )
    failed = json.loads((root / shipped.RECORDS / "ni100-fcc-pure-v0.json").read_text())
    failed.update(status="failed", reason="LadderExhausted: pw")
    (root / shipped.RECORDS / "ni100-fcc-pure-v0.json").write_text(json.dumps(failed))
    readme = root / shipped.README
    before, after = "# mini\n\nby hand\n\n", "\n## Settings\n\nby hand too\n"
    readme.write_text(before + shipped_status.BEGIN + "\nold\n" + shipped_status.END + after)

    assert shipped_status.update_readme(root) == readme
    text = readme.read_text()
    assert text.startswith(before + shipped_status.BEGIN) and text.endswith(
        shipped_status.END + after
    )
    block = shipped_status.read_block(text)
    assert (
        "**2 slabs labelled, 24 atomic moments**; 1 failed record(s): ni100-fcc-pure-v0." in block
    )
    # both pure bcc(110) slabs, one of them holding Mn; Fe in one slab, Mn in the other
    assert "| pure | 0 | 2 | 0 | 2 | 24 | 1 |" in block
    assert "| element | Fe | Mn |" in block and "| slabs | 1 | 1 |" in block
    assert "| slabs | 1 | 0 | 0 | 1 | 0 | 0 |" in block  # fe-co-ni, cr, v, mn, mixed, none
    # Mn(110) ran three starts and kept the in-plane antiferromagnet
    assert "| `mn100-bcc-pure-v0` | 12 | 3 | 438 | complete | `inplane_afm` | 2,008 |" in block
    # SCF iterations: Fe(110) 83 (two starts), Mn(110) 438 (a failed level counted at its 150)
    assert "521 SCF iterations in all" in block
    assert shipped_status.update_readme(root) is None  # current: nothing rewritten

    readme.write_text("# no block\n")
    assert shipped_status.update_readme(root) is None and readme.read_text() == "# no block\n"
    readme.write_text(shipped_status.BEGIN + "\n")
    with pytest.raises(ValueError, match="README.md"):
        shipped_status.update_readme(root)
