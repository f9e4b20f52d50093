"""Irreducible k-points of the recipe's slabs: GPAW's symmetry analysis against the cost model.

    python benchmarks/kpoint_symmetry.py                 # config.yaml, 3 slabs per class
    python benchmarks/kpoint_symmetry.py --per-class 10 --configfile presets/mini.yaml

The time of a plane-wave SCF iteration scales with the irreducible k-points, which depend on the
slab's symmetry: the cost model (:mod:`magmom.dft.cost_model`) prices every slab but the pure ones
at the time-reversal count of its grid (:func:`~magmom.dft.cost_model.irreducible_kpoints`) and
was fitted on pure Ni fcc(111), which keeps a third of its points. Per class of the recipe
(composition type x lattice) a few slabs (``--per-class``, drawn with a fixed seed) are built as
the recipe builds them (:func:`magmom.recipe.slabs.build_slab`, ASE reference lattice constants:
no EOS, no GPAW calculation), and GPAW's own symmetry analysis
(:func:`magmom.dft.parallel.n_ibz_kpoints`, with the ``eos`` start's moments, and again with the
``floor`` start's) counts the irreducible points of the slab's real grid (the study's k-point
density). Printed per class: the grid(s), the measured counts, the model's count for that grid,
the anchor's share (a third) the model used before, and measured / model (median): at most 1
but on pure slabs, and exactly 1 where time reversal is all a slab keeps.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main() -> None:
    from magmom.dft import cost_model, initial_moments
    from magmom.dft.gpaw_params import planewave_params
    from magmom.dft.parallel import n_ibz_kpoints
    from magmom.dft.settings import DftSettings
    from magmom.elements import is_spin_polarised
    from magmom.recipe.lattice_table import reference_lattice_table
    from magmom.recipe.manifest import recipe_slabs
    from magmom.recipe.slabs import build_slab
    from magmom.training.cli import load_config

    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--configfile", nargs="*", default=[])
    p.add_argument("--per-class", type=int, default=3)
    args = p.parse_args()
    cfg = load_config(ROOT / "config.yaml", args.configfile)
    recipe = cfg["recipe"]
    pw = DftSettings.from_config(cfg["dft"]).planewave
    table = reference_lattice_table(recipe["elements"], recipe["default_magmom"])
    classes = defaultdict(list)
    for spec in recipe_slabs(recipe):
        classes[(spec.comp_type, spec.lattice, spec.size)].append(spec)
    rng = random.Random(0)
    print(
        f"{'type':<18}{'lattice':<8}{'size':<7}{'slabs':>6}  {'grid':<10}"
        f"{'measured (eos/floor)':<24}{'model':>6}{'anchor share':>13}{'measured/model':>15}"
    )
    ratios = []
    for (comp_type, lattice, size), specs in sorted(classes.items()):
        grids, counts, model, anchor, class_ratios = set(), [], [], [], []
        for spec in rng.sample(specs, min(args.per_class, len(specs))):
            atoms = build_slab(spec.manifest_row(), recipe, table)
            spin = is_spin_polarised(atoms.get_chemical_symbols())
            kpts = planewave_params(pw, atoms, spin)["kpts"]
            grid = tuple(kpts["size"][:2])
            floor = atoms.copy()
            floor.set_initial_magnetic_moments(
                initial_moments.floored(
                    atoms.get_chemical_symbols(), atoms.get_initial_magnetic_moments()
                )
            )
            eos_n, floor_n = n_ibz_kpoints(atoms, kpts, spin), n_ibz_kpoints(floor, kpts, spin)
            grids.add("x".join(map(str, grid)))
            counts.append(f"{eos_n}/{floor_n}")
            expected = cost_model.irreducible_kpoints(grid, comp_type)
            model.append(expected)
            anchor.append(grid[0] * grid[1] * cost_model.ANCHOR_IBZ_FRACTION)
            class_ratios.append(max(eos_n, floor_n) / expected)
        ratios += class_ratios
        ratio = statistics.median(class_ratios)
        print(
            f"{comp_type:<18}{lattice:<8}{size:<7}{len(specs):>6}  {','.join(sorted(grids)):<10}"
            f"{' '.join(counts):<24}{statistics.median(model):>6g}"
            f"{statistics.median(anchor):>13.3g}{ratio:>15.2f}"
        )
    print(
        f"\n{len(ratios)} slabs: measured / model irreducible k-points, median "
        f"{statistics.median(ratios):.2f} (range {min(ratios):.2f}-{max(ratios):.2f})"
    )


if __name__ == "__main__":
    main()
