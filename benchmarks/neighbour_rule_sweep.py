r"""Does "r8 is best" survive without the neighbour cap? (issue 22, item 3)

The study's r8 graphs kept each atom's 50 nearest neighbours, so its farthest kept neighbour sits
near 6 Å and "r8" is mostly r6 (README, "Neighbour rules"). This trains the GNNs of a preset
(default ``presets/demo-dft.yaml``: every architecture with the residual target, on the shipped
DFT labels) at 6 and 8 Å under each of ``--rules`` (default ``radius``, every neighbour within the
cutoff, and ``shell_complete``, the 50 nearest with the last shell completed), each rule in its
own results tree ``{results_dir}-{rule}`` (the same import, split and seed, so the same test
slabs), through the workflow's own rules (``snakemake`` with the predictions of those GNNs as
targets). It prints, per rule, the caches' nominal and effective radius
(:func:`magmom.graphs.cap_report.cap_note`), and per architecture the test MAE at r6 and r8 with
their 95 % bootstrap intervals over test slabs and the paired difference

.. math:: \Delta = \mathrm{MAE}_{r8} - \mathrm{MAE}_{r6}

with its interval (the same slab draws for both, :func:`magmom.evaluation.metrics.
bootstrap_mae_difference`): r8 is *better* where the whole interval lies below 0, *worse* where it
lies above, otherwise a tie. The last lines count, per rule, the architectures where r8 is better,
tied and worse, and the best model of each rule. Reference: each architecture's own r6 model of the
same rule, trained in the same run.

Run:  .venv/bin/python benchmarks/neighbour_rule_sweep.py [--configfile presets/demo-dft.yaml]
          [--rules radius shell_complete] [--architectures cgconv ...] [--cores 2]
          [--out results/neighbour-rule-sweep.md]
``--no-train`` reads finished trees only (nothing is trained), ``--dry-run`` plans each rule's
run. Cost at the 300 shipped slabs of the mini-study: r8 under ``radius`` holds ≈ 2.3× the edges
of r8 under a cap (README), so its trainings take ≈ 2–3× as long as r6's.
"""

from __future__ import annotations

import argparse
import copy
import subprocess
import sys
from pathlib import Path

import pandas as pd
from snakemake.utils import update_config

from magmom.evaluation.metrics import bootstrap_mae_difference, evaluate
from magmom.graphs.cap_report import cap_note
from magmom.io import write_text
from magmom.layout import SPLITS, Layout, ModelSpec, gnn_model_ids
from magmom.predictions import read_predictions
from magmom.training.cli import load_config

REPO = Path(__file__).resolve().parents[1]
CUTOFFS = (6, 8)
SHORT, LONG = CUTOFFS


def rule_config(base: dict, rule: str, architectures: list[str] | None = None) -> dict:
    """The overrides of one rule's run: its own results tree, graphs and GNNs at 6 and 8 Å (of
    ``architectures`` only, when given)."""
    models = {"cutoffs": list(CUTOFFS)}
    if architectures:
        models["architectures"] = list(architectures)
    return {
        "results_dir": f"{base['results_dir']}-{rule.replace('_', '-')}",
        "graphs": {"cutoffs": list(CUTOFFS), "neighbor_rule": rule},
        "models": models,
        "baselines": {"tabular_cutoffs": list(CUTOFFS)},
    }


def _yaml_flow(value) -> str:
    """``value`` as one ``--config`` word (YAML flow style for a mapping)."""
    import yaml

    if not isinstance(value, dict):
        return str(value)
    return yaml.safe_dump(value, default_flow_style=True, width=10_000).strip()


def train(
    configfile: Path, overrides: dict, targets: list[str], cores: int, dry_run: bool = False
) -> None:
    """The workflow's own rules up to ``targets`` (the GNNs' test predictions)."""
    cmd = [
        sys.executable, "-m", "snakemake", "--cores", str(cores), "--rerun-incomplete",
        *(["-n"] if dry_run else []),
        "--configfile", str(REPO / "config.yaml"), str(configfile),
        "--config", *(f"{key}={_yaml_flow(value)}" for key, value in overrides.items()),
        "--", *targets,
    ]  # fmt: skip
    print("$", " ".join(cmd), flush=True)
    subprocess.run(cmd, cwd=REPO, check=True)


def _verdict(interval: list[float] | None) -> str:
    if interval is None:
        return "–"
    low, high = interval
    return "r8 better" if high < 0 else "r8 worse" if low > 0 else "tie"


