"""Seed replicates: which seed-dependent models are trained again with other seeds.

The fine-tuned CHGNet and every GNN depend on ``training.seed`` (weight initialisation, batch
order, dropout); the other baselines are deterministic. Config ``report.seed_replicates``
(``top``, ``seeds``) asks for the ``top`` best of them by the report's test MAE
(:func:`magmom.evaluation.report.seed_spread.choose_models`) to be trained again with each of
``seeds``, under the ids :func:`magmom.layout.with_seed` gives (``cgconv-r4-s43``).

The checkpoint ``choose_seed_replicates`` writes the choice to
:meth:`magmom.layout.Layout.seed_replicates` (JSON, :func:`write_choice`); the workflow reads it
back while it plans (:func:`read_choice`, this module imports nothing heavy): a dict with

* ``models``: the chosen original ids, best first; ``replicates``: their replicate ids, model by
  model, seed by seed;
* ``original_seed`` (``training.seed``) and ``seeds`` (the extra seeds);
* ``ranked_by`` and ``candidates``: what they were chosen by and from.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path

from magmom.io import write_json
from magmom.layout import with_seed

CHOICE_KEYS = ("models", "replicates", "original_seed", "seeds", "ranked_by", "candidates")
RANKED_BY = "test MAE, as the ranking report ranks (magmom.evaluation.report.tables.ranking_table)"


def replicate_ids(models: Sequence[str], seeds: Sequence[int]) -> list[str]:
    """``models`` x ``seeds`` as replicate ids, model by model."""
    return [with_seed(m, s) for m in models for s in seeds]


def write_choice(
    path: str | Path,
    models: Sequence[str],
    seeds: Sequence[int],
    original_seed: int,
    candidates: Sequence[str],
) -> dict:
    """Write the choice file (module docstring) atomically; return its content."""
    choice = {
        "models": list(models),
        "replicates": replicate_ids(models, seeds),
        "original_seed": int(original_seed),
        "seeds": [int(s) for s in seeds],
        "ranked_by": RANKED_BY,
        "candidates": list(candidates),
    }
    write_json(path, choice)
    return choice


def read_choice(path: str | Path) -> dict:
    """The choice file at ``path``; a missing key is a ValueError naming the file and the rule."""
    with open(path) as fh:
        choice = json.load(fh)
    missing = [k for k in CHOICE_KEYS if k not in choice]
    if missing:
        raise ValueError(
            f"{path}: seed-replicate choice without {', '.join(missing)}; delete it and rerun "
            "(rule choose_seed_replicates writes it)"
        )
    return choice


def mae_by_seed(choice: Mapping, metrics: Mapping[str, Mapping]) -> dict[str, dict[int, float]]:
    """``{model: {seed: test MAE}}`` of the chosen models, the original seed first, from
    ``metrics`` (``{model_id: metrics}`` of :mod:`magmom.evaluation.metrics`, replicates
    included); a missing one is a KeyError naming the id."""
    seeds = [choice["original_seed"], *choice["seeds"]]
    out = {}
    for model in choice["models"]:
        out[model] = {}
        for seed in seeds:
            model_id = model if seed == choice["original_seed"] else with_seed(model, seed)
            if model_id not in metrics:
                raise KeyError(f"no metrics of seed replicate {model_id!r}")
            mae = metrics[model_id]["all"]["mae"]
            out[model][seed] = float("nan") if mae is None else float(mae)
    return out
