"""Energy and moments of small slabs per initial-moment policy (``dft.initial_moments``), GPAW.

For each slab the GPAW labeller (:func:`magmom.dft.label.label_slab`, the production code path)
runs with each policy of ``--policies`` (default ``floor+eos+afm``: the ``floor`` start, the
``eos`` start, i.e. the study's, the lattice table's moments, and, for slabs holding Cr or Mn,
the layer-alternating ``afm`` start; every start is labelled and recorded). The lattice table
itself comes from :func:`magmom.dft.eos.run_eos` (GPAW, same cheap settings) for every element ×
lattice the slabs needs, so ``eos`` starts where the study's rule would, with two shortcuts to
keep the run short: Fe and Ni, whose bulk moments an EOS reproduces (≈ 2.2 and ≈ 0.6 μB), take
the table's documented fallback entry (:mod:`magmom.recipe.lattice_table`); Mn takes its entry
from a CHGNet EOS (``eos.calculator: chgnet``): its fallback guess (the covalent-radius
estimate, 3.21 Å for bcc) lies so far from the minimum that the GPAW scan needs three passes,
and a ferromagnetic bulk Mn point at these settings did not converge in 200 SCF iterations on
this machine.

Slabs (3 layers, 1 × 1 in-plane unless said otherwise; the recipe's facets, Vegard lattice
constants, bottom layer fixed): Cr(110), V(110), Mn(110) (bcc, the recipe's lattice for Mn),
Cr/Fe/Cr(110) and Mn/Ni/Mn(111) (layers from the top); and two atoms per layer (2 × 1 in-plane,
6 atoms) with the elements alternating within and between layers: CrFe2x1 (bcc(110), Cr/Fe) and
MnNi2x1 (fcc(111), Mn/Ni).

Cheap settings over config.yaml (the same keys the workflow reads): plane waves 250 eV, k-point
density 1.5 Å⁻¹, RPBE, Marzari–Vanderbilt 0.1 eV, 5 Å vacuum per side, no pre-relaxation, single
points (no ionic steps) in the LCAO and plane-wave stages, a two-level SCF ladder (Pulay 1e-6,
then MSR1); EOS at 250 eV, 1.5 Å⁻¹, 5 points of ±5 %. Prints two tables: per slab and start,
the start and final moments per layer, the energy relative to the ``eos`` start (meV per slab),
the SCF iterations (LCAO + plane-wave stage) and the wall time; per slab and policy (every
value of ``dft.initial_moments``, scored from the starts that ran: a start is the same
calculation in whichever policy's run), the start it keeps, its energy relative to ``eos``, its
moments and the SCF iterations of every start it runs. Not run in CI: on an idle machine, one
slab per core, a converged start took 1.5–13.5 min (23–343 LCAO and 39–128 plane-wave
iterations), Cr, V, Cr/Fe/Cr, Mn/Ni/Mn and CrFe2x1 together about an hour, and the high Mn
starts (bcc Mn ``floor``, Mn/Ni/Mn ``afm``) were still in the LCAO warm-up after 400 iterations.
``--slabs`` runs a subset (runs of different slabs can go in parallel, each with its own
``--out``); ``--tables-from`` prints the tables of earlier runs' records without running anything:

    nice -n 19 .venv/bin/python benchmarks/initial_moments.py [--out DIR] [--slabs Cr V ...]
    .venv/bin/python benchmarks/initial_moments.py --tables-from DIR [DIR ...]
"""

from __future__ import annotations

import argparse
import copy
import json
import logging
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from magmom.dft.eos import lattice_table_from_eos, run_eos  # noqa: E402
from magmom.dft.initial_moments import AFM_ELEMENTS, POLICIES, POLICY_STARTS  # noqa: E402
from magmom.dft.label import LabelSettings, fix_bottom_layers, label_slab  # noqa: E402
from magmom.dft.settings import EosSettings  # noqa: E402
from magmom.recipe.lattice_table import lattice_entry  # noqa: E402
from magmom.recipe.slabs import base_slab  # noqa: E402

