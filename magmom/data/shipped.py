"""Shipped labels: finished per-slab DFT records copied out of a results tree into ``data/``.

A labelling run of many slabs (``presets/mini.yaml``: 309 GPAW slabs, tens of core-hours) goes
in pieces; each finished slab is copied into the repository as soon as it exists, so that it can
be committed and is never recomputed. Pickle-free, one pair of files per slab under
``data/{dataset_name}/`` (:func:`shipped_root`):

============================== ===============================================================
``records/{slab_id}.json``     the full record ``dft_slab`` wrote (:mod:`magmom.dft.record`:
                               every start, ladder attempts, SCF iterations, settings hash),
                               byte for byte
``slabs/{slab_id}.extxyz``     ``ok`` records only: the final structure with per-atom
                               ``magmoms`` (signed, μB) and the dataset key-value pairs
                               (:func:`magmom.data.assemble.labelled_slab_from_record`) in
                               ``info`` (8 decimals; the record keeps full precision); what
                               ``dataset.source`` imports
                               (:mod:`magmom.data.importers`)
``partial/{slab_id}/...``      work in progress, not data: the JSON checkpoints of a slab whose
                               labelling was stopped unfinished (the pre-relaxation, every
                               finished start's stages, its single point at the common level),
                               under their paths in the slab's work directory; no record yet,
                               so not in ``SHA256SUMS``
============================== ===============================================================

:func:`export_records` copies (and skips records already shipped unchanged);
:func:`restore_records` puts shipped records back into a results tree, so that Snakemake finds
those slabs done instead of relabelling them; :func:`collect` concatenates the shipped slabs into
one extxyz file (sorted by slab id) and writes ``SHA256SUMS`` over every shipped file.

A slab takes up to an hour on one core (16 atoms, three starts), and a session's processes end
with it: :func:`save_partial` keeps what the unfinished slabs had finished (a start that converged
is a few kB of JSON, its GPAW logs and wave functions are not kept) and :func:`restore_partial`
puts it back into a fresh results tree, where the labeller's checkpoints (keyed by the stage's
inputs and settings, :mod:`magmom.dft.staged_relaxation`) resume it; a changed setting starts
afresh.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Iterable
from pathlib import Path

from magmom.dft.record import read_record
from magmom.io import atomic_path, write_bytes, write_text

from .assemble import labelled_slab_from_record

log = logging.getLogger(__name__)

RECORDS = "records"
SLABS = "slabs"
PARTIAL = "partial"
CHECKSUMS = "SHA256SUMS"
README = "README.md"
"""The dataset's README: settings, counts and cost (its status block: :mod:`.shipped_status`)."""


def shipped_root(dataset_name: str, repo: str | Path = ".") -> Path:
    """``{repo}/data/{dataset_name}``: where the labels of a configuration are shipped."""
    return Path(repo) / "data" / dataset_name


def shipped_record(root: str | Path, slab_id: str) -> Path:
    return Path(root) / RECORDS / f"{slab_id}.json"


def shipped_slab(root: str | Path, slab_id: str) -> Path:
    return Path(root) / SLABS / f"{slab_id}.extxyz"


def _atoms_of(record: dict, where: str):
    """The final structure of an ``ok`` record with ``magmoms`` and the dataset's key-values."""
    slab = labelled_slab_from_record(record, where)
    atoms = slab.atoms.copy()
    atoms.set_constraint()  # extxyz keeps no FixAtoms; the record holds them
    atoms.arrays["magmoms"] = slab.magmoms.copy()
    atoms.info.update({k: v for k, v in slab.meta.items() if v is not None})
    return atoms


def _write_extxyz(path: Path, frames) -> None:
    from ase.io import write

    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        write(str(tmp), list(frames), format="extxyz")


def export_record(record_path: str | Path, root: str | Path) -> str:
    """Ship one record: ``"new"``, ``"updated"`` or ``"unchanged"`` (already shipped as is).

    The record is validated first (:func:`magmom.dft.record.read_record`): a record that is not
    one raises, naming the file. A ``failed`` record is shipped (its cost and reason are data)
    without a structure file; a shipped structure of an earlier ``ok`` record is removed.
    """
    record_path = Path(record_path)
    record = read_record(record_path)
    slab_id = record["slab_id"]
    dest = shipped_record(root, slab_id)
    blob = record_path.read_bytes()
    state = "new" if not dest.exists() else "unchanged"
    if state == "unchanged" and dest.read_bytes() != blob:
        state = "updated"
    if state == "unchanged":
        return state
    write_bytes(dest, blob)
    slab = shipped_slab(root, slab_id)
    if record["status"] == "ok":
        _write_extxyz(slab, [_atoms_of(record, str(record_path))])
    elif slab.exists():
        slab.unlink()
    return state


