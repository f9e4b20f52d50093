"""Cheap DFT settings against the study's: per-atom moments of the mini preset's slabs (issue 20).

For each slab of ``SLABS`` (ids of ``presets/mini.yaml``'s recipe, read from its
``<results_dir>/recipe/initial_slabs.db``; build it first with
``snakemake results/mini/recipe/initial_slabs.db --configfile presets/mini.yaml``) the production
code path runs, once per slab: the CHGNet pre-relaxation (:func:`magmom.dft.prerelax.prerelax`,
config ``dft.prerelax``), then, at that one geometry and from one start (``--start``, default the
``floor`` start of :mod:`magmom.dft.initial_moments`), a GPAW single point per setting of
``--settings`` through :func:`magmom.dft.scf_ladder.converge_single_point` with the base parameters
of :func:`magmom.dft.gpaw_params.planewave_params` / :func:`~magmom.dft.gpaw_params.lcao_params`
(RPBE, spin polarisation, Marzari–Vanderbilt 0.1 eV, dipole layer, the config's SCF ladder). A
setting changes only what its row of ``SETTINGS`` names:

================== =====================================================================
setting            what differs from the study (config.yaml ``dft.planewave``)
================== =====================================================================
``pw350-k3.5``     nothing: the reference (350 eV, 3.5 Å⁻¹ Monkhorst–Pack, 10 Å vacuum)
``pw250-k2.5``     plane waves 250 eV, 2.5 Å⁻¹
``pw250-k2.5-v6``  the same, and 6 Å of vacuum on each side instead of 10 (atoms not moved)
``pw250-k3.5``     plane waves 250 eV
``pw250-k3.5-v6``  plane waves 250 eV and 6 Å of vacuum on each side
``pw300-k2.5``     plane waves 300 eV, 2.5 Å⁻¹
``lcao-dzp``       LCAO, dzp basis, grid spacing 0.2 Å, 3.5 Å⁻¹
``lcao-szp``       LCAO, sz(dzp) basis (the labeller's warm-up), 0.2 Å, 3.5 Å⁻¹
================== =====================================================================

Every finished single point is written at once to ``--results`` (default
``data/mini/settings-check/dft_settings.json``, atomic write) and, with ``--commit``, committed to
git (that file only), so a killed run loses at most the single point in progress; a rerun skips what
the file holds. Slabs run in ``SLABS`` order (Cr, V, Mn and one per family first), each slab's
settings in ``--settings`` order (cheap candidates first, the reference last). Prints per setting
against the reference: per-element MAE and max |Δm| (μB), SCF iterations (failed ladder levels
included) and wall time. ``--table`` prints the tables of the results file without running.

Not run in CI. Measured on the 12-atom Cr(110) slab, one thread: 206 CPU s (68 SCF iterations,
4 irreducible k-points) at 250 eV / 2.5 Å⁻¹, 146 s with 6 Å of vacuum, 594 s (85 iterations,
6 k-points) at the study's settings; wall times 2-10x longer on the shared machine.
Run on one core, in the background:

    OMP_NUM_THREADS=1 nice -n 19 .venv/bin/python benchmarks/dft_settings.py --commit
    .venv/bin/python benchmarks/dft_settings.py --table
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from magmom.dft import initial_moments  # noqa: E402
from magmom.dft.gpaw_params import lcao_params, parameters_sha256, planewave_params  # noqa: E402
from magmom.dft.label import read_initial_slab  # noqa: E402
from magmom.dft.parallel import n_ibz_kpoints  # noqa: E402
from magmom.dft.prerelax import prerelax  # noqa: E402
from magmom.dft.record import atoms_from_structure, structure_dict, versions  # noqa: E402
from magmom.dft.scf_ladder import (  # noqa: E402
    SinglePointFailed,
    converge_single_point,
    ladder_from_config,
)
from magmom.dft.settings import DftSettings  # noqa: E402
from magmom.elements import is_spin_polarised  # noqa: E402
from magmom.io import write_json  # noqa: E402
from magmom.layout import Layout  # noqa: E402

REFERENCE = "pw350-k3.5"
# name: overrides of dft.planewave / dft.lcao, mode, vacuum per side (None: the recipe's)
SETTINGS: dict[str, dict] = {
    "pw350-k3.5": {"mode": "pw", "planewave": {"ecut": 350.0, "kpt_density": 3.5}},
    "pw250-k2.5": {"mode": "pw", "planewave": {"ecut": 250.0, "kpt_density": 2.5}},
    "pw250-k2.5-v6": {
        "mode": "pw",
        "planewave": {"ecut": 250.0, "kpt_density": 2.5},
        "vacuum": 6.0,
    },
    "pw250-k3.5": {"mode": "pw", "planewave": {"ecut": 250.0, "kpt_density": 3.5}},
    "pw250-k3.5-v6": {
        "mode": "pw",
        "planewave": {"ecut": 250.0, "kpt_density": 3.5},
        "vacuum": 6.0,
    },
    "pw300-k2.5": {"mode": "pw", "planewave": {"ecut": 300.0, "kpt_density": 2.5}},
    "lcao-dzp": {"mode": "lcao", "lcao": {"basis": "dzp", "h": 0.2}},
    "lcao-szp": {"mode": "lcao", "lcao": {"basis": "sz(dzp)", "h": 0.2}},
}
DEFAULT_SETTINGS = ("pw250-k2.5", "pw250-k2.5-v6", "pw250-k3.5", REFERENCE)

# 12-atom slabs first (Cr, V, Mn and one per family), then more of each, then the 16-atom
# prototypes; ids of presets/mini.yaml's recipe (seed 42).
SLABS = (
    "cr100-bcc-pure-v0",
    "cr022-fe045-os033-bcc-random-v1",  # ternary, Cr + Fe
    "re012-v088-bcc-random-v3",  # binary, V
    "mn092-ru008-bcc-dilute_1_sub-v0",  # dilute_1, Mn host
    "co039-cr022-mn016-zn023-hcp-random-v0",  # quaternary, hcp, Cr + Mn + Co
    "cr027-cu009-mn011-ni017-pd017-v019-bcc-random-v0",  # senary, Cr + Mn + V + Ni
    "al023-co011-fe022-v020-zn023-bcc-random-v0",  # quinary, V + Fe + Co
    "fe083-ti017-bcc-dilute_2_nn_top-v0",  # dilute_2, Fe
    "mn036-ni050-pd014-fcc-random-v2",  # ternary, fcc, Mn + Ni
    "co025-cu075-fcc-random-v0",  # binary, fcc, Co
    "v100-bcc-pure-v0",
    "ni100-fcc-pure-v0",
    "co100-hcp-pure-v0",
    "mn100-bcc-pure-v0",
    "cr050-ru050-bcc-b2_ba-v0",  # binary prototype (16 atoms)
    "cu025-mn025-ni050-fcc-heusler_l21-v0",  # Heusler (16 atoms)
)


def load_config(configfiles) -> dict:
    """config.yaml overlaid with ``configfiles`` (schema-checked), as the workflow reads it."""
    from magmom.training.cli import load_config as load_workflow_config

    return load_workflow_config(ROOT / "config.yaml", list(configfiles))


def setting_base(name: str, dft: DftSettings, atoms, spinpol: bool) -> tuple[dict, object]:
    """GPAW base parameters of setting ``name`` and the atoms it runs on (vacuum changed)."""
    spec = SETTINGS[name]
    pw = dataclasses.replace(dft.planewave, **spec.get("planewave", {}))
    work = atoms.copy()
    if spec.get("vacuum") is not None:
        work.center(vacuum=float(spec["vacuum"]), axis=2)
    if spec["mode"] == "pw":
        return planewave_params(pw, work, spinpol), work
    if dft.lcao is None:
        raise ValueError(f"setting {name!r} needs dft.lcao, which this config sets to null")
    lcao = dataclasses.replace(dft.lcao, **spec.get("lcao", {}))
    return lcao_params(lcao, pw, work, spinpol), work


def read_results(path: Path) -> dict:
    if path.is_file():
        return json.loads(path.read_text())
    return {"about": __doc__.split("\n\n")[0], "reference": REFERENCE, "slabs": {}}


def save_slab(path: Path, slab_id: str, entry: dict) -> None:
    """Write ``entry`` as slab ``slab_id`` of the results file, merged under a lock with what other
    processes (other slabs) wrote since: several runs of this script may share one file."""
    import fcntl

    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_suffix(".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        results = read_results(path)
        results.setdefault("versions", versions())
        results["slabs"][slab_id] = entry
        write_json(path, results)


def commit(path: Path, message: str) -> None:
    """``git commit`` of ``path`` alone (retried: another git command may hold the index lock)."""
    for attempt in range(5):
        add = subprocess.run(["git", "add", str(path)], cwd=ROOT, capture_output=True, text=True)
        run = subprocess.run(
            ["git", "commit", "-m", message, "--", str(path)],
            cwd=ROOT,
            capture_output=True,
            text=True,
        )
        if add.returncode == 0 and run.returncode == 0:
            return
        if "ignored by one of your .gitignore" in add.stderr:
            break
        time.sleep(5 * (attempt + 1))
    print(f"warning: could not commit {path}: {run.stderr.strip()}", flush=True)


def prepare_slab(slab_id: str, cfg: dict, start_name: str) -> dict:
    """The slab's entry: metadata, CHGNet-prerelaxed structure, the start's moments."""
    db = ROOT / Layout.of(cfg).initial_slabs()
    atoms, meta = read_initial_slab(db, slab_id, int(cfg["recipe"]["fixed_layers"]))
    pre = prerelax(atoms, DftSettings.from_config(cfg["dft"]).prerelax)
    spinpol = is_spin_polarised(atoms.get_chemical_symbols())
    if spinpol:
        starts = initial_moments.starts(pre.atoms, cfg["dft"]["initial_moments"])
        by_name = {s.name: s for s in starts}
        if start_name not in by_name:
            by_name.update({s.name: s for s in initial_moments.starts(pre.atoms, start_name)})
        start = by_name[start_name].magmoms
    else:
        start = np.zeros(len(atoms))
    return {
        "meta": meta,
        "symbols": atoms.get_chemical_symbols(),
        "spinpol": spinpol,
        "prerelax": {
            "model": pre.model,
            "steps": pre.steps,
            "converged": pre.converged,
            "max_force": pre.max_force,
            "wall_time": pre.wall_time,
        },
        "structure": structure_dict(pre.atoms),
        "start": start_name if spinpol else "none",
        "initial_magmoms": np.asarray(start, dtype=float).tolist(),
        "settings": {},
    }


def run_setting(name: str, entry: dict, cfg: dict, workdir: Path) -> dict:
    atoms = atoms_from_structure(entry["structure"])
    atoms.set_initial_magnetic_moments(entry["initial_magmoms"])
    base, work = setting_base(name, DftSettings.from_config(cfg["dft"]), atoms, entry["spinpol"])
    ladder = ladder_from_config(cfg["dft"]["scf_ladder"])
    smearing = cfg["dft"]["planewave"]["smearing"]
    workdir.mkdir(parents=True, exist_ok=True)
    out = {"parameters": base, "parameters_sha256": parameters_sha256(base)}
    out["cell_z"] = float(work.cell[2, 2])
    if base["spinpol"]:
        work.set_initial_magnetic_moments(entry["initial_magmoms"])
    out["n_ibz_kpoints"] = n_ibz_kpoints(work, base["kpts"], base["spinpol"])
    t0, c0 = time.perf_counter(), time.process_time()
    try:
        energy, moments, attempts = converge_single_point(
            work, base, smearing, ladder, str(workdir / name)
        )
        out.update(status="ok", energy=energy, magmoms=moments)
    except SinglePointFailed as err:
        attempts = err.attempts
        out.update(status="failed", reason=str(err), energy=None, magmoms=None)
    out["attempts"] = attempts
    out["scf_iterations"] = int(sum(a.get("scf_iterations", 0) or 0 for a in attempts))
    out["ladder_level"] = attempts[-1]["level"] if attempts else None
    out["wall_time"] = time.perf_counter() - t0
    out["cpu_time"] = time.process_time() - c0  # the machine is shared: CPU time is the cost
    return out


# ---- tables ---------------------------------------------------------------------------------
def compare(results: dict) -> tuple[dict, dict]:
    """Per setting: per-element |Δm| lists against the reference, and the cost per slab."""
    dm: dict[str, dict[str, list[float]]] = {}
    cost: dict[str, list[tuple[str, int, float, int]]] = {}
    for slab_id, entry in results["slabs"].items():
        ref = entry["settings"].get(REFERENCE)
        for name, res in entry["settings"].items():
            cost.setdefault(name, []).append(
                (slab_id, res["scf_iterations"], res["wall_time"], res.get("cpu_time", np.nan))
            )
            if name == REFERENCE or res["status"] != "ok" or not ref or ref["status"] != "ok":
                continue
            d = np.abs(np.asarray(res["magmoms"]) - np.asarray(ref["magmoms"]))
            for sym, x in zip(entry["symbols"], d, strict=True):
                dm.setdefault(name, {}).setdefault(sym, []).append(float(x))
    return dm, cost


def print_tables(results: dict) -> None:
    dm, cost = compare(results)
    n_ref = sum(
        1
        for e in results["slabs"].values()
        if e["settings"].get(REFERENCE, {}).get("status") == "ok"
    )
    print(f"\nmoments against {REFERENCE} ({n_ref} slabs with a reference); |Δm| in μB")
    for name, per_el in dm.items():
        allv = [x for v in per_el.values() for x in v]
        print(f"\n{name}: {len(allv)} atoms, MAE {np.mean(allv):.4f}, max |Δm| {np.max(allv):.4f}")
        print(f"  {'element':<8}{'atoms':>6}{'MAE':>9}{'max':>9}")
        for sym in sorted(per_el):
            v = per_el[sym]
            print(f"  {sym:<8}{len(v):>6}{np.mean(v):>9.4f}{np.max(v):>9.4f}")
    print("\ncost per setting: SCF iterations (failed ladder levels included), CPU time of the one")
    print("process (one thread; the machine is shared, so wall time overstates the cost)")
    head = f"  {'setting':<16}{'runs':>5}{'SCF median':>11}{'CPU median (s)':>15}{'CPU s/iter':>11}"
    print(head + f"{'wall median (s)':>16}")
    for name, rows in cost.items():
        it = [r[1] for r in rows]
        cpu = [r[3] for r in rows]
        per = [r[3] / max(r[1], 1) for r in rows]
        print(
            f"  {name:<16}{len(rows):>5}{np.median(it):>11.0f}{np.median(cpu):>15.0f}"
            f"{np.median(per):>11.1f}{np.median([r[2] for r in rows]):>16.0f}"
        )
    print("\nper slab: SCF iterations / CPU time (s) / total moment (μB) per setting")
    for slab_id, entry in results["slabs"].items():
        cells = []
        for name, res in entry["settings"].items():
            tot = f"{sum(res['magmoms']):+.2f}" if res["status"] == "ok" else res["status"]
            cpu = res.get("cpu_time", float("nan"))
            cells.append(f"{name} {res['scf_iterations']}/{cpu:.0f}/{tot}")
        print(f"  {slab_id}: " + "; ".join(cells))


def markdown_table(results: dict, name: str) -> str:
    """Per-element MAE / max |Δm| of setting ``name`` against the reference, as a Markdown table
    (elements as columns), with the slab and atom counts and the median CPU time ratio."""
    dm, cost = compare(results)
    per_el = dm.get(name, {})
    if not per_el:
        return f"no slab has both {name} and {REFERENCE}"
    els = sorted(per_el)
    allv = [x for v in per_el.values() for x in v]
    pairs = [
        (e["settings"][name]["cpu_time"], e["settings"][REFERENCE]["cpu_time"])
        for e in results["slabs"].values()
        if e["settings"].get(name, {}).get("status") == "ok"
        and e["settings"].get(REFERENCE, {}).get("status") == "ok"
    ]
    ratio = float(np.median([a / b for a, b in pairs]))
    lines = [
        "| | all | " + " | ".join(els) + " |",
        "|---|---:|" + "---:|" * len(els),
        f"| atoms | {len(allv)} | " + " | ".join(str(len(per_el[e])) for e in els) + " |",
        f"| MAE (μB) | {np.mean(allv):.4f} | "
        + " | ".join(f"{np.mean(per_el[e]):.4f}" for e in els)
        + " |",
        f"| max abs Δm (μB) | {np.max(allv):.4f} | "
        + " | ".join(f"{np.max(per_el[e]):.4f}" for e in els)
        + " |",
    ]
    return "\n".join(lines) + (
        f"\n\n{len(pairs)} slabs; CPU time of {name} / {REFERENCE}: median {ratio:.2f}"
    )


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--configfile", nargs="*", default=[str(ROOT / "presets" / "mini.yaml")])
    ap.add_argument("--results", default=str(ROOT / "data/mini/settings-check/dft_settings.json"))
    ap.add_argument("--work", default=None, help="GPAW text logs (default: a temporary dir)")
    ap.add_argument("--slabs", nargs="*", default=list(SLABS))
    ap.add_argument("--settings", nargs="+", default=list(DEFAULT_SETTINGS), choices=SETTINGS)
    ap.add_argument("--start", default="floor", choices=("floor", "eos", "afm"))
    ap.add_argument("--commit", action="store_true", help="git-commit the results file")
    ap.add_argument("--table", action="store_true", help="print the tables and exit")
    ap.add_argument("--markdown", metavar="SETTING", help="print SETTING's Markdown table, exit")
    args = ap.parse_args(argv)
    path = Path(args.results)
    results = read_results(path)
    if args.markdown:
        print(markdown_table(results, args.markdown))
        return 0
    if args.table:
        print_tables(results)
        return 0
    logging.basicConfig(level=logging.WARNING)
    cfg = load_config(args.configfile)
    work = Path(args.work or tempfile.mkdtemp(prefix="dft-settings-"))
    for slab_id in args.slabs:
        entry = results["slabs"].get(slab_id)
        if entry is None:
            entry = prepare_slab(slab_id, cfg, args.start)
            save_slab(path, slab_id, entry)
        for name in args.settings:
            if name in entry["settings"]:
                continue
            print(f"{slab_id}: {name} ...", flush=True)
            res = run_setting(name, entry, cfg, work / slab_id)
            entry["settings"][name] = res
            save_slab(path, slab_id, entry)
            print(
                f"{slab_id}: {name} {res['status']}, {res['scf_iterations']} SCF iterations, "
                f"{res['wall_time']:.0f} s, total moment "
                f"{sum(res['magmoms']) if res['magmoms'] else float('nan'):+.3f} μB",
                flush=True,
            )
            if args.commit:
                commit(path, f"dft_settings benchmark: {slab_id} at {name}")
    print_tables(read_results(path))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
