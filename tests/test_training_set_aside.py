"""The cleanup command for set-aside training state lists and deletes only set-aside folders."""

from __future__ import annotations

import os
import time

from magmom.training.set_aside import find, main


def test_lists_then_deletes_only_the_old_set_aside_folders(tmp_path, capsys):
    root = tmp_path / "results" / "demo"
    old = root / "models" / "cgconv-r3" / "set-aside" / "20261101T000000Z"
    new = root / "models" / "schnetconv-r3" / "set-aside" / "20261206T000000Z"
    for folder in (old, new):
        folder.mkdir(parents=True)
        (folder / "last.pt").write_bytes(b"x" * 1000)
    keep = root / "models" / "cgconv-r3" / "best.pt"
    keep.write_bytes(b"y")
    ten_days = time.time() - 10 * 86400
    os.utime(old, (ten_days, ten_days))

    assert [e.model_id for e in find(root)] == ["cgconv-r3", "schnetconv-r3"]  # oldest first
    assert main([str(root)]) == 0 and old.exists() and new.exists()  # listing deletes nothing
    assert "2 set-aside folder(s)" in capsys.readouterr().out
    assert main([str(root), "--delete", "--older-than", "7"]) == 0
    assert not old.parent.exists() and new.exists() and keep.exists()
    assert main([str(tmp_path / "nowhere")]) == 2
