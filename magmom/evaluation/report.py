r"""The ranking report: every GNN and baseline on one test split, ranked by MAE.

Outputs (all under ``results/report/``):

* ``ranking.csv`` / ``ranking.md``: rank, model, cutoff, MAE, RMSE, R², max error, atoms and
  slabs, plus the V/Cr/Mn-excluded MAE and R², for every model. A row that cannot be judged is
  listed without a rank and with a note: CHGNet zero-shot when the labels come from the CHGNet
  surrogate labeller (it would be scoring itself).
* ``cutoff_sweep.png``: test MAE against the graph cutoff, one line per GNN operator, with the
  cutoff-dependent baselines dashed and the cutoff-free ones as horizontal references.
* ``per_element.csv`` and ``per_element_heatmap.png``: MAE per element for every model, and the
  heatmap of elements × the ``top_n`` best models.
* ``deployment_cost.csv`` / ``.md``: parameters, load and inference time per 64-atom slab of the
  best cutoff of each architecture, with its test MAE.

Every figure and table states the number of atoms and slabs behind it and, for surrogate labels,
that the labels are not DFT.
"""

from __future__ import annotations

import json
import math
import textwrap
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from magmom.io import write_text

from .plots import MU_B, SURROGATE_NOTE, count, save, theme
from .provenance import surrogate_note

BASELINE_KINDS = ("element-mean", "linear", "xgboost", "chgnet-zeroshot", "chgnet-finetuned")
RANKING_COLUMNS = (
    "rank",
    "model",
    "family",
    "architecture",
    "cutoff",
    "residual",
    "MAE",
    "RMSE",
    "R2",
    "max_error",
    "n_atoms",
    "n_slabs",
    "MAE_excl",
    "R2_excl",
    "n_atoms_excl",
    "note",
)
NOT_MEANINGFUL = "not meaningful: labels are CHGNet's own predictions (scores itself)"
STARTS_FROM_LABELLER = "caution: fine-tuned from the CHGNet that produced the labels"
OFF_SCALE_FACTOR = 10.0
"""Cutoff sweep: MAEs above this multiple of the per-element-mean MAE are drawn at the cap."""


def parse_model_id(model_id: str) -> tuple[str, float | None, bool]:
    """Architecture, cutoff and residual flag of a model id.

    ``'cgconv-r4-res'`` → ``('cgconv', 4.0, True)``; ``'element-mean'`` → ``(.., None, False)``.
    """
    parts = model_id.split("-")
    residual = parts[-1] == "res"
    if residual:
        parts = parts[:-1]
    if len(parts) >= 2 and parts[-1].startswith("r"):
        try:
            return "-".join(parts[:-1]), float(parts[-1][1:]), residual
        except ValueError:
            pass
    return "-".join(parts), None, residual


def load_metrics(paths: Mapping[str, str | Path]) -> dict[str, dict]:
    """``{model_id: metrics}`` from the metrics JSON files of :mod:`magmom.evaluation.metrics`."""
    out = {}
    for model_id, path in paths.items():
        with open(path) as fh:
            out[model_id] = json.load(fh)
    return out


def _num(value) -> float:
    return math.nan if value is None else float(value)


def ranking_table(
    metrics: Mapping[str, Mapping], gnn_ids: Sequence[str], surrogate: bool
) -> pd.DataFrame:
    """One row per model, ranked by test MAE (ties share the lower rank order of their ids)."""
    rows = []
    gnn = set(gnn_ids)
    for model_id, m in metrics.items():
        arch, cutoff, residual = parse_model_id(model_id)
        note = ""
        if surrogate and model_id == "chgnet-zeroshot":
            note = NOT_MEANINGFUL
        elif surrogate and model_id == "chgnet-finetuned":
            note = STARTS_FROM_LABELLER
        a, x = m["all"], m["excluded"]
        rows.append(
            {
                "model": model_id,
                "family": "gnn" if model_id in gnn else "baseline",
                "architecture": arch,
                "cutoff": math.nan if cutoff is None else cutoff,
                "residual": residual,
                "MAE": _num(a["mae"]),
                "RMSE": _num(a["rmse"]),
                "R2": _num(a["r2"]),
                "max_error": _num(a["max_error"]),
                "n_atoms": int(a["n_atoms"]),
                "n_slabs": int(a["n_slabs"]),
                "MAE_excl": _num(x["mae"]),
                "R2_excl": _num(x["r2"]),
                "n_atoms_excl": int(x["n_atoms"]),
                "note": note,
            }
        )
    df = pd.DataFrame(rows)
    df["_flagged"] = df["note"] == NOT_MEANINGFUL
    df = df.sort_values(["_flagged", "MAE", "model"], kind="stable").reset_index(drop=True)
    ranked = ~df["_flagged"]
    df["rank"] = pd.array([pd.NA] * len(df), dtype="Int64")
    df.loc[ranked, "rank"] = np.arange(1, int(ranked.sum()) + 1)
    return df[list(RANKING_COLUMNS)]


