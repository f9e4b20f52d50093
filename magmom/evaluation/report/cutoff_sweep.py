"""The cutoff-sweep figure: test MAE against the graph cutoff radius.

One line per GNN operator (its plain models; its residual-target models when it has no plain ones,
``models.residual_target``), stars for residual variants beside plain models, dashed lines for
the cutoff-dependent baselines (linear, XGBoost) and horizontal lines for the cutoff-free ones
(per-element mean, CHGNet). Diverged models (:func:`~.tables.divergence_floor`) would squeeze every
other line into a sliver: they are drawn at the cap as triangles and listed under the axes.
"""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import NamedTuple

import pandas as pd

from magmom.evaluation.plots import MU_B, save, split_subtitle, theme

from .tables import OFF_SCALE_FACTOR, divergence_floor

TABULAR_STYLE = {"xgboost": "0.25", "linear": "0.55"}
"""Cutoff-dependent baselines and the grey of their dashed line."""
FLAT_STYLES = [":", "-.", (0, (5, 1, 1, 1)), (0, (1, 1))]
"""Line styles of the horizontal cutoff-free baselines, in turn."""


class SweepGroups(NamedTuple):
    """The ranked rows of a ranking, split by how the sweep draws them (MAEs clipped at ``cap``)."""

    gnn: pd.DataFrame  # one line per architecture (plain models, else residual ones)
    residual: pd.DataFrame  # residual variants of operators that also have plain models: stars
    tabular: pd.DataFrame  # linear / XGBoost at each cutoff: dashed lines
    flat: pd.DataFrame  # cutoff-free baselines: horizontal lines
    off_scale: pd.DataFrame  # every GNN or tabular row above the cap, unclipped
    cap: float
    cap_basis: str  # what the cap is a multiple of


def sweep_groups(ranking: pd.DataFrame) -> SweepGroups:
    """Split the ranked rows of ``ranking`` into the sweep's groups and clip them at the cap."""
    ok = ranking[ranking["rank"].notna()]
    gnns = ok[(ok["family"] == "gnn") & ok["cutoff"].notna()]
    plain = gnns["architecture"].isin(gnns.loc[~gnns["residual"], "architecture"])
    gnn = gnns[~gnns["residual"] | ~plain]  # an operator trained only residually is a line
    res = gnns[gnns["residual"] & plain]
    tab = ok[ok["architecture"].isin(list(TABULAR_STYLE)) & ok["cutoff"].notna()]
    flat = ok[(ok["family"] == "baseline") & ok["cutoff"].isna()]
    floor, basis = divergence_floor(ok)
    cap = OFF_SCALE_FACTOR * floor
    off = pd.concat([gnn, tab, res])
    off = off[off["MAE"] > cap].sort_values("MAE")
    gnn, tab, res = (d.assign(MAE=d["MAE"].clip(upper=cap)) for d in (gnn, tab, res))
    return SweepGroups(gnn, res, tab, flat, off, cap, basis)


def _operator_palette(archs: list[str]) -> dict:
    import seaborn as sns

    tab20 = sns.color_palette("tab20", 20)
    colours = [tab20[i] for i in [*range(0, 20, 2), *range(1, 20, 2)]]  # dark shades first
    return {a: colours[k % 20] for k, a in enumerate(archs)}


def _draw_operators(ax, gnn: pd.DataFrame) -> None:
    import seaborn as sns

    if not len(gnn):
        return
    archs = sorted(gnn["architecture"].unique())
    sns.lineplot(
        data=gnn,
        x="cutoff",
        y="MAE",
        hue="architecture",
        hue_order=archs,
        palette=_operator_palette(archs),
        style="architecture",
        style_order=archs,
        markers=True,
        dashes=False,
        markersize=9,
        linewidth=2,
        ax=ax,
    )


def _draw_residuals(ax, res: pd.DataFrame) -> None:
    if not len(res):
        return
    ax.scatter(res["cutoff"], res["MAE"], marker="*", s=220, c="black", zorder=5,
               label="residual variants (*)")  # fmt: skip
    for _, r in res.iterrows():
        ax.annotate(r["model"], (r["cutoff"], r["MAE"]), textcoords="offset points",
                    xytext=(6, 4), fontsize="x-small")  # fmt: skip


