"""List or delete the training state a ``train`` job set aside (``models/<id>/set-aside/<time>/``).

A training job never deletes an earlier run it cannot continue: it moves it to
``<results_dir>/models/<model_id>/set-aside/<UTC time>/`` and logs why (:func:`set_aside`,
called by :meth:`magmom.training.trainer.Trainer.start`). Those folders are the user's to inspect
and remove; this command does both::

    python -m magmom.training.set_aside results/demo                  # list, with sizes
    python -m magmom.training.set_aside results/demo --delete         # delete them all
    python -m magmom.training.set_aside results/demo --delete --older-than 7   # days

Only folders under ``models/*/set-aside/`` are touched.
"""

from __future__ import annotations

import argparse
import logging
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

SET_ASIDE = "set-aside"
"""Where earlier training state goes when a run cannot continue it (renamed, never deleted)."""


def set_aside(out_dir: Path, paths, model_id: str, reason: str) -> Path | None:
    """Move those of ``paths`` that exist (a model directory's ``best.pt``, ``last.pt``,
    ``history.csv``) into ``{out_dir}/set-aside/<UTC time>/`` (renamed, not deleted) and log
    why; the set-aside folder, or None when there was nothing to move."""
    present = [p for p in paths if p.exists()]
    if not present:
        return None
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    folder = out_dir / SET_ASIDE / stamp
    n = 1
    while folder.exists():
        n += 1
        folder = out_dir / SET_ASIDE / f"{stamp}-{n}"
    folder.mkdir(parents=True)
    for path in present:
        path.rename(folder / path.name)
    log.warning(
        "%s: starting from scratch; earlier training state (%s) set aside in %s because %s",
        model_id,
        ", ".join(p.name for p in present),
        folder,
        reason,
    )
    return folder


@dataclass(frozen=True)
class SetAside:
    model_id: str
    path: Path
    bytes: int
    age_days: float


def find(results_dir: str | Path) -> list[SetAside]:
    """Every set-aside folder of ``results_dir``, oldest first."""
    now = time.time()
    out = []
    for folder in Path(results_dir).glob(f"models/*/{SET_ASIDE}/*"):
        if folder.is_dir():
            size = sum(f.stat().st_size for f in folder.rglob("*") if f.is_file())
            age = (now - folder.stat().st_mtime) / 86400
            out.append(SetAside(folder.parent.parent.name, folder, size, age))
    return sorted(out, key=lambda s: -s.age_days)


def delete(entries: list[SetAside]) -> int:
    """Delete ``entries`` (and a ``set-aside`` folder left empty); the bytes freed."""
    freed = 0
    for entry in entries:
        shutil.rmtree(entry.path)
        freed += entry.bytes
        parent = entry.path.parent
        if parent.name == SET_ASIDE and not any(parent.iterdir()):
            parent.rmdir()
    return freed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("results_dir", help="a configuration's results_dir, e.g. results/demo")
    parser.add_argument("--delete", action="store_true", help="delete instead of listing")
    parser.add_argument("--older-than", type=float, default=0.0, metavar="DAYS")
    args = parser.parse_args(argv)
    if not Path(args.results_dir, "models").is_dir():
        print(f"{args.results_dir}: no models/ folder (is it a results_dir?)", file=sys.stderr)
        return 2
    entries = [e for e in find(args.results_dir) if e.age_days >= args.older_than]
    for e in entries:
        print(f"{e.bytes / 1e6:9.1f} MB  {e.age_days:6.1f} d  {e.path}")
    total = sum(e.bytes for e in entries) / 1e6
    if args.delete:
        delete(entries)
        print(f"deleted {len(entries)} set-aside folder(s), {total:.1f} MB")
    else:
        print(f"{len(entries)} set-aside folder(s), {total:.1f} MB (--delete removes them)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