def export_records(record_paths: Iterable[str | Path], root: str | Path) -> dict[str, list[str]]:
    """Ship every existing record of ``record_paths``; slab ids by outcome (new/updated/...)."""
    out: dict[str, list[str]] = {"new": [], "updated": [], "unchanged": [], "missing": []}
    for path in record_paths:
        path = Path(path)
        if not path.is_file():
            out["missing"].append(path.stem)
            continue
        out[export_record(path, root)].append(path.stem)
    return out


def restore_records(root: str | Path, dft_dir: str | Path) -> list[str]:
    """Copy shipped records missing from ``dft_dir`` (``<results_dir>/dft``) into it."""
    restored = []
    for src in sorted((Path(root) / RECORDS).glob("*.json")):
        dest = Path(dft_dir) / src.name
        if dest.exists():
            continue
        read_record(src)
        write_bytes(dest, src.read_bytes())
        restored.append(src.stem)
    return restored


def partial_dir(root: str | Path, slab_id: str) -> Path:
    """``{root}/partial/{slab_id}``: the saved checkpoints of an unfinished slab."""
    return Path(root) / PARTIAL / slab_id


def _checkpoints(workdir: Path) -> list[Path]:
    """The JSON files under ``workdir``, relative to it (GPAW text logs and optimiser logs are
    not needed to resume; hidden files are atomic writes in progress)."""
    files = (p.relative_to(workdir) for p in workdir.rglob("*.json") if p.is_file())
    return sorted(rel for rel in files if not any(part.startswith(".") for part in rel.parts))


def save_partial(root: str | Path, workdirs: dict[str, str | Path]) -> list[Path]:
    """Copy the checkpoints of every unfinished slab into ``{root}/partial/{slab_id}/``.

    ``workdirs``: ``{slab_id: its work directory}`` (``<results_dir>/dft/work/{slab_id}``);
    a slab with a shipped record is finished: its saved checkpoints are removed instead. Returns
    the files written or removed (what a commit must take); files saved unchanged are not, nor a
    file that is not JSON (logged).
    """
    changed: list[Path] = []
    for slab_id, workdir in sorted(workdirs.items()):
        dest = partial_dir(root, slab_id)
        if shipped_record(root, slab_id).exists():
            stale = sorted(p for p in dest.rglob("*") if p.is_file()) if dest.is_dir() else []
            for path in stale:
                path.unlink()
            for folder in sorted((p for p in dest.rglob("*") if p.is_dir()), reverse=True):
                folder.rmdir()  # deepest first: only the emptied folders are left
            if dest.is_dir():
                dest.rmdir()
            changed += stale
            continue
        workdir = Path(workdir)
        for rel in _checkpoints(workdir) if workdir.is_dir() else []:
            blob = (workdir / rel).read_bytes()
            try:
                json.loads(blob)
            except ValueError:  # checkpoints are written atomically: a torn one is no checkpoint
                log.warning("%s: not JSON, not saved", workdir / rel)
                continue
            target = dest / rel
            if target.is_file() and target.read_bytes() == blob:
                continue
            write_bytes(target, blob)
            changed.append(target)
    return changed


def restore_partial(root: str | Path, workdirs: dict[str, str | Path]) -> list[str]:
    """Copy the saved checkpoints of each slab of ``workdirs`` without a record into its work
    directory where the file is missing (a file already there is newer work and stays). Returns
    the slab ids that got files back."""
    restored = []
    for slab_id, workdir in sorted(workdirs.items()):
        src = partial_dir(root, slab_id)
        if shipped_record(root, slab_id).exists() or not src.is_dir():
            continue
        missing = [rel for rel in _checkpoints(src) if not (Path(workdir) / rel).exists()]
        for rel in missing:
            write_bytes(Path(workdir) / rel, (src / rel).read_bytes())
        if missing:
            restored.append(slab_id)
    return restored


def sha256(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def collect(root: str | Path, name: str) -> dict:
    """``{root}/{name}.extxyz`` (every shipped slab, by slab id) and ``{root}/SHA256SUMS``."""
    from ase.io import read

    root = Path(root)
    slabs = sorted((root / SLABS).glob("*.extxyz"))
    frames = [read(str(p), format="extxyz") for p in slabs]
    combined = root / f"{name}.extxyz"
    _write_extxyz(combined, frames)
    files = [combined, *sorted((root / RECORDS).glob("*.json")), *slabs]
    lines = [f"{sha256(p)}  {p.relative_to(root).as_posix()}" for p in files]
    write_text(root / CHECKSUMS, "\n".join(lines) + "\n")
    return {"slabs": len(frames), "records": len(files) - 1 - len(slabs), "file": str(combined)}


def check_sums(root: str | Path) -> list[str]:
    """Files of ``{root}/SHA256SUMS`` whose content no longer matches (or that are missing)."""
    root = Path(root)
    bad = []
    for line in (root / CHECKSUMS).read_text().splitlines():
        digest, rel = line.split(maxsplit=1)
        path = root / rel
        if not path.is_file() or sha256(path) != digest:
            bad.append(rel)
    return bad