def per_element_table(metrics: Mapping[str, Mapping]) -> pd.DataFrame:
    """Long table: model, element, MAE, RMSE, R2, n_atoms (all test atoms of that element)."""
    rows = [
        {
            "model": model_id,
            "element": el,
            "MAE": _num(v["mae"]),
            "RMSE": _num(v["rmse"]),
            "R2": _num(v["r2"]),
            "n_atoms": int(v["n_atoms"]),
        }
        for model_id, m in metrics.items()
        for el, v in m["all"]["per_element"].items()
    ]
    return pd.DataFrame(rows, columns=["model", "element", "MAE", "RMSE", "R2", "n_atoms"])


def _subtitle(n_atoms: int, n_slabs: int, surrogate: bool) -> str:
    text = f"test split: {count(n_atoms, 'atom')} in {count(n_slabs, 'slab')}"
    return text + (f"\n{SURROGATE_NOTE}" if surrogate else "")


def off_scale_cap(ranked: pd.DataFrame) -> float:
    """MAE above which the cutoff sweep draws a model at the cap: :data:`OFF_SCALE_FACTOR` times
    the per-element-mean MAE (times the median MAE of ``ranked`` without that baseline)."""
    floor = ranked.loc[ranked["model"] == "element-mean", "MAE"]
    return OFF_SCALE_FACTOR * float(floor.iloc[0] if len(floor) else ranked["MAE"].median())


def cutoff_sweep_figure(ranking: pd.DataFrame, path: str | Path, surrogate: bool) -> None:
    """Test MAE vs cutoff: one line per GNN operator (non-residual models), dashed lines for the
    cutoff-dependent baselines and horizontal references for the cutoff-free baselines."""
    import matplotlib.pyplot as plt
    import seaborn as sns

    theme()
    ok = ranking[ranking["rank"].notna()]
    gnn = ok[(ok["family"] == "gnn") & ~ok["residual"] & ok["cutoff"].notna()]
    tab = ok[ok["architecture"].isin(["linear", "xgboost"]) & ok["cutoff"].notna()]
    flat = ok[(ok["family"] == "baseline") & ok["cutoff"].isna()]
    res = ok[(ok["family"] == "gnn") & ok["residual"]]
    # Diverged models (MAE far above the per-element-mean floor) would squeeze every other line
    # into a sliver: draw them at a cap, marked with triangles and listed under the axes.
    cap = off_scale_cap(ok)
    off = pd.concat([gnn, tab, res])
    off = off[off["MAE"] > cap].sort_values("MAE")
    gnn, tab, res = (d.assign(MAE=d["MAE"].clip(upper=cap)) for d in (gnn, tab, res))
    fig, ax = plt.subplots(figsize=(14, 7), layout="constrained")
    archs = sorted(gnn["architecture"].unique())
    tab20 = sns.color_palette("tab20", 20)
    colours = [tab20[i] for i in [*range(0, 20, 2), *range(1, 20, 2)]]  # dark shades first
    palette = {a: colours[k % 20] for k, a in enumerate(archs)}
    if len(gnn):
        sns.lineplot(
            data=gnn,
            x="cutoff",
            y="MAE",
            hue="architecture",
            hue_order=archs,
            palette=palette,
            style="architecture",
            style_order=archs,
            markers=True,
            dashes=False,
            markersize=9,
            linewidth=2,
            ax=ax,
        )
    if len(res):
        ax.scatter(
            res["cutoff"],
            res["MAE"],
            marker="*",
            s=220,
            c="black",
            zorder=5,
            label="residual variants (*)",
        )
        for _, r in res.iterrows():
            ax.annotate(
                r["model"],
                (r["cutoff"], r["MAE"]),
                textcoords="offset points",
                xytext=(6, 4),
                fontsize="x-small",
            )
    for kind, colour in (("xgboost", "0.25"), ("linear", "0.55")):
        sub = tab[tab["architecture"] == kind].sort_values("cutoff")
        if len(sub):
            ax.plot(
                sub["cutoff"],
                sub["MAE"],
                ls="--",
                marker="s",
                color=colour,
                lw=2,
                label=f"{kind} (baseline)",
            )
    styles = [":", "-.", (0, (5, 1, 1, 1)), (0, (1, 1))]
    for k, (_, r) in enumerate(flat.iterrows()):
        ax.axhline(
            r["MAE"],
            color="0.35",
            ls=styles[k % len(styles)],
            lw=1.6,
            label=f"{r['model']} (baseline)",
        )
    if len(off):
        ax.scatter(off["cutoff"], [cap] * len(off), marker="^", s=140, c="black", zorder=6,
                   label=f"off scale (MAE > {cap:.3g} {MU_B})")  # fmt: skip
        listing = ", ".join(f"{r['model']} {r['MAE']:.3g}" for _, r in off.iterrows())
        text = textwrap.fill(
            f"Off scale, drawn at {cap:.3g} {MU_B} ({OFF_SCALE_FACTOR:g}x the per-element-mean "
            f"MAE): {listing}",
            width=130,
        )
        ax.text(0.0, -0.2, text, transform=ax.transAxes, va="top", ha="left", fontsize="x-small")
    shown = pd.concat([gnn["MAE"], tab["MAE"], flat["MAE"], res["MAE"]])
    if len(shown) and shown.min() > 0 and shown.max() / shown.min() > 4:
        from matplotlib.ticker import FormatStrFormatter, NullFormatter

        ax.set_yscale("log")
        ax.yaxis.set_major_formatter(FormatStrFormatter("%.3g"))
        if shown.max() / shown.min() < 30:  # within ~1.5 decades minor labels stay readable
            ax.yaxis.set_minor_formatter(FormatStrFormatter("%.3g"))
            ax.tick_params(axis="y", which="minor", labelsize="x-small")
        else:
            ax.yaxis.set_minor_formatter(NullFormatter())
        ax.set_ylabel(f"test MAE ({MU_B}, log scale)")
    else:
        ax.set_ylabel(f"test MAE ({MU_B})")
    cutoffs = sorted(set(gnn["cutoff"]) | set(tab["cutoff"]) | set(res["cutoff"]))
    if cutoffs:
        ax.set_xticks(cutoffs)
        ax.set_xticklabels([f"{c:g}" for c in cutoffs])
    ax.set_xlabel("graph cutoff radius (Å)")
    n_entries = len(ax.get_legend_handles_labels()[1])
    ax.legend(
        loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize="small", frameon=False,
        ncol=2 if n_entries > 14 else 1,
    )  # fmt: skip
    n_atoms = int(ok["n_atoms"].max()) if len(ok) else 0
    n_slabs = int(ok["n_slabs"].max()) if len(ok) else 0
    fig.suptitle("Test MAE vs graph cutoff per operator", fontweight="bold")
    ax.set_title(
        _subtitle(n_atoms, n_slabs, surrogate) + "; each point: one trained model",
        fontsize="small",
        fontweight="normal",
    )
    save(fig, path)


