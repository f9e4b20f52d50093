r"""Per-model figures: parity plot and signed-error histogram (seaborn).

Both are drawn for all test atoms and once more without the excluded elements (V, Cr, Mn). The
title names the model and the number of atoms and slabs behind the figure; axes are in μB. When the
labels come from the CHGNet surrogate labeller the figure says so under the title.

The signed error is :math:`e_i = \hat y_i - y_i` (prediction minus label), so a positive error
is an over-estimated moment.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402

from magmom.io import atomic_path  # noqa: E402

from .metrics import regression_metrics  # noqa: E402

MU_B = "μ$_\\mathrm{B}$"
SURROGATE_LABELS_NOTE = "labels: CHGNet surrogate labeller, not DFT"
DPI = 150


def theme() -> None:
    """The house style of every figure: white grid, fonts legible at slide size."""
    sns.set_theme(context="notebook", style="whitegrid", font_scale=1.25)
    plt.rcParams.update({"figure.dpi": DPI, "savefig.dpi": DPI, "axes.titleweight": "bold"})


def save(fig, path: str | Path) -> None:
    """Write ``fig`` to ``path`` as PNG atomically and close it."""
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", bbox_inches="tight")
    plt.close(fig)


def count(n: int, noun: str) -> str:
    """``1 slab``, ``2 slabs``, ``1,941 slabs``."""
    return f"{n:,} {noun}{'' if n == 1 else 's'}"


def split_subtitle(n_atoms: int, n_slabs: int, surrogate: bool) -> str:
    """Second title line of a report figure: the test atoms and slabs behind it (and, for
    surrogate labels, :data:`SURROGATE_LABELS_NOTE` on a third line)."""
    text = f"test split: {count(n_atoms, 'atom')} in {count(n_slabs, 'slab')}"
    return text + (f"\n{SURROGATE_LABELS_NOTE}" if surrogate else "")


def _title(ax, headline: str, n_atoms: int, n_slabs: int, surrogate: bool) -> None:
    sub = f"n = {count(n_atoms, 'atom')} in {count(n_slabs, 'slab')}"
    if surrogate:
        sub += f"\n{SURROGATE_LABELS_NOTE}"
    ax.set_title(sub, fontsize="small", fontweight="normal")
    ax.figure.suptitle(headline, fontweight="bold")


def _text_box(ax, text: str, x: float) -> None:
    """``text`` in a white monospace box at the top left of ``ax`` (axes coordinates)."""
    ax.text(
        x,
        0.97,
        text,
        transform=ax.transAxes,
        va="top",
        ha="left",
        family="monospace",
        fontsize="small",
        bbox={"boxstyle": "round", "facecolor": "white", "alpha": 0.95},
    )


def _metrics_box(ax, m: dict) -> None:
    r2 = "n/a" if m["r2"] is None else f"{m['r2']:.3f}"
    text = (
        f"MAE  {m['mae']:.4f} {MU_B}\nRMSE {m['rmse']:.4f} {MU_B}\n"
        f"R²   {r2}\nmax  {m['max_error']:.3f} {MU_B}"
    )
    _text_box(ax, text, x=0.03)


def parity_plot(
    df: pd.DataFrame,
    model_id: str,
    path: str | Path,
    highlight: Iterable[str] = (),
    surrogate: bool = False,
    subset_label: str = "all atoms",
    quantity: str = "|m|",
) -> None:
    """Predicted vs. true moment, one point per atom, with the identity line.

    Atoms of ``highlight`` elements are drawn in a second colour (the strongly magnetic V/Cr/Mn
    whose moments no structure-only model can pin down); an empty ``df`` raises ``ValueError``.
    """
    if df.empty:
        raise ValueError(f"{model_id}: no atoms to plot in the parity plot ({subset_label})")
    theme()
    highlight = sorted(set(highlight))
    plot = df.assign(
        group=np.where(df["element"].isin(highlight), "/".join(highlight), "other elements")
    )
    fig, ax = plt.subplots(figsize=(7.5, 8), layout="constrained")
    lo = float(min(plot["y_true"].min(), plot["y_pred"].min(), 0.0))
    hi = float(max(plot["y_true"].max(), plot["y_pred"].max()))
    pad = 0.04 * (hi - lo or 1.0)
    lims = (lo - pad, hi + pad)
    ax.plot(lims, lims, color="0.3", lw=1.2, ls="--", zorder=1, label="y = x")
    n = len(plot)
    size = 30 if n < 2_000 else (12 if n < 20_000 else 4)
    alpha = 0.8 if n < 2_000 else (0.5 if n < 20_000 else 0.25)
    present = set(plot["group"])
    groups = [g for g in ("other elements", "/".join(highlight)) if g and g in present]
    deep = sns.color_palette("deep", 4)
    colours = {"other elements": deep[0], "/".join(highlight): deep[3]}
    palette = {g: colours[g] for g in groups}
    sns.scatterplot(
        data=plot,
        x="y_true",
        y="y_pred",
        hue="group",
        hue_order=groups,
        palette=palette,
        s=size,
        alpha=alpha,
        linewidth=0,
        ax=ax,
        rasterized=n > 5_000,
        zorder=2,
    )
    ax.set(xlim=lims, ylim=lims, aspect="equal")
    ax.set_xlabel(f"label {quantity} ({MU_B})")
    ax.set_ylabel(f"predicted {quantity} ({MU_B})")
    _metrics_box(ax, regression_metrics(plot["y_true"], plot["y_pred"]))
    legend = ax.legend(
        loc="upper center",
        bbox_to_anchor=(0.5, -0.11),
        ncol=3,
        frameon=False,
        markerscale=2 if size < 12 else 1,
    )
    for handle in legend.legend_handles:
        handle.set_alpha(1.0)
    _title(ax, f"{model_id}: parity, {subset_label}", n, plot["slab_id"].nunique(), surrogate)
    save(fig, path)


def error_histogram(
    df: pd.DataFrame,
    model_id: str,
    path: str | Path,
    surrogate: bool = False,
    subset_label: str = "all atoms",
) -> None:
    """Histogram of the signed error ``y_pred - y_true`` with a logarithmic count axis.

    Most atoms sit within a few hundredths of μB, so a log count axis keeps the tails (the
    quenched/moment-bearing V/Cr/Mn atoms) visible next to the central peak.
    """
    if df.empty:
        raise ValueError(f"{model_id}: no atoms to plot in the error histogram ({subset_label})")
    theme()
    err = (df["y_pred"] - df["y_true"]).to_numpy()
    fig, ax = plt.subplots(figsize=(8.5, 6), layout="constrained")
    span = float(np.max(np.abs(err))) or 1e-3
    bins = np.linspace(-span, span, 81)
    sns.histplot(x=err, bins=bins, ax=ax, color=sns.color_palette("deep")[0], edgecolor="white")
    ax.set_yscale("log")
    ax.axvline(0.0, color="0.2", lw=1.2, ls="--")
    ax.set_xlabel(f"signed error, predicted − label ({MU_B})")
    ax.set_ylabel("atoms (log scale)")
    text = (
        f"mean   {err.mean():+.4f} {MU_B}\nmedian {np.median(err):+.4f} {MU_B}\n"
        f"MAE    {np.abs(err).mean():.4f} {MU_B}"
    )
    _text_box(ax, text, x=0.02)
    _title(
        ax, f"{model_id}: signed error, {subset_label}", len(df), df["slab_id"].nunique(), surrogate
    )
    save(fig, path)


def model_figures(
    df: pd.DataFrame,
    model_id: str,
    paths: dict[str, str | Path],
    excluded_elements: Iterable[str],
    surrogate: bool = False,
    quantity: str = "|m|",
) -> None:
    """The four figures of one model: keys ``parity``, ``parity_excl``, ``error_hist``,
    ``error_hist_excl`` of ``paths``. ``quantity`` names the target on the axes (|m| or m)."""
    excluded = sorted(set(excluded_elements))
    rest = df.loc[~df["element"].isin(excluded)]
    label_excl = f"without {'/'.join(excluded)}" if excluded else "all atoms"
    if rest.empty:
        rest, label_excl = df, f"all atoms (every atom is {'/'.join(excluded)})"
    parity_plot(
        df, model_id, paths["parity"], highlight=excluded, surrogate=surrogate, quantity=quantity
    )
    parity_plot(
        rest,
        model_id,
        paths["parity_excl"],
        surrogate=surrogate,
        subset_label=label_excl,
        quantity=quantity,
    )
    error_histogram(df, model_id, paths["error_hist"], surrogate=surrogate)
    error_histogram(
        rest, model_id, paths["error_hist_excl"], surrogate=surrogate, subset_label=label_excl
    )
