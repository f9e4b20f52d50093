"""The per-element heatmap: test MAE of every element for the best ranked models."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from magmom.evaluation.plots import MU_B, save, split_subtitle, theme

from .tables import top_ranked_models


def heatmap_frame(per_element: pd.DataFrame, models: list[str]) -> pd.DataFrame:
    """Elements x ``models`` (in that order) of per-element MAE; rows hardest first, each labelled
    with its number of test atoms (``'Fe (n=1,024)'``)."""
    sub = per_element[per_element["model"].isin(models)]
    wide = sub.pivot(index="element", columns="model", values="MAE").reindex(columns=models)
    wide = wide.loc[wide.mean(axis=1).sort_values(ascending=False).index]
    counts = sub.groupby("element")["n_atoms"].max()
    wide.index = [f"{el} (n={int(counts[el]):,})" for el in wide.index]
    return wide


def per_element_heatmap(
    per_element: pd.DataFrame,
    ranking: pd.DataFrame,
    top_n: int,
    path: str | Path,
    surrogate: bool,
):
    """Per-element test MAE of the ``top_n`` best models (columns in rank order) into ``path``;
    returns the (closed) figure."""
    import matplotlib.pyplot as plt
    import seaborn as sns

    theme()
    models = top_ranked_models(ranking, top_n)
    wide = heatmap_frame(per_element, models)
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
    # horizontal element labels: seaborn turns them vertical when rows are few, and then the
    # labels ('Fe (n=1,024)') overlap each other
    ax.set_yticklabels(ax.get_yticklabels(), rotation=0)
    n_atoms = int(ranking["n_atoms"].max()) if len(ranking) else 0
    n_slabs = int(ranking["n_slabs"].max()) if len(ranking) else 0
    fig.suptitle(f"Per-element test MAE of the {len(models)} best models", fontweight="bold")
    ax.set_title(split_subtitle(n_atoms, n_slabs, surrogate), fontsize="small",
                 fontweight="normal")  # fmt: skip
    save(fig, path)
    return fig