def _draw_baselines(ax, tab: pd.DataFrame, flat: pd.DataFrame) -> None:
    for kind, colour in TABULAR_STYLE.items():
        sub = tab[tab["architecture"] == kind].sort_values("cutoff")
        if len(sub):
            ax.plot(sub["cutoff"], sub["MAE"], ls="--", marker="s", color=colour, lw=2,
                    label=f"{kind} (baseline)")  # fmt: skip
    for k, (_, r) in enumerate(flat.iterrows()):
        ax.axhline(r["MAE"], color="0.35", ls=FLAT_STYLES[k % len(FLAT_STYLES)], lw=1.6,
                   label=f"{r['model']} (baseline)")  # fmt: skip


def _draw_off_scale(ax, off: pd.DataFrame, cap: float, basis: str) -> None:
    if not len(off):
        return
    ax.scatter(off["cutoff"], [cap] * len(off), marker="^", s=140, c="black", zorder=6,
               label=f"off scale (MAE > {cap:.3g} {MU_B})")  # fmt: skip
    listing = ", ".join(f"{r['model']} {r['MAE']:.3g}" for _, r in off.iterrows())
    text = textwrap.fill(
        f"Off scale (diverged), drawn at {cap:.3g} {MU_B} ({OFF_SCALE_FACTOR:g}x {basis}): "
        f"{listing}",
        width=130,
    )
    ax.text(0.0, -0.2, text, transform=ax.transAxes, va="top", ha="left", fontsize="x-small")


def _mae_axis(ax, shown: pd.Series) -> None:
    """Logarithmic y axis when the MAEs span more than a factor of four."""
    from matplotlib.ticker import FormatStrFormatter, NullFormatter

    if not (len(shown) and shown.min() > 0 and shown.max() / shown.min() > 4):
        ax.set_ylabel(f"test MAE ({MU_B})")
        return
    ax.set_yscale("log")
    ax.yaxis.set_major_formatter(FormatStrFormatter("%.3g"))
    if shown.max() / shown.min() < 30:  # within ~1.5 decades minor labels stay readable
        ax.yaxis.set_minor_formatter(FormatStrFormatter("%.3g"))
        ax.tick_params(axis="y", which="minor", labelsize="x-small")
    else:
        ax.yaxis.set_minor_formatter(NullFormatter())
    ax.set_ylabel(f"test MAE ({MU_B}, log scale)")


def _cutoff_axis(ax, groups: SweepGroups) -> None:
    cutoffs = sorted(
        set(groups.gnn["cutoff"]) | set(groups.tabular["cutoff"]) | set(groups.residual["cutoff"])
    )
    if cutoffs:
        ax.set_xticks(cutoffs)
        ax.set_xticklabels([f"{c:g}" for c in cutoffs])
    ax.set_xlabel("graph cutoff radius (Å)")


def cutoff_sweep_figure(ranking: pd.DataFrame, path: str | Path, surrogate: bool) -> None:
    """Draw the sweep of the ranked rows of ``ranking`` (module docstring) into ``path``."""
    import matplotlib.pyplot as plt

    theme()
    groups = sweep_groups(ranking)
    fig, ax = plt.subplots(figsize=(14, 7), layout="constrained")
    _draw_operators(ax, groups.gnn)
    _draw_residuals(ax, groups.residual)
    _draw_baselines(ax, groups.tabular, groups.flat)
    _draw_off_scale(ax, groups.off_scale, groups.cap, groups.cap_basis)
    _mae_axis(
        ax,
        pd.concat(
            [groups.gnn["MAE"], groups.tabular["MAE"], groups.flat["MAE"], groups.residual["MAE"]]
        ),
    )
    _cutoff_axis(ax, groups)
    n_entries = len(ax.get_legend_handles_labels()[1])
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize="small", frameon=False,
              ncol=2 if n_entries > 14 else 1)  # fmt: skip
    ok = ranking[ranking["rank"].notna()]
    n_atoms = int(ok["n_atoms"].max()) if len(ok) else 0
    n_slabs = int(ok["n_slabs"].max()) if len(ok) else 0
    fig.suptitle("Test MAE vs graph cutoff per operator", fontweight="bold")
    ax.set_title(
        split_subtitle(n_atoms, n_slabs, surrogate) + "; each point: one trained model",
        fontsize="small",
        fontweight="normal",
    )
    save(fig, path)
