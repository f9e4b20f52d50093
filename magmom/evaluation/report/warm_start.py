r"""The warm-start page: a paired table per slab and start, a summary, and a seaborn figure.

Input: the per-slab records of :mod:`magmom.warm_start.scf` (``results/warm_start/{model}/slabs/
{slab_id}.json``). Outputs (``results/report/warm_start.*``):

* ``warm_start.csv``: one row per slab and start (:data:`COLUMNS`; ``de``, ``max_abs_dm``,
  ``same_state`` at equal settings, :mod:`magmom.dft.equal_settings`; ``de_own_level``: the
  energy difference at the ladder levels the two runs converged on);
* ``warm_start.md``: the setup, the paired table (per slab: SCF iterations, wall time and whether
  the start reached the converged state, for every start) and the summary per start: runs that
  converged, runs in the same state as the converged start, median and total SCF iterations and
  wall time, and the paired saving against the EOS-table start,

  .. math:: s = 1 - \frac{\sum_{\text{slabs}} n_{\text{start}}}{\sum_{\text{slabs}}
            n_{\text{eos}}}

  over the slabs where both converged (:math:`n`: total SCF iterations; the same for wall time);
* ``warm_start.png``: SCF iterations and wall time per start, one line per slab (paired).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from magmom.dft.initial_moments import EOS
from magmom.io import atomic_path, write_text
from magmom.warm_start import STARTS, current_record

from ..plots import save, theme

COLUMNS = (
    "slab_id",
    "formula",
    "n_atoms",
    "start",
    "status",
    "ladder_level",
    "scf_iterations",
    "total_scf_iterations",
    "wall_time",
    "energy",
    "de",
    "de_own_level",
    "max_abs_dm",
    "mean_abs_dm",
    "same_state",
    "initial_total_magmom",
    "final_total_magmom",
    "converged_source",
)
START_LABELS = {
    EOS: "EOS table",
    "model": "model",
    "uniform": "uniform",
    "converged": "DFT-converged",
}


def runs_table(records: Sequence[Mapping]) -> pd.DataFrame:
    """One row per slab and start (:data:`COLUMNS`), slabs in id order, starts in STARTS order."""
    rows = []
    for rec in sorted(records, key=lambda r: r["slab_id"]):
        for start in STARTS:
            run = rec["runs"].get(start, {})
            final = run.get("final_magmoms")
            initial = run.get("initial_magmoms")
            rows.append(
                {
                    "slab_id": rec["slab_id"],
                    "formula": rec["formula"],
                    "n_atoms": rec["n_atoms"],
                    "start": start,
                    "status": run.get("status", "missing"),
                    "ladder_level": run.get("ladder_level"),
                    "scf_iterations": run.get("scf_iterations"),
                    "total_scf_iterations": run.get("total_scf_iterations"),
                    "wall_time": run.get("wall_time"),
                    "energy": run.get("energy"),
                    "de": run.get("de"),
                    "de_own_level": run.get("de_own_level"),
                    "max_abs_dm": run.get("max_abs_dm"),
                    "mean_abs_dm": run.get("mean_abs_dm"),
                    "same_state": run.get("same_state"),
                    "initial_total_magmom": float(np.sum(initial)) if initial else None,
                    "final_total_magmom": float(np.sum(final)) if final else None,
                    "converged_source": rec["converged_source"],
                }
            )
    return pd.DataFrame(rows, columns=list(COLUMNS))


def _paired_saving(table: pd.DataFrame, start: str, column: str) -> tuple[float, int]:
    wide = table.pivot(index="slab_id", columns="start", values=column)
    ok = table.pivot(index="slab_id", columns="start", values="status") == "ok"
    both = ok[start] & ok[EOS]
    if not both.any():
        return float("nan"), 0
    ref = wide.loc[both, EOS].astype(float).sum()
    return float(1.0 - wide.loc[both, start].astype(float).sum() / ref), int(both.sum())


def summary_table(table: pd.DataFrame) -> pd.DataFrame:
    """Per start: converged runs, same-state runs, iterations and time, paired savings."""
    rows = []
    for start in STARTS:
        sub = table[table["start"] == start]
        ok = sub[sub["status"] == "ok"]
        it_saving, n_pairs = _paired_saving(table, start, "total_scf_iterations")
        time_saving, _ = _paired_saving(table, start, "wall_time")
        rows.append(
            {
                "start": start,
                "slabs": len(sub),
                "converged": len(ok),
                "same_state": int((sub["same_state"] == True).sum()),  # noqa: E712 (None-safe)
                "median_iterations": float(ok["total_scf_iterations"].median())
                if len(ok)
                else float("nan"),
                "total_iterations": int(ok["total_scf_iterations"].sum()),
                "total_wall_time": float(ok["wall_time"].sum()),
                "iteration_saving_vs_eos": it_saving,
                "time_saving_vs_eos": time_saving,
                "pairs": n_pairs,
            }
        )
    return pd.DataFrame(rows)


def _cell(row: pd.Series) -> str:
    if row["status"] != "ok":
        return "failed"
    same = {True: "same", False: "**other state**"}.get(row["same_state"], "?")
    level = f", L{int(row['ladder_level'])}" if row["ladder_level"] else ""
    return f"{int(row['total_scf_iterations'])} it, {row['wall_time']:.0f} s, {same}{level}"


def markdown(table: pd.DataFrame, summary: pd.DataFrame, setup: Mapping) -> str:
    """The page: setup, paired table, summary."""
    lines = [
        "# DFT warm start",
        "",
        f"Model `{setup['model_id']}`; {table['slab_id'].nunique()} held-out test slab(s); "
        f"uniform start {setup.get('uniform_magmom')} μB; same state: every |Δm| ≤ "
        f"{setup.get('max_abs_dm')} μB and |ΔE| ≤ {setup.get('max_abs_de')} eV against the "
        "run from the DFT-converged moments, both at SCF ladder level 0's smearing width and "
        "criteria (a run that converged on a level of other settings is evaluated there by one "
        "more single point from its final moments). Converged moments: "
        + ", ".join(sorted(set(table["converged_source"])))
        + " (dft_label: the slab's GPAW label; reference_scf: the EOS-table run of this "
        "experiment, since the labels are not DFT).",
        "",
        "| slab | atoms | " + " | ".join(START_LABELS[s] for s in STARTS) + " |",
        "|---|---|" + "---|" * len(STARTS),
    ]
    for slab_id, sub in table.groupby("slab_id", sort=True):
        cells = [_cell(sub[sub["start"] == s].iloc[0]) for s in STARTS]
        formula = sub["formula"].iloc[0]
        atoms = sub["n_atoms"].iloc[0]
        lines.append(f"| {slab_id} ({formula}) | {atoms} | " + " | ".join(cells) + " |")
    lines += [
        "",
        "it = SCF iterations (failed ladder levels counted at their maxiter); s = wall time of "
        "the single point (on a shared machine it varies with the load: compare iterations); "
        "L*n* = the ladder level that converged when not the first.",
        "",
        "| start | converged | same state | median it | total it | total time (s) | "
        "it saving vs EOS | time saving vs EOS |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for _, r in summary.iterrows():
        lines.append(
            f"| {START_LABELS[r['start']]} | {r['converged']}/{r['slabs']} | "
            f"{r['same_state']}/{r['slabs']} | {r['median_iterations']:.1f} | "
            f"{r['total_iterations']} | {r['total_wall_time']:.0f} | "
            f"{100 * r['iteration_saving_vs_eos']:+.1f}% | {100 * r['time_saving_vs_eos']:+.1f}% |"
        )
    lines += [
        "",
        "Savings are paired over the slabs where both runs converged: 1 − Σ start / Σ EOS-table "
        "(positive = fewer iterations or less time than the EOS-table start).",
        "",
    ]
    return "\n".join(lines)


def figure(table: pd.DataFrame, path: str | os.PathLike, title: str) -> None:
    """SCF iterations and wall time per start, one line per slab."""
    import matplotlib.pyplot as plt
    import seaborn as sns

    theme()
    ok = table[table["status"] == "ok"].copy()
    ok["start"] = pd.Categorical(
        ok["start"].map(START_LABELS), [START_LABELS[s] for s in STARTS], ordered=True
    )
    ok["state"] = ok["same_state"].map({True: "same state", False: "other state"})
    fig, axes = plt.subplots(1, 2, figsize=(12, 5))
    for ax, column, label in (
        (axes[0], "total_scf_iterations", "SCF iterations"),
        (axes[1], "wall_time", "wall time (s)"),
    ):
        sns.lineplot(
            data=ok, x="start", y=column, hue="slab_id", ax=ax, legend=False, alpha=0.5, sort=False
        )
        sns.scatterplot(
            data=ok, x="start", y=column, style="state", style_order=["same state", "other state"],
            color="black", ax=ax, s=60, legend=ax is axes[1],
        )  # fmt: skip
        ax.set_xlabel("initial moments")
        ax.set_ylabel(label)
    fig.suptitle(title, fontweight="bold")
    save(fig, path)


def write_page(
    record_paths: Sequence[str | os.PathLike],
    outputs: Mapping[str, str | os.PathLike],
    setup: Mapping,
) -> pd.DataFrame:
    """Read the per-slab records (older ones with their start names mapped,
    :func:`magmom.warm_start.current_record`); write ``outputs['csv']``, ``['md']`` and
    ``['figure']``."""
    records = [current_record(json.loads(Path(p).read_text()), str(p)) for p in record_paths]
    if not records:
        raise ValueError("no warm-start records: warm_start.slabs picked no slab")
    table = runs_table(records)
    summary = summary_table(table)
    with atomic_path(outputs["csv"]) as tmp:
        table.to_csv(tmp, index=False, float_format="%.8g")
    write_text(outputs["md"], markdown(table, summary, setup))
    title = f"DFT warm start: {table['slab_id'].nunique()} slabs, model {setup['model_id']}"
    figure(table, outputs["figure"], title)
    return summary