def heatmap_models(ranking: pd.DataFrame, top_n: int) -> list[str]:
    """The ``top_n`` best ranked models (unranked, flagged rows excluded)."""
    return ranking[ranking["rank"].notna()]["model"].head(top_n).tolist()


def per_element_heatmap(
    per_element: pd.DataFrame,
    ranking: pd.DataFrame,
    top_n: int,
    path: str | Path,
    surrogate: bool,
) -> None:
    """Per-element test MAE of the ``top_n`` best models (columns in rank order); rows are the
    elements, hardest first, each labelled with its number of test atoms."""
    import matplotlib.pyplot as plt
    import seaborn as sns

    theme()
    models = heatmap_models(ranking, top_n)
    sub = per_element[per_element["model"].isin(models)]
    wide = sub.pivot(index="element", columns="model", values="MAE").reindex(columns=models)
    wide = wide.loc[wide.mean(axis=1).sort_values(ascending=False).index]
    counts = sub.groupby("element")["n_atoms"].max()
    wide.index = [f"{el} (n={int(counts[el]):,})" for el in wide.index]
    n_rows, n_cols = wide.shape
    fig, ax = plt.subplots(
        figsize=(max(7.0, 1.05 * n_cols + 3.5), max(4.5, 0.48 * n_rows + 2.8)),
        layout="constrained",
    )
    sns.heatmap(
        wide,
        annot=n_cols * n_rows <= 400,
        fmt=".3f",
        cmap="rocket_r",
        ax=ax,
        linewidths=0.5,
        linecolor="white",
        annot_kws={"fontsize": "x-small"},
        cbar_kws={"label": f"test MAE ({MU_B})"},
    )
    ax.set_xlabel("model (best first)")
    ax.set_ylabel("element (test atoms)")
    ax.set_xticklabels(ax.get_xticklabels(), rotation=40, ha="right")
    n_atoms = int(ranking["n_atoms"].max()) if len(ranking) else 0
    n_slabs = int(ranking["n_slabs"].max()) if len(ranking) else 0
    fig.suptitle(f"Per-element test MAE of the {len(models)} best models", fontweight="bold")
    ax.set_title(_subtitle(n_atoms, n_slabs, surrogate), fontsize="small", fontweight="normal")
    save(fig, path)


