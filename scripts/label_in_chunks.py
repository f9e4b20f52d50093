"""Label a preset's slabs in chunks and ship each finished record into ``data/`` as it comes.

Each chunk is one ordinary Snakemake run of rule ``dft_slab`` on the next ``--chunk`` slabs that
have no shipped record yet (``data/{dataset_name}/records/``; order: one slab of each family in
turn, slabs holding Cr, V or Mn alternating with the others, see :func:`pending`), so the
workflow's own resume applies (per-stage checkpoints, ``--rerun-incomplete``). After every chunk
the finished records are copied into ``data/{dataset_name}/`` (:mod:`magmom.data.shipped`: the
record JSON and an extxyz of the final structure with its moments), the status block of the
dataset's README is rewritten from the shipped records (:mod:`magmom.data.shipped_status`: counts
per family, facet, element and element group; cost per slab) and, with ``--commit``, all of it is
committed with the combined extxyz and the sums (those files only), so that a killed session
loses at most the chunk in progress.
Before the first chunk the shipped records are restored into ``<results_dir>/dft/``, so a fresh
clone never relabels a shipped slab, and so are the checkpoints saved of unfinished slabs
(``--save-partial`` when the workers are stopped: :func:`magmom.data.shipped.save_partial`), so
that a start which finished in an earlier session is not run again.

    # the recipe and initial structures (cheap), then 4 slabs at a time, 2 jobs side by side
    nice -n 19 .venv/bin/python scripts/label_in_chunks.py --configfile presets/mini.yaml \\
        --chunk 4 --chunks 10 --cores 2 --commit
    # or two workers, one slab at a time each (a slow slab does not hold the other core idle);
    # start the second once the first has built the recipe
    nice -n 19 .venv/bin/python scripts/label_in_chunks.py --chunk 1 --chunks 100 --cores 1 \\
        --commit --worker 1/2
    # only copy what a run made by hand finished; rebuild the combined file and checksums
    .venv/bin/python scripts/label_in_chunks.py --configfile presets/mini.yaml --chunks 0 --collect
    # after stopping the workers: keep (and commit) what the unfinished slabs had finished
    .venv/bin/python scripts/label_in_chunks.py --chunks 0 --save-partial --commit
"""

from __future__ import annotations

import argparse
import hashlib
import json
import subprocess
import sys
import time
from collections.abc import Sequence
from itertools import zip_longest
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from magmom.data import shipped, shipped_status  # noqa: E402
from magmom.dft.label import labelled_with  # noqa: E402
from magmom.dft.settings import DftSettings  # noqa: E402
from magmom.layout import Layout  # noqa: E402
from magmom.recipe.manifest import read_manifest  # noqa: E402
from magmom.training.cli import load_config  # noqa: E402

PRIORITY_ELEMENTS = ("Cr", "V", "Mn")
FIRST = ("fe100-bcc-pure-v0", "co100-hcp-pure-v0", "ni100-fcc-pure-v0")
"""Labelled before the rest: the pure ferromagnets on their natural facets, whose surface and
inner-layer moments are checked against published DFT (data/mini/README.md)."""


def _stable_rank(slab_id: str) -> str:
    return hashlib.sha256(slab_id.encode()).hexdigest()


def labelling_order(manifest) -> list[str]:
    """Every slab id, in an order whose every prefix is a sample of the recipe.

    First :data:`FIRST`, then round-robin over the composition types (one slab of each family
    in turn); within a family, slabs holding Cr, V or Mn alternate with the others (Cr/V/Mn
    first), each in the order of a SHA-256 of the slab id (stable, and not alphabetical: the
    manifest sorts by the first element). So a session that labels only the first few dozen
    slabs still covers every family, both kinds of slab and (over the rounds) the three facets.
    The order depends on the recipe only, so workers that split it (:func:`pending`) never
    take the same slab.
    """
    queues: dict[str, list[str]] = {}
    for family, rows in manifest.groupby("type", sort=False):
        hard, rest = [], []
        for r in rows.to_dict("records"):
            (hard if set(r["elements"].split()) & set(PRIORITY_ELEMENTS) else rest).append(
                r["slab_id"]
            )
        hard.sort(key=_stable_rank)
        rest.sort(key=_stable_rank)
        mixed = [s for pair in zip_longest(hard, rest) for s in pair if s is not None]
        queues[family] = mixed
    order = [s for s in FIRST if s in manifest["slab_id"].values]
    for row in zip_longest(*queues.values()):
        order.extend(s for s in row if s is not None and s not in order)
    return order


