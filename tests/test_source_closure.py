"""The code version of a rule (param `code`): what changes it and what does not.

On a copy of the package (``magmom.source_closure.ROOT`` pointed at it), so the tests never edit
the working tree other tests import from.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path

import pytest

import magmom.source_closure as source_closure
from magmom.source_closure import closure, code_sha256

REPO = Path(__file__).resolve().parents[1]
GPAW_SCRIPTS = {"eos.py", "dft_slab.py", "warm_start_slab.py"}  # hours per job: no code param


@pytest.fixture()
def copy(tmp_path, monkeypatch):
    for name in ("magmom", "workflow_scripts"):
        shutil.copytree(REPO / name, tmp_path / name, ignore=shutil.ignore_patterns("__pycache__"))
    monkeypatch.setattr(source_closure, "ROOT", tmp_path)
    for fn in (source_closure.imports_of, source_closure.lazy_names, source_closure._file_digest):
        fn.cache_clear()
    yield tmp_path
    for fn in (source_closure.imports_of, source_closure.lazy_names, source_closure._file_digest):
        fn.cache_clear()


def test_a_library_edit_changes_the_code_version_of_the_scripts_that_run_it(copy):
    train, label = (
        copy / "workflow_scripts" / "train_model.py",
        copy / "workflow_scripts" / "dft_slab.py",
    )
    trainer = copy / "magmom" / "training" / "trainer.py"
    assert trainer in closure(train) and trainer not in closure(label)
    before = {s: code_sha256(s) for s in (train, label)}

    # restored content (git checkout) with a new modification time: nothing changes
    text = trainer.read_text()
    trainer.write_text(text)
    os.utime(trainer, ns=(trainer.stat().st_atime_ns, trainer.stat().st_mtime_ns + 10**9))
    assert code_sha256(train) == before[train]
    # comments, docstrings and formatting do not count
    trainer.write_text(text.replace('"""', '"""Edited. ', 1) + "\n# a comment\n\n")
    assert code_sha256(train) == before[train]
    # another loss does: the train jobs' code version changes, the DFT script's does not
    assert "F.huber_loss(" in text
    trainer.write_text(text.replace("F.huber_loss(", "F.l1_loss(", 1).replace(
        ", delta=self.settings.huber_delta", "", 1))  # fmt: skip
    assert code_sha256(train) != before[train]
    assert code_sha256(label) == before[label]


def test_lazy_names_bring_their_submodule_into_the_closure():
    assert REPO / "magmom" / "graphs" / "dataset.py" in source_closure.magmom_files(
        "magmom.graphs.GraphCache"
    )
    assert source_closure.lazy_names("magmom.dft")["run_eos"] == "eos"  # a named table


def test_every_script_rule_but_the_gpaw_ones_carries_its_own_code_version():
    """rules/*.smk: each `script:` rule has `code=code_version("<its script>")` in its params."""
    found = {}
    for smk in sorted((REPO / "rules").glob("*.smk")):
        text = smk.read_text()
        for block in re.split(r"^\s*(?:rule|checkpoint) ", text, flags=re.M)[1:]:
            name = block.split(":", 1)[0]
            script = re.search(r'script:\s*\n\s+"\.\./workflow_scripts/(\w+\.py)"', block)
            if script:
                found[name] = (script[1], re.findall(r'code=code_version\("(\w+\.py)"\)', block))
    assert len(found) >= 20
    for rule, (script, versions) in found.items():
        expected = [] if script in GPAW_SCRIPTS else [script]
        assert versions == expected, (rule, script, versions)


def test_a_cached_code_version_is_reused_until_a_file_of_its_closure_changes(copy, monkeypatch):
    """code_sha256(..., cache_dir): the answer is kept with the closure's file stamps; an edit, a
    module added beside the closure's files or a deleted cache recomputes the uncached answer."""
    train = copy / "workflow_scripts" / "train_model.py"
    trainer = copy / "magmom" / "training" / "trainer.py"
    cache = copy / "cache"
    computed = []
    uncached = source_closure._code_sha256

    def counting(script):
        computed.append(script)
        return uncached(script)

    monkeypatch.setattr(source_closure, "_code_sha256", counting)
    first = code_sha256(train, cache_dir=cache)
    assert first == uncached(train) and len(computed) == 1
    assert code_sha256(train, cache_dir=cache) == first and len(computed) == 1  # reused
    stamps = json.loads((cache / source_closure.CODE_CACHE).read_text())[str(train)]["stamps"]
    assert str(trainer) in stamps and str(trainer.parent) in stamps

    # an edit recomputes: another loss, another version
    text = trainer.read_text()
    trainer.write_text(text.replace("F.huber_loss(", "F.l1_loss(", 1).replace(
        ", delta=self.settings.huber_delta", "", 1))  # fmt: skip
    for fn in (source_closure.imports_of, source_closure._file_digest):
        fn.cache_clear()
    edited = code_sha256(train, cache_dir=cache)
    assert len(computed) == 2 and edited != first and edited == uncached(train)
    # a new file in a directory of the closure (a module an import may now resolve to)
    (trainer.parent / "new_module.py").write_text("X = 1\n")
    assert code_sha256(train, cache_dir=cache) == edited and len(computed) == 3
    assert code_sha256(train, cache_dir=cache) == edited and len(computed) == 3
    # an unreadable cache is recomputed, not trusted
    (cache / source_closure.CODE_CACHE).write_text("{not json")
    assert code_sha256(train, cache_dir=cache) == edited and len(computed) == 4