def deployment_table(cost: pd.DataFrame, ranking: pd.DataFrame) -> pd.DataFrame:
    """Per architecture, the benchmarked model of lowest test MAE (non-residual), with its cost;
    the pretrained CHGNet row is kept as the foundation-model reference."""
    mae = ranking.set_index("model")[["MAE", "note"]]
    cost = cost.merge(mae, left_on="model_id", right_index=True, how="left")
    if "chgnet-finetuned" in mae.index:
        ref = cost["model_id"] == "chgnet-pretrained"
        cost.loc[ref, "MAE"] = mae.loc["chgnet-finetuned", "MAE"]
        cost.loc[ref, "note"] = "cost of the CHGNet architecture; MAE of chgnet-finetuned"
    gnn = cost[(cost["architecture"] != "chgnet") & ~cost["residual"].astype(bool)]
    best = (
        gnn.sort_values(["MAE", "model_id"], na_position="last")
        .groupby("architecture", sort=False)
        .head(1)
    )
    out = pd.concat([best, cost[cost["architecture"] == "chgnet"]]).sort_values(
        "MAE", na_position="last"
    )
    cols = [c for c in out.columns if c != "residual"]  # the cost file's columns, MAE, note
    return out[cols].rename(columns={"MAE": "test_MAE"}).fillna({"note": ""}).reset_index(drop=True)


def _fmt(value, digits: int = 4) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA:
        return "–"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def markdown_table(df: pd.DataFrame, digits: Mapping[str, int] | None = None) -> str:
    """A GitHub-markdown table of ``df`` (NaN shown as –)."""
    digits = dict(digits or {})
    header = "| " + " | ".join(df.columns) + " |"
    sep = "|" + "|".join("---" for _ in df.columns) + "|"
    lines = [header, sep]
    for _, row in df.iterrows():
        cells = [_fmt(row[c], digits.get(c, 4)) for c in df.columns]
        lines.append("| " + " | ".join(c.replace("|", "/") for c in cells) + " |")
    return "\n".join(lines)


