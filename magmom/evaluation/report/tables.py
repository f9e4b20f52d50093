r"""The report's tables: the ranking, the per-element table and the deployment-cost table.

The ranking orders every model by its test MAE. Two kinds of row carry a note:

* a row that cannot be judged is listed without a rank: CHGNet zero-shot when the labels come from
  the CHGNet surrogate labeller (it would be scoring itself); CHGNet fine-tuned keeps its rank with
  a caution (it starts from the labeller's weights);
* a model whose run diverged keeps its rank (it is a result) and is marked ``diverged``: its test
  MAE is more than :data:`OFF_SCALE_FACTOR` times the MAE of the per-element mean, the baseline
  that predicts each element's training mean. The cutoff sweep draws the same models at that cap.

Each row carries the 95 % bootstrap interval of its MAE over test slabs (``MAE_low``,
``MAE_high``; :func:`magmom.evaluation.metrics.bootstrap_mae_interval`) and ``tied_with``: the best
rank whose interval overlaps this row's (the row's own rank when none does). Rows with the same
``tied_with`` cannot be told apart at that level; a model tied with rank 1 is not shown to be worse
than the best.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from magmom.layout import CHGNET_FINETUNED, CHGNET_ZEROSHOT, ELEMENT_MEAN, parse_model_id

RANKING_COLUMNS = (
    "rank",
    "model",
    "family",
    "architecture",
    "cutoff",
    "residual",
    "MAE",
    "MAE_low",
    "MAE_high",
    "tied_with",
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
PER_ELEMENT_COLUMNS = ("model", "element", "MAE", "RMSE", "R2", "n_atoms")
NOT_MEANINGFUL = "not meaningful: labels are CHGNet's own predictions (scores itself)"
STARTS_FROM_LABELLER = "caution: fine-tuned from the CHGNet that produced the labels"
DIVERGED = "diverged"
"""First word of the note of a diverged model (see :func:`diverged_note`)."""
OFF_SCALE_FACTOR = 10.0
"""A model whose MAE exceeds this multiple of the per-element-mean MAE has diverged."""
FLOOR_MODEL = ELEMENT_MEAN
"""The baseline whose MAE sets the divergence threshold."""


def load_metrics(paths: Mapping[str, str | Path]) -> dict[str, dict]:
    """``{model_id: metrics}`` from the metrics JSON files of :mod:`magmom.evaluation.metrics`."""
    out = {}
    for model_id, path in paths.items():
        with open(path) as fh:
            out[model_id] = json.load(fh)
    return out


def _num(value) -> float:
    return math.nan if value is None else float(value)


def divergence_floor(ranked: pd.DataFrame) -> tuple[float, str]:
    """The reference MAE of the divergence test and what it is: the per-element-mean MAE, or the
    median MAE of ``ranked`` when that baseline is absent."""
    floor = ranked.loc[ranked["model"] == FLOOR_MODEL, "MAE"]
    if len(floor):
        return float(floor.iloc[0]), "the per-element-mean MAE"
    return float(ranked["MAE"].median()), "the median MAE"


def off_scale_cap(ranked: pd.DataFrame) -> float:
    """The MAE above which a model of ``ranked`` has diverged: :data:`OFF_SCALE_FACTOR` times
    :func:`divergence_floor`."""
    return OFF_SCALE_FACTOR * divergence_floor(ranked)[0]


def diverged_note(mae: float, floor: float, what: str = "the per-element-mean MAE") -> str:
    """The ranking note of a model whose test MAE ``mae`` exceeds :data:`OFF_SCALE_FACTOR` times
    ``floor`` (:func:`divergence_floor`)."""
    return (
        f"{DIVERGED}: MAE {mae:.3g} μB, over {OFF_SCALE_FACTOR:g}x {what} ({floor:.3g} μB); "
        "the run did not converge"
    )


def _label_note(model_id: str, surrogate: bool) -> str:
    if surrogate and model_id == CHGNET_ZEROSHOT:
        return NOT_MEANINGFUL
    if surrogate and model_id == CHGNET_FINETUNED:
        return STARTS_FROM_LABELLER
    return ""


def _ranking_row(model_id: str, m: Mapping, family: str, note: str) -> dict:
    name, cutoff, residual = parse_model_id(model_id)[:3]
    a, x = m["all"], m["excluded"]
    low, high = a.get("mae_ci95") or (None, None)
    return {
        "model": model_id,
        "family": family,
        "architecture": name,
        "cutoff": math.nan if cutoff is None else cutoff,
        "residual": residual,
        "MAE": _num(a["mae"]),
        "MAE_low": _num(low),
        "MAE_high": _num(high),
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


def _mark_ties(df: pd.DataFrame, ranked: pd.Series) -> None:
    """``tied_with``: for each ranked row (in rank order), the best rank whose bootstrap interval
    overlaps its own; its own rank when none does or its interval is unknown."""
    df["tied_with"] = pd.array([pd.NA] * len(df), dtype="Int64")
    rows = df.index[ranked]
    for i in rows:
        df.at[i, "tied_with"] = df.at[i, "rank"]
        if math.isnan(df.at[i, "MAE_low"]):
            continue
        for j in rows:
            if j == i:
                break
            if not math.isnan(df.at[j, "MAE_high"]) and df.at[j, "MAE_high"] >= df.at[i, "MAE_low"]:
                df.at[i, "tied_with"] = df.at[j, "rank"]
                break


def _mark_diverged(df: pd.DataFrame, ranked: pd.Series) -> None:
    """Append the :func:`diverged_note` to every ranked row above :func:`off_scale_cap`."""
    if not ranked.any():
        return
    floor, what = divergence_floor(df[ranked])
    for i in df.index[ranked & (df["MAE"] > OFF_SCALE_FACTOR * floor)]:
        note = diverged_note(float(df.at[i, "MAE"]), floor, what)
        df.at[i, "note"] = "; ".join(n for n in (df.at[i, "note"], note) if n)


def ranking_table(
    metrics: Mapping[str, Mapping], gnn_ids: Sequence[str], surrogate: bool
) -> pd.DataFrame:
    """One row per model, ranked by test MAE (ties broken by model id); rows that cannot be judged
    come last without a rank, diverged models are noted (module docstring)."""
    gnn = set(gnn_ids)
    rows = [
        _ranking_row(
            model_id,
            m,
            "gnn" if model_id in gnn else "baseline",
            _label_note(model_id, surrogate),
        )
        for model_id, m in metrics.items()
    ]
    df = pd.DataFrame(rows)
    df["_flagged"] = df["note"] == NOT_MEANINGFUL
    df = df.sort_values(["_flagged", "MAE", "model"], kind="stable").reset_index(drop=True)
    ranked = ~df["_flagged"]
    df["rank"] = pd.array([pd.NA] * len(df), dtype="Int64")
    df.loc[ranked, "rank"] = np.arange(1, int(ranked.sum()) + 1)
    _mark_ties(df, ranked)
    _mark_diverged(df, ranked)
    return df[list(RANKING_COLUMNS)]


def is_diverged(ranking: pd.DataFrame) -> pd.Series:
    """Boolean mask of the rows of ``ranking`` noted as diverged."""
    return ranking["note"].fillna("").str.contains(f"(?:^|; ){DIVERGED}:", regex=True)


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
    return pd.DataFrame(rows, columns=list(PER_ELEMENT_COLUMNS))


def top_ranked_models(ranking: pd.DataFrame, top_n: int) -> list[str]:
    """The ``top_n`` best ranked models (unranked, flagged rows excluded): the heatmap's models,
    and, among the seed-dependent models, those with seed replicates."""
    return ranking[ranking["rank"].notna()]["model"].head(top_n).tolist()


def deployment_table(cost: pd.DataFrame, ranking: pd.DataFrame) -> pd.DataFrame:
    """Per architecture, the benchmarked model of lowest test MAE, with its cost (a plain model
    when the architecture has one, else its residual variants: ``models.residual_target``); the
    pretrained CHGNet row is kept as the foundation-model reference."""
    mae = ranking.set_index("model")[["MAE", "note"]]
    cost = cost.merge(mae, left_on="model_id", right_index=True, how="left")
    if CHGNET_FINETUNED in mae.index:
        ref = cost["model_id"] == "chgnet-pretrained"
        cost.loc[ref, "MAE"] = mae.loc[CHGNET_FINETUNED, "MAE"]
        cost.loc[ref, "note"] = "cost of the CHGNet architecture; MAE of chgnet-finetuned"
    gnn = cost[cost["architecture"] != "chgnet"]
    residual = gnn["residual"].astype(bool)
    has_plain = gnn["architecture"].isin(gnn.loc[~residual, "architecture"])
    gnn = gnn[~residual | ~has_plain]
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
