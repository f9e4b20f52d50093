"""Density mixers for the first SCF ladder level, on the mini preset's slabs (issue 20).

With the study's ladder, two slabs of the mini recipe, V(110) and Al-Cr-Mn-Rh(110), did not
converge at the first level (Pulay, β 0.05, history 5, metric weight 50; 150 iterations): the total
moment of their ``floor`` start wandered between 3.7 and 9.4 μB with the density residual stuck
near 10⁻²·⁴, and the second level did no better. 164 of the 309 slabs hold Cr, V or Mn, so this
decides what the labels cost; ``presets/mini.yaml``'s ladder (MSR1, then Pulay) follows from it
(``data/mini/README.md``, "The SCF mixer").

For each slab of ``--slabs`` (ids of ``presets/mini.yaml``'s recipe, prepared as
``benchmarks/dft_settings.py`` does: CHGNet pre-relaxation, one start) and each mixer of
``--mixers``, one GPAW single point at the mini preset's settings and first ladder level, with
the mixer chosen (:data:`MIXERS`, with ``dft.scf_ladder[0]``'s smearing, criteria and ``maxiter``;
one level, no fallback, so a failure shows as ``failed`` after ``maxiter`` iterations):

==================== ============================================================================
mixer                level 0 with
==================== ============================================================================
``pulay``            the study's Pulay 0.05 / 5 / 50 (β, history, metric weight)
``msr1``             GPAW 26.7's default mixer, MSR1 0.05 / 10 / 20
``pulay-gpaw``       new GPAW's Pulay defaults 0.08 / 16 / 20
``pulay-dif``        Pulay 0.05 / 5 / 50 on n↑+n↓, a second Pulay 0.05 / 5 / 1 on n↑−n↓
``msr1-dif``         MSR1 0.05 / 10 / 20 on n↑+n↓, a second MSR1 0.05 / 10 / 1 on n↑−n↓
==================== ============================================================================

Every finished single point is written at once to ``--results`` (default
``data/mini/settings-check/scf_mixer.json``, atomic, merged under a lock so that two runs may share
it) and, with ``--commit``, committed. Prints per slab and mixer: status, SCF iterations, CPU time,
total moment, and against ``pulay`` where both converged the energy difference and max |Δm| (the
same state or not); then the SCF iterations of the first two ladder levels in either order.
``--table`` prints without running. Not run in CI. Run on one core, in the background:

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/scf_mixer.py --slabs v100-bcc-pure-v0 \\
        --mixers msr1 pulay-dif --work /tmp/mixer --commit
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.dft_settings import (  # noqa: E402
    commit,
    load_config,
    prepare_slab,
    read_results,
    save_slab,
    setting_base,
)
from magmom.dft.parallel import n_ibz_kpoints  # noqa: E402
from magmom.dft.record import atoms_from_structure  # noqa: E402
from magmom.dft.scf_ladder import (  # noqa: E402
    SinglePointFailed,
    converge_single_point,
    ladder_from_config,
)
from magmom.dft.settings import DftSettings  # noqa: E402
from magmom.io import write_json  # noqa: E402

REFERENCE = "pulay"
MINI_SETTING = "pw250-k3.5-v6"
"""The row of ``benchmarks/dft_settings.py`` that is the mini preset's plane-wave setting: a slab
that the settings check ran takes its structure, start and result there (the first ladder level,
where it converged) as ``pulay``, so only the other mixers are run."""
MIXERS: dict[str, dict] = {
    "pulay": {"mixer": "pulay"},
    "msr1": {"mixer": "msr1"},
    "pulay-gpaw": {"mixer": "pulay", "beta": 0.08, "nmaxold": 16, "weight": 20.0},
    "pulay-dif": {"mixer": "pulay", "magnetisation": {"weight": 1.0}},
    "msr1-dif": {"mixer": "msr1", "magnetisation": {"weight": 1.0}},
}
SLABS = ("v100-bcc-pure-v0", "al019-cr031-mn030-rh020-bcc-random-v0")


def first_level(cfg: dict, name: str) -> list:
    """The config's first ladder level (its smearing and criteria) with mixer ``name``, as a
    one-level ladder."""
    level = {
        k: v
        for k, v in cfg["dft"]["scf_ladder"][0].items()
        if k not in ("mixer", "beta", "nmaxold", "weight", "magnetisation")
    }
    return ladder_from_config([{**level, **MIXERS[name]}])


def run_mixer(name: str, entry: dict, cfg: dict, workdir: Path) -> dict:
    atoms = atoms_from_structure(entry["structure"])
    dft = DftSettings.from_config(cfg["dft"])
    base, atoms = setting_base(MINI_SETTING, dft, atoms, entry["spinpol"])
    if entry["spinpol"]:
        atoms.set_initial_magnetic_moments(entry["initial_magmoms"])
    ladder = first_level(cfg, name)
    workdir.mkdir(parents=True, exist_ok=True)
    out = {"level": ladder[0].describe(), "n_ibz_kpoints": n_ibz_kpoints(atoms, base["kpts"], True)}
    t0, c0 = time.perf_counter(), time.process_time()
    try:
        energy, moments, attempts = converge_single_point(
            atoms, base, cfg["dft"]["planewave"]["smearing"], ladder, str(workdir / name)
        )
        out.update(status="ok", energy=energy, magmoms=moments)
    except SinglePointFailed as err:
        attempts = err.attempts
        out.update(status="failed", energy=None, magmoms=None)
    out["attempts"] = attempts
    last = attempts[-1] if attempts else {}  # a failed level ran its maxiter
    out["scf_iterations"] = int(last.get("scf_iterations") or (ladder[0].maxiter if last else 0))
    out["wall_time"] = time.perf_counter() - t0
    out["cpu_time"] = time.process_time() - c0
    return out


def settings_check_entry(slab_id: str, start: str) -> dict | None:
    """The slab's entry in the settings check (``data/mini/settings-check/dft_settings.json``)
    if it ran this start there."""
    entry = read_results(ROOT / "data/mini/settings-check/dft_settings.json")["slabs"].get(slab_id)
    return entry if entry and entry["start"] == start else None


def _converged_with_pulay(result: dict) -> bool:
    """Whether a settings-check single point converged on its first attempt with plain Pulay
    (the mini ladder's first level when the settings check ran)."""
    first = result["attempts"][0]
    return len(result["attempts"]) == 1 and first["gpaw"]["mixer"]["name"] == "pulay"


def save_result(path: Path, slab_id: str, name: str, res: dict) -> None:
    """Add mixer ``name``'s result to slab ``slab_id`` of the results file, under its lock."""
    import fcntl

    with open(path.with_suffix(".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        results = json.loads(path.read_text())
        results["slabs"][slab_id]["mixers"][name] = res
        write_json(path, results)


def print_tables(results: dict) -> None:
    print(f"\nfirst ladder level per mixer; ΔE, max |Δm| against {REFERENCE} where both converged")
    print(f"  {'slab':<48}{'mixer':<12}{'status':<8}{'SCF':>5}{'CPU s':>8}{'M (μB)':>9}", end="")
    print(f"{'ΔE (meV)':>10}{'max|Δm|':>9}")
    per_mixer: dict[str, list] = {}
    for slab_id, entry in results["slabs"].items():
        ref = entry.get("mixers", {}).get(REFERENCE)
        for name, res in entry.get("mixers", {}).items():
            per_mixer.setdefault(name, []).append(res)
            tot = f"{sum(res['magmoms']):+.2f}" if res["status"] == "ok" else "-"
            de = dm = ""
            if res["status"] == "ok" and ref and ref["status"] == "ok" and name != REFERENCE:
                de = f"{1000 * (res['energy'] - ref['energy']):+.1f}"
                dm = f"{np.max(np.abs(np.subtract(res['magmoms'], ref['magmoms']))):.3f}"
            print(
                f"  {slab_id:<48}{name:<12}{res['status']:<8}{res['scf_iterations']:>5}"
                f"{res['cpu_time']:>8.0f}{tot:>9}{de:>10}{dm:>9}"
            )
    print("\nthe first two ladder levels in either order, on the slabs where both mixers ran:")
    print("SCF iterations until one converges (a failed level counts its maxiter)")
    for first, second in ((REFERENCE, "msr1"), ("msr1", REFERENCE)):
        costs = ladder_costs(results, first, second)
        if costs:
            total = sum(costs.values())
            print(
                f"  {first} then {second}: {len(costs)} slabs, median "
                f"{np.median(list(costs.values())):.0f}, total {total}"
            )


def ladder_costs(results: dict, first: str, second: str) -> dict[str, int]:
    """Per slab where both mixers ran: the SCF iterations of a ladder that tries ``first``, then
    ``second`` (a failed level counts its iterations, ``maxiter``; both failing: the sum)."""
    out = {}
    for slab_id, entry in results["slabs"].items():
        runs = entry.get("mixers", {})
        if first in runs and second in runs:
            a, b = runs[first], runs[second]
            out[slab_id] = a["scf_iterations"] + (b["scf_iterations"] if a["status"] != "ok" else 0)
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--configfile", nargs="*", default=[str(ROOT / "presets" / "mini.yaml")])
    ap.add_argument("--results", default=str(ROOT / "data/mini/settings-check/scf_mixer.json"))
    ap.add_argument("--work", default=None, help="GPAW text logs (default: a temporary dir)")
    ap.add_argument("--slabs", nargs="*", default=list(SLABS))
    ap.add_argument("--mixers", nargs="+", default=list(MIXERS), choices=MIXERS)
    ap.add_argument("--start", default="floor", choices=("floor", "eos", "afm"))
    ap.add_argument("--commit", action="store_true", help="git-commit the results file")
    ap.add_argument("--table", action="store_true", help="print the table and exit")
    args = ap.parse_args(argv)
    path = Path(args.results)
    if not path.is_file():
        write_json(path, {"about": __doc__.split("\n\n")[0], "slabs": {}})
    if args.table:
        print_tables(json.loads(path.read_text()))
        return 0
    logging.basicConfig(level=logging.WARNING)
    cfg = load_config(args.configfile)
    work = Path(args.work or tempfile.mkdtemp(prefix="scf-mixer-"))
    for slab_id in args.slabs:
        entry = json.loads(path.read_text())["slabs"].get(slab_id)
        if entry is None:
            entry = settings_check_entry(slab_id, args.start) or prepare_slab(
                slab_id, cfg, args.start
            )
            entry["mixers"] = {}
            mini = entry.pop("settings", {}).get(MINI_SETTING)
            if mini and mini["status"] == "ok" and _converged_with_pulay(mini):
                entry["mixers"][REFERENCE] = {**mini, "source": f"dft_settings.json {MINI_SETTING}"}
            save_slab(path, slab_id, entry)
        for name in args.mixers:
            entry = json.loads(path.read_text())["slabs"][slab_id]  # another run may have added
            if name in entry["mixers"]:
                continue
            print(f"{slab_id}: {name} ...", flush=True)
            res = run_mixer(name, entry, cfg, work / slab_id)
            save_result(path, slab_id, name, res)
            print(
                f"{slab_id}: {name} {res['status']}, {res['scf_iterations']} SCF iterations, "
                f"{res['cpu_time']:.0f} CPU s",
                flush=True,
            )
            if args.commit:
                commit(path, f"scf_mixer benchmark: {slab_id} with {name}")
    print_tables(json.loads(path.read_text()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
