r"""Seed replicates in the report: which models are replicated, and how far their MAE moves.

:func:`choose_models` ranks the seed-dependent models (every GNN, the fine-tuned CHGNet:
:func:`magmom.layout.seed_dependent_model_ids`) as the ranking does (:func:`~.tables.ranking_table`,
test MAE) and keeps the ``top`` best. Each is trained again with the extra seeds of
``report.seed_replicates`` (:mod:`magmom.evaluation.seeds`).

:func:`seed_spread_table`: one row per replicated model with its test MAE at each seed
(``MAE_s{seed}``, the original ``training.seed`` first), their mean, sample standard deviation
(:math:`s = \sqrt{\sum_k (x_k - \bar x)^2 / (K-1)}` over the :math:`K` seeds), minimum, maximum
and range (``spread`` = max − min), and the gaps to the neighbouring ranks of the report's
ranking (``gap_above``: its MAE minus that of the rank above; ``gap_below``: the rank below's
minus its own). ``spread_exceeds_gap`` is true when the range over seeds is larger than the
smaller of the two gaps: another seed could then swap the model with a neighbour, and its rank is
not resolved by one training run. The ``note`` says so in words.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from .tables import ranking_table, top_ranked_models

SPREAD_COLUMNS = (
    "rank",
    "model",
    "seeds",
    "MAE_mean",
    "MAE_std",
    "MAE_min",
    "MAE_max",
    "spread",
    "gap_above",
    "gap_below",
    "spread_exceeds_gap",
    "note",
)
"""The seed table's columns; the per-seed MAE columns (:func:`seed_column`) follow ``seeds``."""


def seed_column(seed: int) -> str:
    """The seed table's column of the test MAE at ``seed``."""
    return f"MAE_s{int(seed)}"


def choose_models(
    metrics: Mapping[str, Mapping], gnn_ids: Sequence[str], top: int, surrogate: bool
) -> list[str]:
    """The ``top`` best of ``metrics`` (``{model_id: metrics}`` of the seed-dependent models) by
    the ranking's order, best first; rows the ranking cannot judge are never chosen."""
    if not metrics:
        return []
    return top_ranked_models(ranking_table(metrics, gnn_ids, surrogate), top)


def _note(spread: float, gaps: list[tuple[float, int, str]]) -> str:
    if math.isnan(spread):
        return "a seed's MAE is missing: no spread"
    if not gaps:
        return f"seed range {spread:.3g} μB; no neighbouring rank to compare with"
    gap, rank, model = min(gaps)
    if spread > gap:
        return (
            f"seed range {spread:.3g} μB exceeds the gap of {gap:.3g} μB to rank {rank} "
            f"({model}): the order of these two is within seed noise"
        )
    shown = " and ".join(f"{g:.3g} μB (rank {r})" for g, r, _ in gaps)
    return f"seed range {spread:.3g} μB is smaller than the gaps to its neighbours, {shown}"


def seed_spread_table(
    ranking: pd.DataFrame, mae_by_seed: Mapping[str, Mapping[int, float]]
) -> pd.DataFrame:
    """The seed table (module docstring) of the models of ``mae_by_seed`` (``{model: {seed:
    MAE}}``, every model with the same seeds, the original first), in the order of ``ranking``
    (:func:`~.tables.ranking_table` of every model of the report)."""
    ranked = ranking[ranking["rank"].notna()].reset_index(drop=True)
    position = {m: i for i, m in enumerate(ranked["model"])}
    seeds = list(next(iter(mae_by_seed.values()), {}))
    missing = [m for m in mae_by_seed if m not in position]
    if missing:
        raise KeyError(f"replicated models without a rank in the ranking: {missing}")
    rows = []
    for model in sorted(mae_by_seed, key=position.__getitem__):
        if list(mae_by_seed[model]) != seeds:
            raise ValueError(f"{model}: seeds {list(mae_by_seed[model])}, expected {seeds}")
        values = np.array([mae_by_seed[model][s] for s in seeds], dtype=float)
        i = position[model]
        mae = float(ranked.at[i, "MAE"])
        gaps = []
        if i > 0:
            gaps.append((mae - float(ranked.at[i - 1, "MAE"]), i, ranked.at[i - 1, "model"]))
        if i + 1 < len(ranked):
            gaps.append((float(ranked.at[i + 1, "MAE"]) - mae, i + 2, ranked.at[i + 1, "model"]))
        spread = float(values.max() - values.min())
        row = {
            "rank": int(ranked.at[i, "rank"]),
            "model": model,
            "seeds": " ".join(str(s) for s in seeds),
            **{seed_column(s): v for s, v in zip(seeds, values, strict=True)},
            "MAE_mean": float(values.mean()),
            "MAE_std": float(values.std(ddof=1)) if len(values) > 1 else math.nan,
            "MAE_min": float(values.min()),
            "MAE_max": float(values.max()),
            "spread": spread,
            "gap_above": gaps[0][0] if i > 0 else math.nan,
            "gap_below": gaps[-1][0] if i + 1 < len(ranked) else math.nan,
            "spread_exceeds_gap": bool(gaps) and spread > min(g for g, _, _ in gaps),
            "note": _note(spread, gaps),
        }
        rows.append(row)
    columns = [*SPREAD_COLUMNS[:3], *map(seed_column, seeds), *SPREAD_COLUMNS[3:]]
    return pd.DataFrame(rows, columns=columns)