# name, lattice, species per layer from the top
SLABS = (
    ("Cr", "bcc", ("Cr", "Cr", "Cr")),
    ("V", "bcc", ("V", "V", "V")),
    ("Mn", "bcc", ("Mn", "Mn", "Mn")),
    ("CrFeCr", "bcc", ("Cr", "Fe", "Cr")),
    ("MnNiMn", "fcc", ("Mn", "Ni", "Mn")),
    # two atoms per layer (2 x 1 in-plane): the element alternates within and between layers
    ("CrFe2x1", "bcc", (("Cr", "Fe"), ("Fe", "Cr"), ("Cr", "Fe"))),
    ("MnNi2x1", "fcc", (("Mn", "Ni"), ("Ni", "Mn"), ("Mn", "Ni"))),
)
VACUUM = 5.0
FROM_FALLBACK = ("Fe", "Ni")  # bulk moments an EOS reproduces; their fallback entry is used
FROM_CHGNET = ("Mn", "V")  # entry (a0 and moment) from CHGNet's EOS
CHEAP_LADDER = [
    {"mixer": "pulay", "eigenstates": 1.0e-6, "smearing_width": 0.1, "maxiter": 200},
    {"mixer": "msr1", "eigenstates": 1.0e-5, "smearing_width": 0.15, "maxiter": 300},
]


def cheap_config() -> dict:
    cfg = yaml.safe_load((ROOT / "config.yaml").read_text())
    cfg["labeller"] = "gpaw"
    cfg["recipe"]["fixed_layers"] = 1
    cfg["eos"].update(calculator="gpaw", ecut=250.0, kpt_density=1.5, points=5)
    dft = cfg["dft"]
    dft["prerelax"].update(model="none")
    dft["lcao"].update(h=0.25, steps=0)
    dft["planewave"].update(ecut=250.0, kpt_density=1.5)
    dft["relax"].update(steps=0)
    dft["scf_ladder"] = copy.deepcopy(CHEAP_LADDER)
    return cfg


def species_of(layers) -> list[str]:
    """The species of a ``SLABS`` layer list, layer by layer."""
    return [el for layer in layers for el in ((layer,) if isinstance(layer, str) else layer)]


def build(lattice: str, layers, table, cfg):
    """A slab of ``layers`` (top first; a layer is one species, 1 x 1 in-plane, or a tuple of
    species along the first in-plane axis) with the table's moments, like a recipe row."""
    layers = [(layer,) if isinstance(layer, str) else tuple(layer) for layer in layers]
    species = species_of(layers)
    n = {el: species.count(el) for el in set(species)}
    entries = {el: lattice_entry(table, el, lattice, cfg["recipe"]["default_magmom"]) for el in n}
    a = sum(n[el] * entries[el]["a0"] for el in n) / len(species)  # Vegard
    atoms = base_slab(lattice, (len(layers[0]), 1, len(layers)), a, None, VACUUM, False)
    tags = atoms.get_tags()
    for tag in sorted(set(tags.tolist())):
        for i, el in zip(np.flatnonzero(tags == tag), layers[tag - 1], strict=True):
            atoms[i].symbol = el
    atoms.set_initial_magnetic_moments([entries[s]["magmom"] for s in atoms.get_chemical_symbols()])
    fix_bottom_layers(atoms, cfg["recipe"]["fixed_layers"])
    atoms.pbc = (True, True, False)
    return atoms, a


def fmt(m) -> str:
    return " ".join(f"{x:+.2f}" for x in m)


def layer_moments(structure: dict, magmoms) -> list[float]:
    """Mean moment per layer (ASE tags), top layer first."""
    tags = np.asarray(structure["tags"])
    m = np.asarray(magmoms, dtype=float)
    return [float(m[tags == t].mean()) for t in sorted(set(tags.tolist()))]


