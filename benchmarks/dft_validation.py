"""Validation of the project's DFT settings on the three ferromagnetic elemental metals.

Bulk bcc Fe, hcp Co and fcc Ni at their experimental lattice constants, computed exactly as the
slabs' plane-wave stage is (config ``dft.planewave``: 350 eV, RPBE, Monkhorst–Pack 3.5 Å⁻¹ in all
three directions, Marzari–Vanderbilt 0.1 eV; spin-polarised; every SCF under ``dft.scf_ladder``)
through :func:`magmom.dft.scf_ladder.converge_single_point`. Prints the magnetic moment per atom
(total cell moment / atoms) next to the known values (≈2.2, ≈1.6, ≈0.6 μB), and the local
(PAW-sphere) moment, SCF iterations, ladder level and wall time of each.

Not run in CI (minutes to tens of minutes on two cores). Run:

    .venv/bin/python benchmarks/dft_validation.py [--configfile presets/x.yaml] [--out DIR]
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from ase.build import bulk

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from magmom.dft.gpaw_params import occupations  # noqa: E402
from magmom.dft.kpoints import gpaw_kpts  # noqa: E402
from magmom.dft.scf_ladder import converge_single_point, ladder_from_config  # noqa: E402

# element, lattice, a (Å), c/a, initial moment (μB), known spin moment (μB/atom)
SYSTEMS = (
    ("Fe", "bcc", 2.866, None, 2.5, 2.2),
    ("Co", "hcp", 2.507, 1.623, 1.8, 1.6),
    ("Ni", "fcc", 3.524, None, 0.8, 0.6),
)


def load_config(configfiles) -> dict:
    """config.yaml overlaid with ``configfiles`` (schema-checked), as the workflow reads it."""
    from magmom.training.cli import load_config as load_workflow_config

    return load_workflow_config(ROOT / "config.yaml", list(configfiles))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--configfile", nargs="*", default=[], help="presets merged over config.yaml")
    ap.add_argument("--out", default=None, help="directory for GPAW logs and results.json")
    ap.add_argument("--elements", nargs="*", default=[s[0] for s in SYSTEMS])
    args = ap.parse_args(argv)
    cfg = load_config(args.configfile)
    pw = cfg["dft"]["planewave"]
    ladder = ladder_from_config(cfg["dft"]["scf_ladder"])
    out = Path(args.out or tempfile.mkdtemp(prefix="dft-validation-"))
    out.mkdir(parents=True, exist_ok=True)
    print(
        f"settings: {pw['ecut']} eV, {pw['xc']}, k-point density {pw['kpt_density']} Å⁻¹, "
        f"{pw['smearing']} {pw['smearing_width']} eV, ladder of {len(ladder)} levels; logs in {out}"
    )
    rows = []
    for el, lattice, a, coa, m0, known in SYSTEMS:
        if el not in args.elements:
            continue
        atoms = bulk(el, lattice, a=a, c=None if coa is None else a * coa)
        atoms.set_initial_magnetic_moments([m0] * len(atoms))
        base = {
            "mode": {"name": "pw", "ecut": float(pw["ecut"])},
            "xc": pw["xc"],
            "kpts": gpaw_kpts(atoms, pw["kpt_density"]),
            "occupations": occupations(pw["smearing"], pw["smearing_width"]),
            "spinpol": True,
        }
        t0 = time.perf_counter()
        _, local, attempts = converge_single_point(
            copy.deepcopy(atoms), base, pw["smearing"], ladder, str(out / f"{el}-{lattice}")
        )
        wall = time.perf_counter() - t0
        last = attempts[-1]
        moment = abs(last["total_magmom"]) / len(atoms)
        rows.append(
            {
                "element": el,
                "lattice": lattice,
                "a": a,
                "kpts": base["kpts"]["size"],
                "moment_per_atom": moment,
                "local_moment": float(np.mean(np.abs(local))),
                "known": known,
                "difference": moment - known,
                "scf_iterations": last["scf_iterations"],
                "ladder_level": last["level"],
                "wall_time_s": wall,
            }
        )
        r = rows[-1]
        print(
            f"{el} {lattice} a={a:.3f} Å k={'x'.join(map(str, r['kpts']))}: "
            f"{moment:.3f} μB/atom (known ≈{known}; Δ {r['difference']:+.3f}), local "
            f"{r['local_moment']:.3f} μB, {r['scf_iterations']} SCF iterations at ladder level "
            f"{r['ladder_level']}, {wall:.0f} s",
            flush=True,
        )
    (out / "results.json").write_text(json.dumps(rows, indent=2))
    print(f"{'element':<8}{'lattice':<8}{'m (μB/atom)':>12}{'known':>8}{'Δ':>8}")
    for r in rows:
        print(
            f"{r['element']:<8}{r['lattice']:<8}{r['moment_per_atom']:>12.3f}{r['known']:>8.1f}"
            f"{r['difference']:>+8.3f}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
