r"""The warm-start page: a paired table per slab and start, a summary, and a seaborn figure.

Input: the per-slab records of :mod:`magmom.warm_start.scf` (``results/warm_start/{model}/slabs/
{slab_id}.json``). Outputs (``results/report/warm_start.*``):

* ``warm_start.csv``: one row per slab and start of :data:`magmom.warm_start.STARTS`
  (:data:`COLUMNS`; ``de``, ``max_abs_dm``, ``same_state`` and ``state`` at equal settings,
  :mod:`magmom.dft.equal_settings`; ``de_own_level``: the energy difference at the ladder levels
  the two runs converged on; ``wall_time`` = ``scf_wall_time`` + ``start_time``, the model's
  prediction time included; ``duplicate_of``: the start whose run was reused because its moments
  were the same; a start an older record lacks has status ``missing``);
* ``warm_start.md``: the setup, the paired table (per slab: SCF iterations, wall time and where
  the start ended against the converged state, for every start; whether the runs used the
  GPAW labels' own DFT settings, ``label_settings``) and the summary per start:
  runs, runs that converged, the fractions of runs in the same, a lower, a higher or a degenerate
  state (:data:`magmom.warm_start.STATES`) and in the same or a lower one, median and total SCF
  iterations (failed ladder levels counted at their ``maxiter``, and runs that failed every level
  included) and wall time, and the paired saving against the EOS-table start,

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

from magmom.dft.initial_moments import EOS, FLOOR, MATERIALS_PROJECT
from magmom.io import atomic_path, write_text
from magmom.warm_start import STARTS, STATES, current_record, final_state

from ..plots import save, theme

COLUMNS = (
    "slab_id",
    "formula",
    "n_atoms",
    "start",
    "status",
    "duplicate_of",
    "ladder_level",
    "scf_iterations",
    "total_scf_iterations",
    "scf_wall_time",
    "start_time",
    "wall_time",
    "energy",
    "de",
    "de_own_level",
    "max_abs_dm",
    "mean_abs_dm",
    "same_state",
    "state",
    "initial_total_magmom",
    "final_total_magmom",
    "converged_source",
    "label_settings",
)
START_LABELS = {
    EOS: "EOS table",
    FLOOR: "floor",
    MATERIALS_PROJECT: "Materials Project",
    "uniform": "uniform",
    "model": "model",
    "converged": "DFT-converged",
}
DEFAULT_MAX_ABS_DE = 0.01
"""eV: ``warm_start.same_state.max_abs_de`` of ``config.yaml``, for records without ``state``
when the setup does not give it."""


def runs_table(records: Sequence[Mapping], max_abs_de: float | None = None) -> pd.DataFrame:
    """One row per slab and start (:data:`COLUMNS`), slabs in id order, starts in STARTS order;
    a run without ``state`` (records before schema 4) gets it from ``same_state`` and ``de``
    with ``max_abs_de`` (eV, :func:`magmom.warm_start.final_state`)."""
    de_tol = DEFAULT_MAX_ABS_DE if max_abs_de is None else float(max_abs_de)
    rows = []
    for rec in sorted(records, key=lambda r: r["slab_id"]):
        for start in STARTS:
            run = rec["runs"].get(start, {})
            final = run.get("final_magmoms")
            initial = run.get("initial_magmoms")
            scf_time, start_time = run.get("wall_time"), run.get("start_time")
            state = run.get("state", final_state(run.get("same_state"), run.get("de"), de_tol))
            rows.append(
                {
                    "slab_id": rec["slab_id"],
                    "formula": rec["formula"],
                    "n_atoms": rec["n_atoms"],
                    "start": start,
                    "status": run.get("status", "missing"),
                    "duplicate_of": run.get("duplicate_of"),
                    "ladder_level": run.get("ladder_level"),
                    "scf_iterations": run.get("scf_iterations"),
                    "total_scf_iterations": run.get("total_scf_iterations"),
                    "scf_wall_time": scf_time,
                    "start_time": start_time,
                    "wall_time": None
                    if scf_time is None
                    else float(scf_time) + float(start_time or 0.0),
                    "energy": run.get("energy"),
                    "de": run.get("de"),
                    "de_own_level": run.get("de_own_level"),
                    "max_abs_dm": run.get("max_abs_dm"),
                    "mean_abs_dm": run.get("mean_abs_dm"),
                    "same_state": run.get("same_state"),
                    "state": state,
                    "initial_total_magmom": float(np.sum(initial)) if initial else None,
                    "final_total_magmom": float(np.sum(final)) if final else None,
                    "converged_source": rec["converged_source"],
                    "label_settings": rec.get("label_settings"),
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
    """Per start: its runs (slabs where it ran; ``missing`` rows of older records left out),
    converged runs, runs reused from a start of the same moments, the count and fraction of runs
    in each of :data:`magmom.warm_start.STATES` (fractions of all its runs: a failed run or one
    without a comparison is in none) and in the same or a lower state, median and total SCF
    iterations and wall time over every run that has them (failed ladder levels counted at their
    ``maxiter``; runs that failed every level included), the model's prediction time within that
    wall time, paired savings against the EOS-table start."""
    rows = []
    for start in STARTS:
        sub = table[(table["start"] == start) & (table["status"] != "missing")]
        ok = sub[sub["status"] == "ok"]
        counted = sub[sub["total_scf_iterations"].notna()]
        it_saving, n_pairs = _paired_saving(table, start, "total_scf_iterations")
        time_saving, _ = _paired_saving(table, start, "wall_time")
        n = len(sub)
        row = {"start": start, "slabs": n, "converged": len(ok)}
        row["reused"] = int(sub["duplicate_of"].notna().sum())
        row["same_state"] = int((sub["state"] == "same").sum())
        for state in STATES:
            row[f"{state}_fraction"] = (sub["state"] == state).sum() / n if n else float("nan")
        row["same_or_lower_fraction"] = row["same_fraction"] + row["lower_fraction"]
        iterations = counted["total_scf_iterations"].astype(float)
        row |= {
            "median_iterations": float(iterations.median()) if len(counted) else float("nan"),
            "total_iterations": int(iterations.sum()),
            "total_wall_time": float(counted["wall_time"].astype(float).sum()),
            "start_time": float(counted["start_time"].astype(float).sum()),
            "start_time_missing": int(counted["start_time"].isna().sum()),
            "iteration_saving_vs_eos": it_saving,
            "time_saving_vs_eos": time_saving,
            "pairs": n_pairs,
        }
        rows.append(row)
    return pd.DataFrame(rows)


STATE_WORDS = {
    "same": "same",
    "lower": "**lower state**",
    "higher": "**higher state**",
    "degenerate": "**other moments, same energy**",
}


def _cell(row: pd.Series) -> str:
    if row["status"] == "missing":
        return "not run"
    reused = (
        f" (= {START_LABELS.get(row['duplicate_of'], row['duplicate_of'])} run)"
        if isinstance(row["duplicate_of"], str)
        else ""
    )
    if row["status"] != "ok":
        return "failed" + reused
    state = STATE_WORDS.get(row["state"], "?")
    level = f", L{int(row['ladder_level'])}" if row["ladder_level"] else ""
    return (
        f"{int(row['total_scf_iterations'])} it, {row['wall_time']:.0f} s, {state}{level}{reused}"
    )


def _label_settings_words(table: pd.DataFrame) -> str:
    """How many slabs ran at their GPAW label's own DFT settings, naming those that did not
    (empty when no label is DFT)."""
    per_slab = table.groupby("slab_id", sort=True)["label_settings"].first()
    known = per_slab.dropna()
    if known.empty:
        return ""
    equal = int((known == "equal").sum())
    words = f" DFT settings: the labels' own on {equal} of {len(per_slab)} slab(s)"
    other = list(known.index[known == "different"])
    if other:
        words += (
            f"; **other than the label's on {', '.join(other)}**: their DFT-converged start is "
            "converged at the label's settings, not at these"
        )
    return words + "."


def _percent(x: float) -> str:
    return "—" if pd.isna(x) else f"{100 * x:.0f}%"


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
        "experiment, since the labels are not DFT)." + _label_settings_words(table),
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
        "the single point, the model's prediction time included (on a shared machine it varies "
        "with the load: compare iterations); L*n* = the ladder level that converged when not "
        "the first; (= *start* run): the moments were those of that start, whose run is reused; "
        "not run: the record predates the start. States against the converged run at equal "
        "settings: same, or a lower/higher energy by more than the ΔE bound, or other moments "
        "at the same energy.",
        "",
        "| start | runs | converged | same | lower | higher | same or lower | median it | "
        "total it | total time (s) | it saving vs EOS | time saving vs EOS |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for _, r in summary.iterrows():
        reused = f" ({r['reused']} reused)" if r["reused"] else ""
        lines.append(
            f"| {START_LABELS[r['start']]} | {r['slabs']}{reused} | {r['converged']} | "
            f"{_percent(r['same_fraction'])} | {_percent(r['lower_fraction'])} | "
            f"{_percent(r['higher_fraction'])} | {_percent(r['same_or_lower_fraction'])} | "
            f"{r['median_iterations']:.1f} | {r['total_iterations']} | "
            f"{r['total_wall_time']:.0f} | {100 * r['iteration_saving_vs_eos']:+.1f}% | "
            f"{100 * r['time_saving_vs_eos']:+.1f}% |"
        )
    model = summary.set_index("start").loc["model"]
    lines += [
        "",
        "Fractions are of the start's runs (a failed run is in none). Iterations and times are "
        "over every run, failed ones included; savings are paired over the slabs where both "
        "runs converged: 1 − Σ start / Σ EOS-table (positive = fewer iterations or less time "
        f"than the EOS-table start). The model's wall time includes {model['start_time']:.2f} s "
        "of prediction"
        + (
            f" ({int(model['start_time_missing'])} run(s) of older starts files without a recorded "
            "prediction time counted at 0 s)"
            if model["start_time_missing"]
            else ""
        )
        + ".",
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
    words = {"same": "same state", "lower": "lower state", "higher": "higher state"}
    ok["state"] = ok["state"].map(words).fillna("other or unknown")
    fig, axes = plt.subplots(1, 2, figsize=(12, 5))
    for ax, column, label in (
        (axes[0], "total_scf_iterations", "SCF iterations"),
        (axes[1], "wall_time", "wall time (s)"),
    ):
        sns.lineplot(
            data=ok, x="start", y=column, hue="slab_id", ax=ax, legend=False, alpha=0.5, sort=False
        )
        sns.scatterplot(
            data=ok, x="start", y=column, style="state",
            style_order=[*words.values(), "other or unknown"],
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
    table = runs_table(records, setup.get("max_abs_de"))
    summary = summary_table(table)
    with atomic_path(outputs["csv"]) as tmp:
        table.to_csv(tmp, index=False, float_format="%.8g")
    write_text(outputs["md"], markdown(table, summary, setup))
    title = f"DFT warm start: {table['slab_id'].nunique()} slabs, model {setup['model_id']}"
    figure(table, outputs["figure"], title)
    return summary