def start_rows(name: str, rec: dict) -> list[dict]:
    """One row per start of a slab's record: energy, moments per layer, SCF iterations."""
    rows = []
    for start, part in rec["initial_moments"]["starts"].items():
        stages = part.get("stages", {})
        iters = {}  # every attempt's iterations, failed ladder levels included (the cost)
        for attempt in part.get("scf_attempts", []):
            n = sum(attempt["scf_iterations"]) + (attempt.get("failed_scf_iterations") or 0)
            iters[attempt["stage"]] = iters.get(attempt["stage"], 0) + n
        rows.append(
            {
                "slab": name,
                "policy": rec["initial_moments"]["policy"],
                "start": start,
                "status": part["status"],
                "initial_layers": layer_moments(rec["structure"], part["initial_magmoms"]),
                # at equal settings (magmom/dft/equal_settings.py) where the record has it
                "energy": (part.get("equal_settings") or {}).get("energy", part["energy"]),
                "layers": (
                    layer_moments(rec["structure"], part["magmoms"]) if part.get("magmoms") else []
                ),
                "scf_iterations": iters,
                "wall_time_s": float(sum(st["wall_time"] for st in stages.values())),
                "kept": rec["initial_moments"]["kept"] == start,
            }
        )
    return rows


def policy_rows(rows: list[dict]) -> list[dict]:
    """Per slab and policy (every value of ``dft.initial_moments``): the start it keeps, its energy
    relative to the ``eos`` start and the SCF iterations of every start it runs. A start is the
    same labelling whichever policy's run holds it (the same code path, the same start), so a
    policy is scored from the starts of any run of the slab; it is left out when one of its starts
    did not run (``afm`` counts only for slabs with Cr or Mn)."""
    out = []
    for name in dict.fromkeys(r["slab"] for r in rows):
        mine = {r["start"]: r for r in rows if r["slab"] == name and r["status"] != "skipped"}
        layers = next(layers for n, _, layers in SLABS if n == name)
        has_afm = any(el in AFM_ELEMENTS for el in species_of(layers))
        ref = mine.get("eos", {}).get("energy")
        for policy, names in POLICY_STARTS.items():
            names = [n for n in names if n != "afm" or has_afm]
            if any(n not in mine for n in names):
                continue
            starts = [mine[n] for n in names]
            ok = [r for r in starts if r["energy"] is not None]
            best = min(ok, key=lambda r: r["energy"]) if ok else None
            out.append(
                {
                    "slab": name,
                    "policy": policy,
                    "kept": best["start"] if best else None,
                    "dE_meV": (1000 * (best["energy"] - ref) if best and ref is not None else None),
                    "layers": best["layers"] if best else [],
                    "scf_iterations": sum(sum(r["scf_iterations"].values()) for r in starts),
                }
            )
    return out


def print_tables(rows: list[dict], where: str) -> None:
    print(f"\nGPAW per slab and start (ΔE relative to the eos start, meV per slab); {where}")
    print("moments per layer, top layer first (μB); SCF iterations LCAO + plane-wave stage, failed")
    print("ladder levels included")
    head = f"{'slab':<8}{'start':<7}{'initial':<22}{'ΔE (meV)':>10}  {'final':<22}{'SCF':>10}"
    print(head + f"{'wall (s)':>10}")
    for name in dict.fromkeys(r["slab"] for r in rows):
        mine = [r for r in rows if r["slab"] == name]
        ref = next((r["energy"] for r in mine if r["start"] == "eos"), None)
        for r in mine:
            ok = r["energy"] is not None and ref is not None
            de = f"{1000 * (r['energy'] - ref):+10.1f}" if ok else f"{r['status']:>10}"
            it = r["scf_iterations"]
            scf = f"{it.get('lcao', '-')} + {it.get('pw', '-')}"
            print(
                f"{name:<8}{r['start']:<7}{fmt(r['initial_layers']):<22}{de}  "
                f"{fmt(r['layers']):<22}{scf:>10}{r['wall_time_s']:>10.0f}"
            )
    print("\nper policy: the start it keeps, ΔE relative to eos (meV per slab), its moments per")
    print("layer (μB, top first) and the SCF iterations of every start it runs")
    print(f"{'slab':<8}{'policy':<15}{'kept':<7}{'ΔE (meV)':>10}  {'moments':<22}{'SCF':>6}")
    for r in policy_rows(rows):
        de = f"{r['dE_meV']:+10.1f}" if r["dE_meV"] is not None else f"{'failed':>10}"
        print(
            f"{r['slab']:<8}{r['policy']:<15}{r['kept'] or '-':<7}{de}  "
            f"{fmt(r['layers']):<22}{r['scf_iterations']:>6}"
        )


