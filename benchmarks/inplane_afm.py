"""The in-plane antiferromagnetic start (``inplane_afm``) on the mini-study's pure Cr and Mn slabs.

Issue 21 item 2: every start but ``inplane_afm`` keeps a pure slab's in-plane symmetry, so GPAW
cannot reach an in-plane antiferromagnetic state from it. Each slab of ``--slabs`` (ids of
``presets/mini.yaml``'s recipe, read from a copy of its ``initial_slabs.db``) is labelled by the
production code (:func:`magmom.dft.label.label_slab_from_db`) with the mini settings and the
policy ``--policy`` (default ``floor+eos+inplane_afm``), one slab after the other, in ``--out``.
The CPU time of every start (``time.process_time`` of this process around the start's staged
relaxation and around its equal-settings single point; the CHGNet pre-relaxation, shared, counts
to the first start) is written beside the record (``{slab}.cpu.json``): the machine is shared, so
wall times say little. Prints per slab and start: final moments per layer (top layer first),
the energy at equal settings (ladder level 0's smearing width and criteria) relative to the
lowest start (meV per slab and per atom), SCF iterations (LCAO + plane wave + failed ladder
levels), the ladder level and the CPU time. ``--tables-from DIR`` prints the table of finished
records without running anything:

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/inplane_afm.py --db COPY.db --out DIR \\
        --slabs cr100-bcc-pure-v0 mn100-bcc-pure-v0
    .venv/bin/python benchmarks/inplane_afm.py --tables-from DIR
"""

from __future__ import annotations

import argparse
import functools
import json
import logging
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from magmom.dft import label  # noqa: E402
from magmom.io import write_json  # noqa: E402

SLABS = ("cr100-bcc-pure-v0", "mn100-bcc-pure-v0")


def load_config(configfiles) -> dict:
    """config.yaml overlaid with ``configfiles`` (schema-checked), as the workflow reads it."""
    from magmom.training.cli import load_config as load_workflow_config

    return load_workflow_config(ROOT / "config.yaml", list(configfiles))


