"""The DFT warm-start experiment on small slabs, end to end in one process (minutes, not hours).

The workflow's rules (``warm_start_starts`` -> ``warm_start_slab`` -> ``warm_start_report``)
run the experiment on the configured dataset; on the demo preset those are 12-16-atom slabs and
the GPAW part takes tens of minutes on two cores. This script measures the same thing on
3-atom slabs through the same library code (:mod:`magmom.warm_start`,
:mod:`magmom.evaluation.report.warm_start`), so the saving can be stated from a run that fits a
laptop session:

1. ``--pool`` (64) seeded random alloy slabs of Fe/Co/Ni with Cu/Pd/Pt, 1x1 in plane x
   ``--layers`` (3) layers (one atom each: two of Fe/Co/Ni, the rest any of the six),
   fcc(111) (bcc(110) when Fe is the majority), lattice constant by Vegard's rule over the
   reference lattice table (``magmom.recipe.lattice_table.reference_lattice_table``), 6 Å vacuum;
2. labels from the CHGNet surrogate (``magmom.chgnet.energy_and_magmoms``, no pre-relaxation);
3. split: every 4th slab is test (the rest 80/20 train/val), graph caches at ``--cutoff`` (4 Å) by
   the project's builder, one ``cgconv`` with the demo's sizes trained by the project's trainer
   (``--epochs`` 60, early stopping 15);
4. the experiment on the ``--slabs`` (6) smallest magnetic test slabs: starts from
   :func:`magmom.warm_start.starts.warm_start_starts` (EOS-table moments from the reference
   table, the floor start, the Materials Project default, 1 μB uniform, the model's prediction,
   the reference SCF's converged moments; the README's table predates floor and Materials
   Project), GPAW
   single points by :func:`magmom.warm_start.scf.run_slab` with config.yaml's plane-wave settings
   and SCF ladder except ``--ecut`` (200 eV) and ``--kpt-density`` (1.0 Å⁻¹: 3x3x1 here), and
   with ``--maxiter`` every ladder level's ``maxiter`` capped (a bound on the run time: a start
   that needs more fails and is reported as failed);
5. the page: ``OUT/warm_start.md``, ``.csv``, ``.png``.

    nice -n 10 .venv/bin/python benchmarks/warm_start_small.py --out warm_start_small
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

MAGNETIC = ("Fe", "Co", "Ni")
OTHERS = ("Cu", "Pd", "Pt")


def small_slabs(n: int, table: dict, layers: int = 4, seed: int = 42):
    from ase.build import bcc110, fcc111

    rng = np.random.default_rng(seed)
    out = []
    for k in range(n):
        symbols = list(rng.choice(MAGNETIC, size=2)) + list(
            rng.choice(MAGNETIC + OTHERS, size=layers - 2)
        )
        rng.shuffle(symbols)
        lattice = "bcc" if symbols.count("Fe") > layers / 2 else "fcc"
        a = float(np.mean([table[s][lattice]["a0"] for s in symbols]))
        build = bcc110 if lattice == "bcc" else fcc111
        atoms = build("Cu" if lattice == "fcc" else "Fe", size=(1, 1, layers), a=a, vacuum=6.0)
        order = np.argsort(-atoms.positions[:, 2])  # top layer first
        for s, i in zip(symbols, order, strict=True):
            atoms[i].symbol = s
        atoms.pbc = (True, True, False)
        out.append((f"small-{k:03d}", lattice, atoms))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", default="warm_start_small")
    parser.add_argument("--pool", type=int, default=64)
    parser.add_argument("--slabs", type=int, default=6)
    parser.add_argument("--layers", type=int, default=3)
    parser.add_argument("--cutoff", type=float, default=4.0)
    parser.add_argument("--epochs", type=int, default=60)
    parser.add_argument("--ecut", type=float, default=200.0)
    parser.add_argument("--kpt-density", type=float, default=1.0)
    parser.add_argument(
        "--maxiter", type=int, help="cap every ladder level's maxiter (a run beyond it fails)"
    )
    args = parser.parse_args()

    import torch
    import yaml

    from magmom.chgnet import energy_and_magmoms
    from magmom.data.dataset import LabelledSlab, write_dataset
    from magmom.data.split import format_split_csv
    from magmom.dft.settings import DftSettings
    from magmom.evaluation.report.warm_start import write_page
    from magmom.graphs import GraphCache
    from magmom.graphs.builder import SlabInput, build_caches
    from magmom.layout import ModelSpec
    from magmom.recipe.lattice_table import reference_lattice_table
    from magmom.rule_logging import log_to
    from magmom.training.run import train_from_config
    from magmom.warm_start.scf import run_slab
    from magmom.warm_start.starts import warm_start_starts

    torch.set_num_threads(1)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    config = yaml.safe_load((ROOT / "config.yaml").read_text())
    demo = yaml.safe_load((ROOT / "presets" / "demo.yaml").read_text())
    config["models"].update({k: demo["models"][k] for k in ("hidden",)})
    config["training"].update(
        max_epochs=args.epochs, batch_size=8, early_stopping_patience=15, seed=42
    )
    with log_to(out / "run.log"):
        t_start = time.perf_counter()
        table = reference_lattice_table(MAGNETIC + OTHERS, config["recipe"]["default_magmom"])
        (out / "lattice_table.json").write_text(json.dumps(table))
        labelled, rows = [], []
        for k, (slab_id, lattice, atoms) in enumerate(small_slabs(args.pool, table, args.layers)):
            _, magmoms = energy_and_magmoms(atoms)
            split = "test" if k % 4 == 3 else ("val" if k % 5 == 0 else "train")
            meta = {
                "slab_id": slab_id,
                "composition_id": slab_id,
                "comp_type": "quaternary",
                "lattice": lattice,
                "placement": "random",
                "variant": 0,
                "labeller": "chgnet",
                "spinpol": True,
            }
            labelled.append(LabelledSlab(atoms=atoms, magmoms=magmoms, meta=meta))
            rows.append({"slab_id": slab_id, "composition_id": slab_id, "type": "quaternary"})
            rows[-1]["split"] = split
        write_dataset(out / "dataset.db", labelled, "small", progress=False)
        (out / "split.csv").write_text(format_split_csv(rows))
        split_of = {r["slab_id"]: r["split"] for r in rows}
        caches = {s: out / f"graphs-r{args.cutoff:g}-{s}.lmdb" for s in ("train", "val", "test")}
        inputs = [
            SlabInput(
                slab_id=s.meta["slab_id"],
                numbers=s.atoms.numbers,
                positions=s.atoms.positions,
                cell=np.asarray(s.atoms.cell[:]),
                pbc=s.atoms.pbc,
                magmoms=s.magmoms,
            )
            for s in labelled
        ]
        build_caches(inputs, split_of, caches, args.cutoff, config["graphs"]["max_neighbors"])
        spec = ModelSpec("cgconv", args.cutoff)
        result = train_from_config(
            spec,
            config,
            GraphCache(caches["train"]),
            GraphCache(caches["val"]),
            out / spec.model_id,
            progress=False,
        )
        t_model = time.perf_counter() - t_start
        settings = {
            "slabs": args.slabs,
            "model": spec.model_id,
            "uniform_magmom": 1.0,
            "same_state": {"max_abs_dm": 0.1, "max_abs_de": 0.01},
            "planewave": {"ecut": args.ecut, "kpt_density": args.kpt_density},
            "maxiter": args.maxiter,
        }
        starts = warm_start_starts(
            out / "dataset.db",
            out / "split.csv",
            out / "lattice_table.json",
            out / spec.model_id / "best.pt",
            settings,
            config["recipe"]["default_magmom"],
        )
        (out / "starts.json").write_text(json.dumps(starts))
        records = []
        for slab_id, entry in starts["slabs"].items():
            dft = DftSettings.from_config(config["dft"])
            record = run_slab(slab_id, entry, dft, settings, out / "work" / slab_id)
            path = out / "slabs" / f"{slab_id}.json"
            path.parent.mkdir(exist_ok=True)
            path.write_text(json.dumps(record))
            records.append(path)
        write_page(
            records,
            {
                k: out / f"warm_start.{e}"
                for k, e in (("csv", "csv"), ("md", "md"), ("figure", "png"))
            },
            {
                "model_id": spec.model_id,
                "uniform_magmom": 1.0,
                "max_abs_dm": 0.1,
                "max_abs_de": 0.01,
            },
        )
        t_total = time.perf_counter() - t_start
    print((out / "warm_start.md").read_text())
    print(
        f"setup: {args.pool} slabs ({args.layers} atoms), cgconv-r{args.cutoff:g} best val MAE "
        f"{result.best_val_mae:.3f} μB after {result.epochs} epochs; data + model {t_model:.0f} s, "
        f"total {t_total:.0f} s; GPAW {args.ecut:g} eV, k-point density {args.kpt_density:g}, "
        f"ladder maxiter cap {args.maxiter}"
    )


if __name__ == "__main__":
    main()