def read_rows(dirs) -> list[dict]:
    """Rows of the slab records that earlier runs wrote in ``dirs`` (``{slab}-{policy}.json``)."""
    rows = []
    for name, _, _ in SLABS:
        for d in dirs:
            for policy in POLICIES:
                path = Path(d) / f"{name.lower()}-{policy}.json"
                if path.is_file():
                    rows.extend(start_rows(name, json.loads(path.read_text())))
    return rows


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", default=None, help="directory for GPAW logs and results.json")
    ap.add_argument("--slabs", nargs="*", default=[s[0] for s in SLABS])
    ap.add_argument(
        "--policies",
        nargs="+",
        choices=POLICIES,
        default=["floor+eos+afm"],
        help="policies to run (floor+eos+afm runs every start; the tables score every policy "
        "from the starts that ran)",
    )
    ap.add_argument(
        "--tables-from",
        nargs="+",
        metavar="DIR",
        help="run nothing: print the tables of the slab records earlier runs wrote (their --out)",
    )
    args = ap.parse_args(argv)
    if args.tables_from:
        print_tables(read_rows(args.tables_from), f"records in {' '.join(args.tables_from)}")
        return 0
    logging.basicConfig(level=logging.WARNING)
    cfg = cheap_config()
    out = Path(args.out or tempfile.mkdtemp(prefix="initial-moments-"))
    out.mkdir(parents=True, exist_ok=True)
    slabs = [s for s in SLABS if s[0] in args.slabs]
    t_start = time.perf_counter()

    entries = sorted({(el, lat) for _, lat, layers in slabs for el in species_of(layers)})
    eos_files = {}
    for el, lat in entries:
        if el in FROM_FALLBACK:
            continue
        t0 = time.perf_counter()
        work = out / "eos" / f"{el}-{lat}"
        calculator = "chgnet" if el in FROM_CHGNET else "gpaw"
        eos = {**cfg["eos"], "calculator": calculator}
        res = run_eos(el, lat, EosSettings.from_params(eos, cfg["dft"], cfg["recipe"]), work)
        path = out / "eos" / f"{el}-{lat}.json"
        path.write_text(json.dumps(res))
        eos_files[(el, lat)] = path
        print(
            f"EOS {el} {lat}: {res['status']}, a0 = {res.get('a0', float('nan')):.3f} Å, table "
            f"moment {res.get('magmom', float('nan')):.3f} μB ({time.perf_counter() - t0:.0f} s)",
            flush=True,
        )
    table = lattice_table_from_eos(eos_files, cfg["recipe"]["default_magmom"])
    for el, lat in entries:
        e = lattice_entry(table, el, lat, cfg["recipe"]["default_magmom"])
        print(f"table {el} {lat}: a0 {e['a0']:.3f} Å, moment {e['magmom']:.3f} μB ({e['source']})")

    rows = []
    for name, lattice, layers in slabs:
        atoms, a = build(lattice, layers, table, cfg)
        print(f"{name}: {lattice}, a = {a:.3f} Å (Vegard), {len(atoms)} atoms", flush=True)
        for policy in args.policies:
            c = copy.deepcopy(cfg)
            c["dft"]["initial_moments"] = policy
            meta = {"slab_id": f"{name.lower()}-{policy}", "lattice": lattice}
            settings = LabelSettings.of(c)
            rec = label_slab(atoms, meta, meta["slab_id"], settings, out / "dft" / meta["slab_id"])
            (out / f"{meta['slab_id']}.json").write_text(json.dumps(rec))
            for r in start_rows(name, rec):
                rows.append(r)
                print(
                    f"{name:<7} {r['start']:<5} start [{fmt(r['initial_layers'])}] -> "
                    f"{r['status']}: E = {r['energy']} eV, m = [{fmt(r['layers'])}]",
                    flush=True,
                )
    (out / "results.json").write_text(json.dumps(rows, indent=2))
    print_tables(rows, f"logs and records in {out}")
    print(f"total wall time {time.perf_counter() - t_start:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
