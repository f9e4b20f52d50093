"""Checkpoints of an unfinished slab saved into data/ and restored into a fresh results tree
(magmom.data.shipped.save_partial / restore_partial): real GPAW on the 2-atom Ni(111) slab of
tests/dft_helpers.py, two starts (floor and eos), single points as presets/mini.yaml labels.

A session ends with its processes: what a slab had finished (its pre-relaxation, each converged
start) must come back in the next session and not be computed again.
"""

from __future__ import annotations

import json
import logging
import shutil

import numpy as np
import pytest
from dft_helpers import cheap_config, slab_meta, tiny_slab, write_slab_db

from magmom.data import shipped
from magmom.dft.label import LabelSettings, label_slab_from_db

SLAB_ID = "ni100-fcc-pure-v0"

pytestmark = [pytest.mark.usefixtures("single_thread"), pytest.mark.slow]  # real GPAW


def gpaw_logs(workdir):
    return sorted(p.relative_to(workdir).as_posix() for p in workdir.rglob("*-L*-s*.txt"))


def test_a_stopped_slab_resumes_from_its_saved_checkpoints(tmp_path, caplog):
    db = write_slab_db(tmp_path / "initial_slabs.db", [(tiny_slab(magmom=0.3), slab_meta(SLAB_ID))])
    cfg = cheap_config(
        ladder=[{"mixer": "pulay", "eigenstates": 1.0e-6, "smearing_width": 0.2, "maxiter": 100}]
    )
    cfg["dft"].update(lcao=None, initial_moments="floor+eos")
    cfg["dft"]["relax"]["steps"] = 0
    settings = LabelSettings.of(cfg)
    root = shipped.shipped_root("mini", tmp_path / "repo")

    # session 1: both starts finish, but the slab's record is never written (the session ends
    # while the labeller compares them, say)
    first = tmp_path / "session1"
    work1 = first / "work" / SLAB_ID
    done = label_slab_from_db(db, SLAB_ID, settings, work1, first / "record.json")
    assert done["status"] == "ok", done.get("reason")
    starts = done["initial_moments"]["starts"]
    assert set(starts) == {"floor", "eos"} and "duplicate_of" not in starts["eos"]
    assert gpaw_logs(work1) == ["start-eos/pw-L0-s0.txt", "start-floor/pw-L0-s0.txt"]
    saved = shipped.save_partial(root, {SLAB_ID: work1})
    partial = shipped.partial_dir(root, SLAB_ID)
    names = sorted(p.relative_to(partial).as_posix() for p in saved)
    assert "prerelax.json" in names
    assert {"start-eos/pw-checkpoint.json", "start-floor/pw-checkpoint.json"} <= set(names)
    assert not any(n.endswith(".txt") for n in names)  # GPAW logs are not kept
    assert shipped.save_partial(root, {SLAB_ID: work1}) == []  # unchanged: nothing to commit
    # the eos start had not finished when the session ended
    for path in partial.glob("start-eos/*.json"):
        path.unlink()

    # session 2: a fresh results tree
    second = tmp_path / "session2"
    work2 = second / "work" / SLAB_ID
    assert shipped.restore_partial(root, {SLAB_ID: work2}) == [SLAB_ID]
    assert shipped.restore_partial(root, {SLAB_ID: work2}) == []  # nothing missing any more
    with caplog.at_level(logging.INFO, logger="magmom"):
        again = label_slab_from_db(db, SLAB_ID, settings, work2, second / "record.json")
    assert again["status"] == "ok", again.get("reason")
    assert "prerelax: finished in an earlier run" in caplog.text
    # only the unfinished start ran GPAW
    assert gpaw_logs(work2) == ["start-eos/pw-L0-s0.txt"]
    np.testing.assert_allclose(again["magmoms"], done["magmoms"], atol=1e-6)
    for name in ("floor", "eos"):
        assert again["initial_moments"]["starts"][name]["energy"] == pytest.approx(
            starts[name]["energy"], abs=1e-6
        )

    # the record ships: the saved checkpoints go (and a restore brings nothing back)
    shipped.export_record(second / "record.json", root)
    removed = shipped.save_partial(root, {SLAB_ID: work2})
    assert removed and not partial.exists()  # its emptied folders too
    shutil.rmtree(work2)
    assert shipped.restore_partial(root, {SLAB_ID: work2}) == [] and not work2.exists()


def test_hidden_and_torn_files_are_not_saved(tmp_path, caplog):
    work = tmp_path / "work" / SLAB_ID
    (work / "start-floor").mkdir(parents=True)
    (work / "prerelax.json").write_text(json.dumps({"positions": []}))
    (work / "start-floor" / ".pw-checkpoint.json.ab12.json").write_text("{")  # write in progress
    (work / "start-floor" / "pw-L0-s0.txt").write_text("GPAW log")
    root = tmp_path / "repo" / "data" / "mini"
    saved = shipped.save_partial(root, {SLAB_ID: work})
    assert [p.relative_to(root).as_posix() for p in saved] == [f"partial/{SLAB_ID}/prerelax.json"]
    (work / "broken.json").write_text('{"positions": [')  # not written by atomic_path
    with caplog.at_level(logging.WARNING, logger="magmom"):
        assert shipped.save_partial(root, {SLAB_ID: work}) == []
    assert "broken.json: not JSON, not saved" in caplog.text