def ranking_markdown(
    ranking: pd.DataFrame,
    per_element: pd.DataFrame,
    cost_table: pd.DataFrame,
    provenance: Mapping,
    excluded_elements: Sequence[str],
    top_n: int,
    cap_note: str = "",
) -> str:
    """``ranking.md``: the banner, the ranking, and the captions of every figure with counts;
    ``cap_note`` (Markdown, :func:`magmom.graphs.cap_stats.cap_markdown`) follows the sweep."""
    note = surrogate_note(provenance)
    n_atoms = int(ranking["n_atoms"].max())
    n_slabs = int(ranking["n_slabs"].max())
    excl = "/".join(sorted(excluded_elements)) or "none"
    target = "|m|" if provenance.get("target", "abs") == "abs" else "signed m"
    lines = [f"# magmom21 ranking: {len(ranking)} models on the test split", ""]
    if note:
        lines += [f"> **Surrogate labels.** {note}", ""]
    labellers = ", ".join(
        f"{k} ({count(v, 'slab')})" for k, v in provenance.get("labellers", {}).items()
    )
    lines += [
        f"Test split: **{count(n_slabs, 'slab')}, {count(n_atoms, 'atom')}**; "
        f"target {target} in μB; labels from: {labellers or 'unknown'}. Dataset slabs per split: "
        + ", ".join(f"{k} {v:,}" for k, v in provenance.get("n_slabs", {}).items())
        + ".",
        "",
    ]
    if ranking["n_atoms"].nunique() > 1:
        lines += [
            "**Warning:** the models were not scored on the same number of test atoms "
            f"({', '.join(str(v) for v in sorted(ranking['n_atoms'].unique()))}); "
            "compare rows with care.",
            "",
        ]
    show = ranking.assign(
        cutoff=ranking["cutoff"].map(lambda c: "–" if pd.isna(c) else f"{c:g} Å"),
        rank=ranking["rank"].map(lambda r: "–" if pd.isna(r) else str(int(r))),
    )[
        [
            "rank",
            "model",
            "cutoff",
            "MAE",
            "RMSE",
            "R2",
            "max_error",
            "n_atoms",
            "n_slabs",
            "MAE_excl",
            "R2_excl",
            "note",
        ]
    ]
    show = show.rename(
        columns={
            "MAE": "MAE (μB)",
            "RMSE": "RMSE (μB)",
            "R2": "R²",
            "max_error": "max error (μB)",
            "MAE_excl": f"MAE w/o {excl}",
            "R2_excl": f"R² w/o {excl}",
        }
    )
    lines += [
        "## Ranking by test MAE",
        "",
        f"All {count(n_atoms, 'test atom')} in {count(n_slabs, 'slab')} per row; "
        f"the last two metric columns drop the {excl} atoms "
        f"({count(int(ranking['n_atoms_excl'].max()), 'atom')} left).",
        "",
        markdown_table(show, {"max error (μB)": 3}),
        "",
        "## Figures",
        "",
        "![cutoff sweep](cutoff_sweep.png)",
        "",
        f"*Cutoff sweep*: test MAE against the graph cutoff, one line per GNN operator; dashed: "
        f"linear/XGBoost baselines; horizontal: cutoff-free baselines. Every point is one model "
        f"scored on {count(n_atoms, 'atom')} in {count(n_slabs, 'slab')}.",
        "",
        *([cap_note, ""] if cap_note else []),
        "![per-element heatmap](per_element_heatmap.png)",
        "",
        f"*Per-element MAE* of the {min(top_n, int(ranking['rank'].notna().sum()))} best models "
        f"(full table: per_element.csv); atoms per element:",
        "",
    ]
    counts = per_element.groupby("element")["n_atoms"].max().sort_values(ascending=False)
    lines += [
        ", ".join(f"{el} {int(n):,}" for el, n in counts.items()) + ".",
        "",
        "## Deployment cost (one 64-atom slab)",
        "",
        "Best cutoff of each architecture by test MAE; load = checkpoint file to model ready; "
        "inference = median forward pass without graph construction.",
        "",
        markdown_table(
            cost_table[
                [
                    "model_id",
                    "parameters",
                    "load_s",
                    "load_warm_s",
                    "cpu_ms",
                    "cuda_ms",
                    "test_MAE",
                    "note",
                ]
            ].rename(
                columns={
                    "load_s": "load (s)",
                    "load_warm_s": "warm load (s)",
                    "cpu_ms": "CPU (ms)",
                    "cuda_ms": "CUDA (ms)",
                    "test_MAE": "test MAE (μB)",
                }
            ),
            {"load (s)": 3, "warm load (s)": 3, "CPU (ms)": 2, "CUDA (ms)": 2},
        ),
        "",
    ]
    if note:
        lines += [f"> **Surrogate labels.** {note}", ""]
    return "\n".join(lines)


def build_report(
    metrics_paths: Mapping[str, str | Path],
    gnn_ids: Sequence[str],
    cost_csv: str | Path,
    provenance: Mapping,
    outputs: Mapping[str, str | Path],
    excluded_elements: Sequence[str],
    top_n: int,
    cap_note: str = "",
) -> pd.DataFrame:
    """Write every report output (keys of ``outputs``: ranking_csv, ranking_md, cutoff_sweep,
    per_element_csv, heatmap, cost_csv, cost_md); return the ranking. ``cap_note``: what the
    neighbour cap does per cutoff, placed under the cutoff sweep in ``ranking.md``."""
    from magmom.io import atomic_path

    metrics = load_metrics(metrics_paths)
    surrogate = bool(provenance.get("surrogate"))
    ranking = ranking_table(metrics, gnn_ids, surrogate)
    per_element = per_element_table(metrics)
    cost = deployment_table(pd.read_csv(cost_csv), ranking)

    for key, frame in (
        ("ranking_csv", ranking),
        ("per_element_csv", per_element),
        ("cost_csv", cost),
    ):
        with atomic_path(outputs[key]) as tmp:
            frame.to_csv(tmp, index=False, float_format="%.6g")
    cutoff_sweep_figure(ranking, outputs["cutoff_sweep"], surrogate)
    per_element_heatmap(per_element, ranking, top_n, outputs["heatmap"], surrogate)
    write_text(
        outputs["ranking_md"],
        ranking_markdown(
            ranking, per_element, cost, provenance, excluded_elements, top_n, cap_note
        ),
    )
    cost_md = ["# Deployment cost (one 64-atom slab)", ""]
    if surrogate_note(provenance):
        cost_md += [f"> **Surrogate labels.** {surrogate_note(provenance)}", ""]
    cost_md += [
        markdown_table(cost, {"load_s": 3, "load_warm_s": 3, "cpu_ms": 2, "cuda_ms": 2}),
        "",
    ]
    write_text(outputs["cost_md"], "\n".join(cost_md))
    return ranking