def pending(
    manifest, root: Path, worker: int = 0, workers: int = 1, defer: Sequence[str] = ()
) -> list[str]:
    """This worker's slab ids without a shipped record: every ``workers``-th slab of
    :func:`labelling_order`, starting at ``worker``; the ids of ``defer`` (slabs whose SCF is
    known to take hours) after all the others, in their order."""
    order = labelling_order(manifest)[worker::workers]
    order = [s for s in order if s not in defer] + [s for s in order if s in defer]
    return [s for s in order if not shipped.shipped_record(root, s).exists()]


def stale_records(root: Path, settings: DftSettings) -> list[str]:
    """Shipped GPAW records whose settings are not ``settings`` (:func:`labelled_with`)."""
    return [
        path.stem
        for path in sorted((root / shipped.RECORDS).glob("*.json"))
        if not labelled_with(json.loads(path.read_text()), settings)
    ]


MAX_FAILED_IN_A_ROW = 3
"""Failed records in a row that stop the labelling (DFT failures are recorded and shipped, but a
run of them is more likely a setup or code error than physics)."""


def _status(record: Path) -> str | None:
    try:
        return json.loads(record.read_text()).get("status")
    except (OSError, ValueError):
        return None


def git(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True)


def commit(paths: list[Path], message: str, attempts: int = 10) -> None:
    """Commit ``paths`` only (a removed path: its removal, when git tracks it); retried while
    another worker holds the index lock."""
    rel = [str(p.relative_to(ROOT)) for p in paths]
    gone = [r for r in rel if not (ROOT / r).exists()]
    if gone:
        tracked = set(git("ls-files", "--", *gone).stdout.split())
        rel = [r for r in rel if r not in gone or r in tracked]
    if not rel:
        return
    for attempt in range(attempts):
        add = git("add", "--", *rel)
        done = git("commit", "-m", message, "--", *rel) if not add.returncode else add
        if not done.returncode:
            return
        if "index.lock" not in add.stderr + done.stderr:
            break
        time.sleep(1 + attempt)
    print(f"warning: git commit failed: {add.stderr}{done.stderr}", flush=True)