def timed(cpu: dict, key: str, fn):
    """``fn`` that adds its CPU time to ``cpu[start name][key]`` (the start: its first argument
    with a ``name``, else the start directory's name)."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        name = next((a.name for a in args if hasattr(a, "magmoms")), None)
        if name is None:  # _equal_settings(run, dft, start_dir)
            name = Path(args[2]).name.removeprefix("start-")
        c0 = time.process_time()
        try:
            return fn(*args, **kwargs)
        finally:
            entry = cpu.setdefault(name, {})
            entry[key] = entry.get(key, 0.0) + time.process_time() - c0

    return wrapper


CPU: dict = {}
"""CPU seconds per start of the slab being labelled (filled by the wrapped label functions)."""


def run(slab_id: str, db: Path, out: Path, config: dict) -> None:
    cpu = CPU
    cpu.clear()
    settings = label.LabelSettings.of(config)
    c0 = time.process_time()
    label.label_slab_from_db(db, slab_id, settings, out / "work" / slab_id, out / f"{slab_id}.json")
    cpu["process"] = time.process_time() - c0
    write_json(out / f"{slab_id}.cpu.json", cpu)


def single_points(slab_id: str, db: Path, out: Path, config: dict, order) -> None:
    """Each start of the policy (in ``order``) as one plane-wave SCF at ladder level 0's
    settings (the equal-settings ladder, :func:`magmom.dft.equal_settings.equal_settings_ladder`)
    on the CHGNet-pre-relaxed geometry (the first ionic step of the label's plane-wave stage, no
    LCAO warm-up, no relaxation): ``{out}/{slab_id}.single-points.json``, rewritten after every
    start."""
    from magmom.dft import equal_settings, initial_moments
    from magmom.dft.scf_ladder import converge_single_point, ladder_from_config
    from magmom.dft.staged_relaxation import gpaw_parameters, prerelax_checkpointed

    settings = label.LabelSettings.of(config)
    dft = settings.dft
    atoms, _ = label.read_initial_slab(db, slab_id, settings.fixed_layers)
    work = out / "work" / slab_id
    work.mkdir(parents=True, exist_ok=True)
    geometry = prerelax_checkpointed(atoms, dft.prerelax, work).atoms
    base = gpaw_parameters(geometry, dft, True)["planewave"]["gpaw"]
    ladder = equal_settings.equal_settings_ladder(ladder_from_config(dft.scf_ladder))
    starts = {s.name: s for s in initial_moments.starts(atoms, dft.initial_moments)}
    path = out / f"{slab_id}.single-points.json"
    results = json.loads(path.read_text()) if path.exists() else {}
    for name in order:
        if name in results or name not in starts or starts[name].duplicate_of:
            continue
        trial = geometry.copy()
        trial.calc = None
        trial.set_initial_magnetic_moments(starts[name].magmoms)
        c0 = time.process_time()
        try:
            e, m, attempts = converge_single_point(
                trial, base, dft.planewave.smearing, ladder, str(work / f"sp-{name}")
            )
            entry = {"status": "ok", "energy": e, "magmoms": list(m), "attempts": attempts}
        except Exception as err:  # report it, go on with the next start
            entry = {"status": "failed", "reason": f"{type(err).__name__}: {err}"}
        entry["initial_magmoms"] = starts[name].magmoms.tolist()
        entry["cpu_time"] = time.process_time() - c0
        results[name] = entry
        write_json(path, results)


def layer_means(record: dict, magmoms) -> str:
    """Moments per layer, top first: each atom's sign, then the layer's mean."""
    tags = np.asarray(record["structure"]["tags"])
    out = []
    for t in sorted(set(tags.tolist())):
        m = np.asarray(magmoms)[tags == t]
        out.append("[" + " ".join(f"{x:+.2f}" for x in m) + "]")
    return " / ".join(out)


def table(out: Path) -> None:
    print(
        "| slab | start | final moments per layer, top first (μB) | ΔE equal settings "
        "(meV/slab) | (meV/atom) | SCF it. (LCAO+PW+failed) | level | CPU (min) |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for path in sorted(out.glob("*.json")):
        if path.name.endswith(".cpu.json"):
            continue
        rec = json.loads(path.read_text())
        cpu_path = path.with_name(path.stem + ".cpu.json")
        cpu = json.loads(cpu_path.read_text()) if cpu_path.exists() else {}
        starts = rec["initial_moments"]["starts"]
        e = {s: (p.get("equal_settings") or {}).get("energy") for s, p in starts.items()}
        low = min((v for v in e.values() if v is not None), default=None)
        n = len(rec["magmoms"]) if rec.get("magmoms") else None
        for name, part in starts.items():
            if part["status"] != "ok":
                print(f"| {rec['slab_id']} | {name} | {part['status']}: {part['reason']} |")
                continue
            de = None if e[name] is None or low is None else 1000 * (e[name] - low)
            it = part["scf_iterations"]
            c = cpu.get(name, {})
            minutes = (c.get("start", 0.0) + c.get("equal_settings", 0.0)) / 60
            print(
                f"| {rec['slab_id']} | {name} | {layer_means(rec, part['magmoms'])} | "
                f"{'—' if de is None else f'{de:+.1f}'} | "
                f"{'—' if de is None else f'{de / n:+.2f}'} | "
                f"{it.get('lcao', 0)}+{it.get('pw', 0)}+{it['failed_levels']} | "
                f"{part['ladder_level']} | {minutes:.1f} |"
            )
        im = rec["initial_moments"]
        print(
            f"<!-- {rec['slab_id']}: kept {im['kept']}, comparison {im['comparison']} "
            f"{im['comparison_reasons']} -->"
        )


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--db", type=Path, help="a copy of the mini recipe's initial_slabs.db")
    ap.add_argument("--out", type=Path, default=Path("inplane-afm"))
    ap.add_argument("--slabs", nargs="*", default=list(SLABS))
    ap.add_argument("--policy", default="floor+eos+inplane_afm")
    ap.add_argument("--configfile", nargs="*", default=[str(ROOT / "presets" / "mini.yaml")])
    ap.add_argument("--tables-from", type=Path)
    ap.add_argument(
        "--single-points",
        nargs="*",
        metavar="START",
        help="instead of the labels: these starts as level-0 single points (single_points)",
    )
    args = ap.parse_args(argv)
    if args.tables_from:
        table(args.tables_from)
        return
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    config = load_config(args.configfile)
    config["dft"]["initial_moments"] = args.policy
    args.out.mkdir(parents=True, exist_ok=True)
    if args.single_points:
        for slab_id in args.slabs:
            single_points(slab_id, args.db, args.out, config, args.single_points)
        return
    label._run_start = timed(CPU, "start", label._run_start)
    label._equal_settings = timed(CPU, "equal_settings", label._equal_settings)
    for slab_id in args.slabs:
        run(slab_id, args.db, args.out, config)
    table(args.out)


if __name__ == "__main__":
    main()