def compare(layout: Layout, architectures: list[str], residual: bool) -> pd.DataFrame:
    """Per architecture: test MAE and interval at both cutoffs, the paired r8 − r6 interval."""
    rows = []
    for arch in architectures:
        frames = {
            c: read_predictions(REPO / layout.predictions(ModelSpec(arch, c, residual).model_id))
            for c in CUTOFFS
        }
        scored = {c: evaluate(frames[c], ())["all"] for c in CUTOFFS}
        diff = bootstrap_mae_difference(frames[LONG], frames[SHORT])
        rows.append(
            {
                "architecture": arch,
                **{f"mae_r{c}": scored[c]["mae"] for c in CUTOFFS},
                **{f"ci_r{c}": scored[c]["mae_ci95"] for c in CUTOFFS},
                "delta": scored[LONG]["mae"] - scored[SHORT]["mae"],
                "delta_ci": diff,
                "verdict": _verdict(diff),
                "n_slabs": scored[SHORT]["n_slabs"],
                "n_atoms": scored[SHORT]["n_atoms"],
            }
        )
    return pd.DataFrame(rows)


def _interval(ci) -> str:
    return "–" if ci is None else f"[{ci[0]:.4f}, {ci[1]:.4f}]"


def markdown(tables: dict[str, pd.DataFrame], notes: dict[str, str]) -> str:
    lines = ["# r6 against r8 under each neighbour rule", ""]
    for rule, table in tables.items():
        n_slabs, n_atoms = int(table["n_slabs"].iloc[0]), int(table["n_atoms"].iloc[0])
        lines += [
            f"## `{rule}` ({n_slabs} test slabs, {n_atoms} atoms)",
            "",
            notes[rule],
            "",
            "| architecture | MAE r6 (μB) | 95 % | MAE r8 (μB) | 95 % | r8 − r6 | 95 % (paired) "
            "| verdict |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for _, r in table.iterrows():
            lines.append(
                f"| {r['architecture']} | {r['mae_r6']:.4f} | {_interval(r['ci_r6'])} | "
                f"{r['mae_r8']:.4f} | {_interval(r['ci_r8'])} | {r['delta']:+.4f} | "
                f"{_interval(r['delta_ci'])} | {r['verdict']} |"
            )
        counts = table["verdict"].value_counts()
        best = min(
            (
                (r[f"mae_r{c}"], f"{r['architecture']}-r{c}")
                for _, r in table.iterrows()
                for c in CUTOFFS
            )
        )
        lines += [
            "",
            f"r8 better on {counts.get('r8 better', 0)}, tied on {counts.get('tie', 0)}, worse on "
            f"{counts.get('r8 worse', 0)} of {len(table)} architectures; best model "
            f"{best[1]} ({best[0]:.4f} μB).",
            "",
        ]
    return "\n".join(lines)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    p.add_argument("--configfile", type=Path, default=REPO / "presets" / "demo-dft.yaml")
    p.add_argument("--rules", nargs="+", default=["radius", "shell_complete"])
    p.add_argument("--architectures", nargs="+", help="default: the preset's models")
    p.add_argument("--cores", type=int, default=2)
    p.add_argument("--no-train", action="store_true", help="read finished results trees only")
    p.add_argument("--dry-run", action="store_true", help="plan each rule's run (snakemake -n)")
    p.add_argument("--out", type=Path, default=REPO / "results" / "neighbour-rule-sweep.md")
    args = p.parse_args(argv)

    base = load_config(REPO / "config.yaml", [args.configfile])
    tables, notes = {}, {}
    for rule in args.rules:
        overrides = rule_config(base, rule, args.architectures)
        config = copy.deepcopy(base)
        update_config(config, overrides)  # as snakemake merges --config
        layout = Layout.of(config)
        models = config["models"]
        residual = bool(models.get("residual_target", False))
        if not args.no_train:
            targets = [layout.predictions(m) for m in gnn_model_ids(models)]
            train(args.configfile, overrides, targets, args.cores, args.dry_run)
        if args.dry_run:
            continue
        tables[rule] = compare(layout, list(models["architectures"]), residual)
        notes[rule] = cap_note(
            [REPO / layout.graph_cache(c, split) for c in CUTOFFS for split in SPLITS]
        )
    if args.dry_run:
        return 0
    text = markdown(tables, notes)
    print(text)
    write_text(args.out, text)
    print(f"written: {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
