"""The ranking as a figure: every ranked model's test MAE with its 95 % bootstrap interval.

The HTML report shows figures inline but tables only as downloads, so the scores themselves are
drawn: one horizontal bar per model (best at the top, coloured by family: GNN, residual GNN,
baseline), the interval over test slabs as an error bar (``MAE_low`` .. ``MAE_high``,
:mod:`~.tables`), the MAE written beside each bar, and the models tied with the best (intervals
overlapping rank 1's) marked. Rows without a rank (a baseline scoring its own labels) and
diverged models are left out of the axis and named in the subtitle instead.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from magmom.evaluation.plots import MU_B, save, split_subtitle, theme

from .tables import is_diverged

FAMILY_COLOURS = {"gnn": "#4c72b0", "gnn-res": "#55a868", "baseline": "#c44e52"}


def ranking_figure(ranking: pd.DataFrame, path: str | Path, surrogate: bool):
    """Draw the ranked rows of ``ranking`` (:func:`~.tables.ranking_table`) into ``path``;
    returns the (closed) figure."""
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch

    theme()
    ranked = ranking[ranking["rank"].notna()]
    shown = ranked[~is_diverged(ranked)].sort_values("rank")
    left_out = [m for m in ranking["model"] if m not in set(shown["model"])]
    family = [
        "gnn-res" if f == "gnn" and str(r).lower() == "true" else str(f)
        for f, r in zip(shown["family"], shown["residual"], strict=True)
    ]
    n = len(shown)
    fig, ax = plt.subplots(figsize=(8.0, max(3.0, 0.32 * n + 1.8)), layout="constrained")
    y = list(range(n))
    mae = shown["MAE"].to_numpy(float)
    low = shown.get("MAE_low", shown["MAE"]).to_numpy(float)
    high = shown.get("MAE_high", shown["MAE"]).to_numpy(float)
    ax.barh(y, mae, color=[FAMILY_COLOURS.get(f, "#8172b3") for f in family], alpha=0.85)
    # an interval may be missing (NaN: metrics without it) or, rarely, not contain the estimate
    below = np.nan_to_num(np.clip(mae - low, 0, None))
    above = np.nan_to_num(np.clip(high - mae, 0, None))
    ax.errorbar(mae, y, xerr=[below, above], fmt="none", ecolor="black", capsize=2)
    tied = shown.get("tied_with", shown["rank"]).to_numpy()
    for k, (value, rank) in enumerate(zip(mae, tied, strict=True)):
        mark = " (tied with #1)" if rank == 1 and k > 0 else ""
        ax.text(
            max(high[k], value) * 1.01, k, f"{value:.3f}{mark}", va="center", fontsize="x-small"
        )
    ax.set_yticks(y, [f"{int(r)}. {m}" for r, m in zip(shown["rank"], shown["model"], strict=True)])
    ax.invert_yaxis()
    ax.set_xlim(0, float((mae + above).max(initial=0)) * 1.25 or 1.0)
    ax.set_xlabel(f"test MAE ({MU_B}), 95 % bootstrap interval over test slabs")
    handles = [Patch(color=c, label=f) for f, c in FAMILY_COLOURS.items() if f in family]
    ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize="small")
    n_atoms = int(ranking["n_atoms"].max()) if len(ranking) else 0
    n_slabs = int(ranking["n_slabs"].max()) if len(ranking) else 0
    subtitle = split_subtitle(n_atoms, n_slabs, surrogate)
    if left_out:
        subtitle += f"\nnot drawn (unranked or diverged): {', '.join(left_out)}"
    fig.suptitle("Ranking by test MAE", fontweight="bold")
    ax.set_title(subtitle, fontsize="small", fontweight="normal")
    save(fig, path)
    return fig