def worker_split(text: str) -> tuple[int, int]:
    """``I/N`` -> (I-1, N): worker I of N, counted from 1."""
    try:
        i, n = (int(x) for x in text.split("/"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"--worker {text!r}: expected I/N, e.g. 1/2") from None
    if not 1 <= i <= n:
        raise argparse.ArgumentTypeError(f"--worker {text!r}: need 1 <= I <= N")
    return i - 1, n


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--configfile", default="presets/mini.yaml")
    ap.add_argument("--chunk", type=int, default=4, help="slabs per Snakemake run")
    ap.add_argument("--chunks", type=int, default=1, help="Snakemake runs (0: only ship)")
    ap.add_argument("--cores", type=int, default=2)
    ap.add_argument("--commit", action="store_true", help="git-commit each chunk's shipped files")
    ap.add_argument("--dry-run", action="store_true", help="snakemake -n: show the chunks' jobs")
    ap.add_argument("--collect", action="store_true", help="write the combined extxyz + sums")
    ap.add_argument(
        "--save-partial",
        action="store_true",
        help="at the end, copy the checkpoints of unfinished slabs into data/<name>/partial/",
    )
    ap.add_argument(
        "--worker",
        type=worker_split,
        default=(0, 1),
        metavar="I/N",
        help="run as worker I of N side by side (each takes every N-th slab of the order)",
    )
    ap.add_argument(
        "--defer",
        nargs="+",
        default=(),
        metavar="SLAB_ID",
        help="label these slabs (of this worker's share) after all the others",
    )
    args = ap.parse_args(argv)

    cfg = load_config(ROOT / "config.yaml", [ROOT / args.configfile])
    if cfg["labeller"] != "gpaw":
        raise SystemExit(f"{args.configfile}: labeller is {cfg['labeller']!r}, not gpaw")
    paths = Layout.of(cfg)
    root = shipped.shipped_root(cfg["dataset_name"], ROOT)
    snakemake = [sys.executable, "-m", "snakemake", "--configfile", args.configfile]
    if args.dry_run:
        snakemake.insert(3, "-n")
    manifest_path = ROOT / paths.recipe_manifest()
    if not manifest_path.is_file():
        subprocess.run(
            [*snakemake[:3], paths.initial_slabs(), *snakemake[3:], "--cores", "1"],
            cwd=ROOT,
            check=True,
        )
    stale = stale_records(root, DftSettings.from_config(cfg["dft"]))
    if stale:
        raise SystemExit(
            f"{root}: {len(stale)} shipped record(s) were labelled with other settings than "
            f"{args.configfile} ({', '.join(stale[:5])}{', ...' if len(stale) > 5 else ''}). "
            "One dataset has one set of settings: relabel them by removing "
            f"{shipped.shipped_record(root, '<slab_id>').relative_to(ROOT)}, "
            f"{shipped.shipped_slab(root, '<slab_id>').relative_to(ROOT)} and "
            f"{paths.dft_record('<slab_id>')} (git rm the shipped ones), or restore the settings."
        )
    restored = shipped.restore_records(root, ROOT / Path(paths.dft_record("x")).parent)
    if restored:
        print(f"restored {len(restored)} shipped record(s) into {paths.dft_record('*')}")
    manifest = read_manifest(manifest_path)
    workdirs = {s: ROOT / paths.dft_workdir(s) for s in manifest["slab_id"]}
    resumed = shipped.restore_partial(root, workdirs)
    if resumed:
        print(f"restored the saved checkpoints of {len(resumed)} unfinished slab(s): {resumed}")

    failed_in_a_row = 0
    failed_records = 0
    for k in range(args.chunks + 1):
        records = [ROOT / paths.dft_record(s) for s in manifest["slab_id"]]
        done = shipped.export_records(records, root)
        changed = [*done["new"], *done["updated"]]
        print(
            f"shipped to {root}: {len(changed)} new or updated record(s); "
            f"{len(done['missing'])} slab(s) not labelled yet",
            flush=True,
        )
        if changed:  # the combined file, the sums and the README's counts follow every record
            collected = shipped.collect(root, cfg["dataset_name"])
            shipped_status.update_readme(root)
        # a finished slab's saved checkpoints go with its record
        pruned = shipped.save_partial(root, {s: workdirs[s] for s in changed})
        if args.commit and changed:
            files = [shipped.shipped_record(root, s) for s in changed]
            files += [shipped.shipped_slab(root, s) for s in changed]
            files += [Path(collected["file"]), root / shipped.CHECKSUMS, *pruned]
            files.append(root / shipped.README)
            commit(  # a removed checkpoint is committed as a removal; a failed slab has no extxyz
                files,
                f"{cfg['dataset_name']} labels: {len(changed)} slab(s) ({', '.join(changed[:4])}"
                f"{', ...' if len(changed) > 4 else ''})",
            )
        if k == args.chunks:
            break
        mine = pending(manifest, root, *args.worker, defer=args.defer)
        todo = mine[k * args.chunk : (k + 1) * args.chunk] if args.dry_run else mine[: args.chunk]
        if not todo:
            print("every slab of the recipe has a shipped record")
            break
        print(f"chunk {k + 1}/{args.chunks}: {' '.join(todo)}", flush=True)
        targets = [paths.dft_record(s) for s in todo]
        run = subprocess.run(
            [*snakemake[:3], *targets, *snakemake[3:], "--cores", str(args.cores)], cwd=ROOT
        )
        outcomes = [_status(ROOT / paths.dft_record(s)) for s in todo]
        failed_records = failed_records + len(todo) if set(outcomes) == {"failed"} else 0
        if failed_records >= MAX_FAILED_IN_A_ROW:
            raise SystemExit(
                f"the last {failed_records} slabs all failed (last: {todo[-1]}, "
                f"{paths.dft_record(todo[-1])}): stopping before a setup or code error fails "
                "the whole recipe; read the records' reasons"
            )
        if run.returncode:
            # e.g. the other worker's run holds the lock of the recipe it is rebuilding: wait
            # instead of spinning through the chunks
            failed_in_a_row += 1
            wait = min(600, 30 * 2**failed_in_a_row)
            print(
                f"snakemake returned {run.returncode}; shipping what finished, "
                f"next chunk in {wait} s",
                flush=True,
            )
            time.sleep(wait)
        else:
            failed_in_a_row = 0
    failed_records = 0
    if args.collect:
        out = shipped.collect(root, cfg["dataset_name"])
        readme = shipped_status.update_readme(root)
        print(
            f"{out['file']}: {out['slabs']} slab(s); {out['records']} record(s); SHA256SUMS"
            + (f"; the status block of {readme}" if readme else "")
        )
    if args.save_partial:
        saved = shipped.save_partial(root, workdirs)
        slabs = sorted({p.relative_to(root / shipped.PARTIAL).parts[0] for p in saved})
        print(f"saved the checkpoints of {len(slabs)} unfinished slab(s): {slabs}")
        if args.commit:
            commit(saved, f"{cfg['dataset_name']}: checkpoints of unfinished slabs {slabs}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
