"""The report's markdown pages: ``ranking.md`` (banner, ranking, figure captions, deployment cost)
and ``deployment_cost.md``. Every page states the test atoms and slabs behind its numbers and, for
surrogate labels, says so at its top and bottom."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import pandas as pd

from magmom.evaluation.plots import count
from magmom.evaluation.provenance import reduced_settings_note, surrogate_note

from .seed_spread import seed_column
from .tables import OFF_SCALE_FACTOR, is_diverged

RANKING_SHOWN = {  # ranking column -> markdown header ({excl}: the excluded elements)
    "rank": "rank",
    "model": "model",
    "cutoff": "cutoff",
    "MAE": "MAE (μB)",
    "MAE_low": "95 % low",
    "MAE_high": "95 % high",
    "tied_with": "tied with rank",
    "RMSE": "RMSE (μB)",
    "R2": "R²",
    "max_error": "max error (μB)",
    "n_atoms": "n_atoms",
    "n_slabs": "n_slabs",
    "MAE_excl": "MAE w/o {excl}",
    "R2_excl": "R² w/o {excl}",
    "note": "note",
}
COST_SHOWN = {  # deployment table column -> markdown header
    "model_id": "model_id",
    "parameters": "parameters",
    "load_s": "load (s)",
    "load_warm_s": "warm load (s)",
    "cpu_ms": "CPU (ms)",
    "cuda_ms": "CUDA (ms)",
    "test_MAE": "test MAE (μB)",
    "note": "note",
}
COST_DIGITS = {"load_s": 3, "load_warm_s": 3, "cpu_ms": 2, "cuda_ms": 2}
COST_TITLE = "Deployment cost (one 64-atom slab)"


def _fmt(value, digits: int = 4) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA:
        return "–"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def markdown_table(df: pd.DataFrame, digits: Mapping[str, int] | None = None) -> str:
    """A GitHub-markdown table of ``df`` (NaN shown as –; ``digits`` per column, default 4)."""
    digits = dict(digits or {})
    header = "| " + " | ".join(df.columns) + " |"
    sep = "|" + "|".join("---" for _ in df.columns) + "|"
    lines = [header, sep]
    for _, row in df.iterrows():
        cells = [_fmt(row[c], digits.get(c, 4)) for c in df.columns]
        lines.append("| " + " | ".join(c.replace("|", "/") for c in cells) + " |")
    return "\n".join(lines)


def _renamed(df: pd.DataFrame, headers: Mapping[str, str], digits: Mapping[str, int]):
    """``df[headers]`` renamed to the headers, and ``digits`` keyed by the new names."""
    return (
        df[list(headers)].rename(columns=dict(headers)),
        {headers[k]: v for k, v in digits.items() if k in headers},
    )


def _banner(note: str | None) -> list[str]:
    return [f"> **Surrogate labels.** {note}", ""] if note else []


def _reduced_banner(provenance: Mapping) -> list[str]:
    note = reduced_settings_note(provenance)
    return [f"> **DFT labels at reduced settings.** {note}", ""] if note else []


def _header(ranking: pd.DataFrame, provenance: Mapping) -> list[str]:
    """Title, surrogate banner, test split and labellers, unequal-atom-count warning."""
    n_atoms, n_slabs = int(ranking["n_atoms"].max()), int(ranking["n_slabs"].max())
    target = "|m|" if provenance.get("target", "abs") == "abs" else "signed m"
    labellers = ", ".join(
        f"{k} ({count(v, 'slab')})" for k, v in provenance.get("labellers", {}).items()
    )
    per_split = ", ".join(f"{k} {v:,}" for k, v in provenance.get("n_slabs", {}).items())
    lines = [f"# magmom21 ranking: {len(ranking)} models on the test split", ""]
    lines += _banner(surrogate_note(provenance))
    lines += _reduced_banner(provenance)
    lines += [
        f"Test split: **{count(n_slabs, 'slab')}, {count(n_atoms, 'atom')}**; target {target} in "
        f"μB; labels from: {labellers or 'unknown'}. Dataset slabs per split: {per_split}.",
        "",
    ]
    if ranking["n_atoms"].nunique() > 1:
        counts = ", ".join(str(v) for v in sorted(ranking["n_atoms"].unique()))
        lines += [
            "**Warning:** the models were not scored on the same number of test atoms "
            f"({counts}); compare rows with care.",
            "",
        ]
    return lines


def _ranking_section(ranking: pd.DataFrame, excl: str) -> list[str]:
    n_atoms, n_slabs = int(ranking["n_atoms"].max()), int(ranking["n_slabs"].max())
    show = ranking.assign(
        cutoff=ranking["cutoff"].map(lambda c: "–" if pd.isna(c) else f"{c:g} Å"),
        rank=ranking["rank"].map(lambda r: "–" if pd.isna(r) else str(int(r))),
        tied_with=ranking["tied_with"].map(lambda r: "–" if pd.isna(r) else str(int(r))),
    )
    headers = {k: v.format(excl=excl) for k, v in RANKING_SHOWN.items()}
    table, digits = _renamed(show, headers, {"max_error": 3})
    lines = [
        "## Ranking by test MAE",
        "",
        f"All {count(n_atoms, 'test atom')} in {count(n_slabs, 'slab')} per row; "
        f"the last two metric columns drop the {excl} atoms "
        f"({count(int(ranking['n_atoms_excl'].max()), 'atom')} left). 95 % low/high: bootstrap "
        "interval of the MAE over test slabs; a model whose interval overlaps that of a better "
        "rank is tied with the best such rank.",
        "",
        markdown_table(table, digits),
        "",
    ]
    diverged = ranking.loc[is_diverged(ranking), "model"].tolist()
    if diverged:
        lines += [
            f"**Diverged:** {', '.join(diverged)} ended with a test MAE over "
            f"{OFF_SCALE_FACTOR:g}x that of the per-element mean: their training did not "
            "converge, and their numbers say nothing about what the architecture can learn.",
            "",
        ]
    return lines


def _seed_section(seed_spread: pd.DataFrame) -> list[str]:
    """The seed replicates: each replicated model's MAE per seed, mean, std, range against the
    gaps to its neighbouring ranks (:mod:`~.seed_spread`)."""
    seeds = str(seed_spread["seeds"].iloc[0]).split()  # the same seeds on every row
    within = seed_spread.loc[seed_spread["spread_exceeds_gap"].astype(bool), "model"].tolist()
    show = seed_spread.assign(
        spread_exceeds_gap=seed_spread["spread_exceeds_gap"].map(
            lambda v: "yes" if bool(v) else "no"
        )
    )
    headers = {
        "rank": "rank",
        "model": "model",
        **{seed_column(int(s)): f"MAE seed {s} (μB)" for s in seeds},
        "MAE_mean": "mean (μB)",
        "MAE_std": "std (μB)",
        "MAE_min": "min (μB)",
        "MAE_max": "max (μB)",
        "gap_above": "gap to rank above (μB)",
        "gap_below": "gap to rank below (μB)",
        "spread_exceeds_gap": "seed range > a gap",
    }
    table, digits = _renamed(show, headers, {})
    verdict = (
        f"**The seed range exceeds a gap to a neighbouring rank for {', '.join(within)}**: "
        "their places in the ranking are within seed noise."
        if within
        else "No replicated model's seed range exceeds the gaps to its neighbouring ranks."
    )
    return [
        "## Seed replicates",
        "",
        f"Replicated: the {count(len(seed_spread), 'best seed-dependent model')} by test MAE "
        f"(among the GNNs and the fine-tuned CHGNet), each trained with seeds {', '.join(seeds)} "
        "(the first is training.seed, the ranking's run), all else equal. std: sample standard "
        "deviation over the seeds; gaps: to the neighbouring ranks of the ranking above "
        "(original seed); "
        "'seed range > a gap' when max − min over the seeds is larger than the smaller gap. The "
        "deterministic baselines (per-element mean, linear, XGBoost, CHGNet zero-shot) have no "
        "seed replicates. Full table: seed_spread.csv.",
        "",
        markdown_table(table, digits),
        "",
        verdict,
        "",
    ]


def _figures_section(
    ranking: pd.DataFrame, per_element: pd.DataFrame, top_n: int, cap_note: str = ""
) -> list[str]:
    n_atoms, n_slabs = int(ranking["n_atoms"].max()), int(ranking["n_slabs"].max())
    counts = per_element.groupby("element")["n_atoms"].max().sort_values(ascending=False)
    n_best = min(top_n, int(ranking["rank"].notna().sum()))
    return [
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
        f"*Per-element MAE* of the {n_best} best models (full table: per_element.csv); atoms per "
        "element:",
        "",
        ", ".join(f"{el} {int(n):,}" for el, n in counts.items()) + ".",
        "",
    ]


def _cost_section(cost_table: pd.DataFrame) -> list[str]:
    table, digits = _renamed(cost_table, COST_SHOWN, COST_DIGITS)
    return [
        f"## {COST_TITLE}",
        "",
        "Best cutoff of each architecture by test MAE; load = checkpoint file to model ready; "
        "inference = median forward pass without graph construction.",
        "",
        markdown_table(table, digits),
        "",
    ]


def ranking_markdown(
    ranking: pd.DataFrame,
    per_element: pd.DataFrame,
    cost_table: pd.DataFrame,
    provenance: Mapping,
    excluded_elements: Sequence[str],
    top_n: int,
    cap_note: str = "",
    seed_spread: pd.DataFrame | None = None,
) -> str:
    """``ranking.md``: the banner, the ranking, the seed replicates (``seed_spread``, the table of
    :func:`~.seed_spread.seed_spread_table`, when there are any), the captions of every figure
    with counts, and the deployment cost; ``cap_note`` (Markdown,
    :func:`magmom.graphs.cap_report.cap_markdown`: what the neighbour cap does per cutoff)
    follows the cutoff sweep."""
    excl = "/".join(sorted(excluded_elements)) or "none"
    lines = _header(ranking, provenance)
    lines += _ranking_section(ranking, excl)
    if seed_spread is not None and len(seed_spread):
        lines += _seed_section(seed_spread)
    lines += _figures_section(ranking, per_element, top_n, cap_note)
    lines += _cost_section(cost_table)
    lines += _banner(surrogate_note(provenance))
    return "\n".join(lines)


def cost_markdown(cost_table: pd.DataFrame, provenance: Mapping) -> str:
    """``deployment_cost.md``: the full deployment table (every column of the cost file)."""
    lines = [f"# {COST_TITLE}", ""]
    lines += _banner(surrogate_note(provenance))
    lines += [markdown_table(cost_table, COST_DIGITS), ""]
    return "\n".join(lines)
