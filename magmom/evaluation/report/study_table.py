r"""The study side by side: this run's test MAE of the study's reference models next to the
study's numbers (:mod:`magmom.evaluation.study`, their one home), per-element MAE of V, Cr, Mn,
Fe, Co and Ni, and which of the study's orderings hold at this run's scale.

Rows (:data:`~magmom.evaluation.study.STUDY_ENTRIES`): each baseline (the linear and XGBoost rows
at their best cutoff of this run, as the study quotes its best), the best GNN, and the best model
of DimeNet++, SchNet and CGConv. Each row carries this run's MAE with its 95 % bootstrap interval
over test slabs from the model's metrics (:func:`magmom.evaluation.metrics.bootstrap_mae_interval`:
the draws depend only on the seed and the number of test slabs, so every model scored on the
same test split is resampled with the same slab draws).

A study claim "A beats B" (:data:`~magmom.evaluation.study.STUDY_CLAIMS`) is judged from this run's
intervals :math:`[l_A, h_A]`, :math:`[l_B, h_B]` only:

* the intervals overlap (:math:`l_A \le h_B` and :math:`l_B \le h_A`): **not resolved at this
  scale**, whatever the point MAEs say;
* they do not overlap and :math:`\mathrm{MAE}_A < \mathrm{MAE}_B`: **holds**;
* they do not overlap and :math:`\mathrm{MAE}_A > \mathrm{MAE}_B`: **reversed at this scale**;
* a row without a model, an interval, or with a model that cannot be judged on CHGNet surrogate
  labels (CHGNet zero-shot scores the labeller, fine-tuned starts from it): **not judged**;
* two rows holding the same model: **same model**.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import pandas as pd

from magmom.evaluation.provenance import reduced_settings_note, surrogate_note
from magmom.evaluation.study import (
    COMPARED_ELEMENTS,
    STUDY_CLAIMS,
    STUDY_ENTRIES,
    STUDY_SOURCE,
    STUDY_TEST_ATOMS,
    STUDY_TEST_SLABS,
    StudyEntry,
    study_entry,
)

from .tables import NOT_MEANINGFUL, STARTS_FROM_LABELLER

HOLDS = "holds"
NOT_RESOLVED = "not resolved at this scale"
REVERSED = "reversed at this scale"
NOT_JUDGED = "not judged"
SAME_MODEL = "same model"
VERDICTS = (HOLDS, NOT_RESOLVED, REVERSED, NOT_JUDGED, SAME_MODEL)

TABLE_COLUMNS = (
    "row", "label", "model", "MAE", "MAE_low", "MAE_high", "n_atoms", "n_slabs", "study_model",
    "study_MAE", "note",
    *(f"{kind}_{el}" for el in COMPARED_ELEMENTS for kind in ("MAE", "n_atoms", "study_MAE")),
)  # fmt: skip
CLAIM_COLUMNS = (
    "claim", "a", "b", "a_model", "b_model", "study_a_MAE", "study_b_MAE", "a_MAE", "a_low",
    "a_high", "b_MAE", "b_low", "b_high", "verdict",
)  # fmt: skip


def _selected(entry: StudyEntry, ranking: pd.DataFrame) -> pd.Series | None:
    """The ranking row ``entry.select`` names (the lowest-MAE one for ``best:``), or None."""
    if not entry.select.startswith("best:"):
        rows = ranking[ranking["model"] == entry.select]
    else:
        what = entry.select.removeprefix("best:")
        column = "family" if what == "gnn" else "architecture"
        rows = ranking[(ranking[column] == what) & ranking["MAE"].notna()]
        rows = rows.sort_values(["MAE", "model"], kind="stable")
    return None if rows.empty else rows.iloc[0]


def _num(value) -> float:
    return math.nan if value is None or pd.isna(value) else float(value)


def study_table(ranking: pd.DataFrame, per_element: pd.DataFrame) -> pd.DataFrame:
    """One row per :data:`STUDY_ENTRIES` entry (module docstring); NaN where this run has no
    such model or element, or the study gives no number."""
    per_el = per_element.set_index(["model", "element"])
    rows = []
    for entry in STUDY_ENTRIES:
        hit = _selected(entry, ranking)
        model = None if hit is None else str(hit["model"])
        row = {
            "row": entry.row,
            "label": entry.label,
            "model": model,
            "MAE": math.nan if hit is None else _num(hit["MAE"]),
            "MAE_low": math.nan if hit is None else _num(hit["MAE_low"]),
            "MAE_high": math.nan if hit is None else _num(hit["MAE_high"]),
            "n_atoms": pd.NA if hit is None else int(hit["n_atoms"]),
            "n_slabs": pd.NA if hit is None else int(hit["n_slabs"]),
            "study_model": entry.study_model,
            "study_MAE": entry.study_mae,
            "note": "no such model in this run" if hit is None else (hit["note"] or ""),
        }
        for el in COMPARED_ELEMENTS:
            found = model is not None and (model, el) in per_el.index
            row[f"MAE_{el}"] = _num(per_el.loc[(model, el), "MAE"]) if found else math.nan
            row[f"n_atoms_{el}"] = int(per_el.loc[(model, el), "n_atoms"]) if found else 0
            row[f"study_MAE_{el}"] = entry.study_per_element.get(el, math.nan)
        rows.append(row)
    out = pd.DataFrame(rows, columns=list(TABLE_COLUMNS))
    out["n_atoms"] = out["n_atoms"].astype("Int64")
    out["n_slabs"] = out["n_slabs"].astype("Int64")
    return out


def verdict(a: Mapping, b: Mapping) -> str:
    """The verdict on "``a`` beats ``b``" from two :func:`study_table` rows (module docstring)."""
    if a["model"] is None or b["model"] is None or pd.isna(a["model"]) or pd.isna(b["model"]):
        return NOT_JUDGED
    if a["model"] == b["model"]:
        return SAME_MODEL
    if any(note in (a["note"], b["note"]) for note in (NOT_MEANINGFUL, STARTS_FROM_LABELLER)):
        return NOT_JUDGED
    values = [_num(r[k]) for r in (a, b) for k in ("MAE", "MAE_low", "MAE_high")]
    if any(math.isnan(v) for v in values):
        return NOT_JUDGED
    a_mae, a_low, a_high, b_mae, b_low, b_high = values
    if a_low <= b_high and b_low <= a_high:
        return NOT_RESOLVED
    return HOLDS if a_mae < b_mae else REVERSED


def claims_table(table: pd.DataFrame) -> pd.DataFrame:
    """Each :data:`STUDY_CLAIMS` pair as the study orders it (the lower study MAE first) with this
    run's numbers and :func:`verdict`."""
    by_row = table.set_index("row")
    rows = []
    for first, second in STUDY_CLAIMS:
        ea, eb = study_entry(first), study_entry(second)
        if eb.study_mae < ea.study_mae:
            ea, eb = eb, ea
        a, b = by_row.loc[ea.row], by_row.loc[eb.row]
        rows.append(
            {
                "claim": f"{ea.label} beats {eb.label}",
                "a": ea.row,
                "b": eb.row,
                "a_model": a["model"],
                "b_model": b["model"],
                "study_a_MAE": ea.study_mae,
                "study_b_MAE": eb.study_mae,
                "a_MAE": a["MAE"],
                "a_low": a["MAE_low"],
                "a_high": a["MAE_high"],
                "b_MAE": b["MAE"],
                "b_low": b["MAE_low"],
                "b_high": b["MAE_high"],
                "verdict": verdict(a, b),
            }
        )
    return pd.DataFrame(rows, columns=list(CLAIM_COLUMNS))


def _mae(value, digits: int = 4) -> str:
    return "–" if pd.isna(value) else f"{float(value):.{digits}f}"


def _model(value) -> str:
    return "–" if value is None or pd.isna(value) else str(value)


def _interval(row: Mapping) -> str:
    if pd.isna(row["MAE"]):
        return "–"
    if pd.isna(row["MAE_low"]):
        return _mae(row["MAE"])
    return f"{_mae(row['MAE'])} [{_mae(row['MAE_low'])}, {_mae(row['MAE_high'])}]"


def study_markdown(
    table: pd.DataFrame, claims: pd.DataFrame, provenance: Mapping, origin: str
) -> str:
    """``study_comparison.md``: the side-by-side table, per-element MAE, the claims' verdicts."""
    n_slabs = provenance.get("n_slabs", {}).get("test", 0)
    n_atoms = provenance.get("n_atoms", {}).get("test", 0)
    note = reduced_settings_note(provenance) or surrogate_note(provenance)
    lines = [
        "# The study side by side",
        "",
        *([f"> **{origin}.** {note}", ""] if note else []),
        f"This run: **{n_slabs:,} test slabs, {n_atoms:,} test atoms**, labels: {origin}. "
        f"The study: {STUDY_TEST_SLABS:,} test slabs, {STUDY_TEST_ATOMS:,} test atoms, DFT labels "
        "at the study's settings. This run's MAE (μB) with its 95 % bootstrap interval over test "
        "slabs (the same slab draws for every model); the study gives no interval. Study numbers: "
        f"{STUDY_SOURCE}.",
        "",
        "| | this run's model | MAE [95 % interval] | study's model | study MAE | note |",
        "|---|---|---|---|---|---|",
    ]
    for _, r in table.iterrows():
        note = str(r["note"]).replace("|", "/")
        lines.append(
            f"| {r['label']} | {_model(r['model'])} | {_interval(r)} | {r['study_model']} | "
            f"{_mae(r['study_MAE'])} | {note} |"
        )
    lines += [
        "",
        "## Per-element MAE (μB): this run (test atoms) / the study",
        "",
        "The study gives per-element errors for its best model (DimeNet++ r8) and, for Mn, Cr "
        "and V, for CHGNet fine-tuned; – where a number is missing.",
        "",
        "| | " + " | ".join(COMPARED_ELEMENTS) + " |",
        "|---|" + "|".join("---" for _ in COMPARED_ELEMENTS) + "|",
    ]
    for _, r in table.iterrows():
        cells = [
            f"{_mae(r[f'MAE_{el}'], 3)} ({int(r[f'n_atoms_{el}'])}) / "
            f"{_mae(r[f'study_MAE_{el}'], 3)}"
            for el in COMPARED_ELEMENTS
        ]
        lines.append(f"| {r['label']} | " + " | ".join(cells) + " |")
    counts = claims["verdict"].value_counts()
    lines += [
        "",
        "## Which of the study's conclusions hold at this scale",
        "",
        'A claim "A beats B" holds only if this run\'s intervals do not overlap; overlapping '
        "intervals leave it not resolved at this scale, whatever the point MAEs say. "
        + ", ".join(f"{v}: {int(counts.get(v, 0))}" for v in VERDICTS if counts.get(v, 0))
        + ".",
        "",
        "| study's claim | study MAE | this run: A [95 %] | this run: B [95 %] | verdict |",
        "|---|---|---|---|---|",
    ]
    for _, c in claims.iterrows():
        a = {"MAE": c["a_MAE"], "MAE_low": c["a_low"], "MAE_high": c["a_high"]}
        b = {"MAE": c["b_MAE"], "MAE_low": c["b_low"], "MAE_high": c["b_high"]}
        lines.append(
            f"| {c['claim']} | {_mae(c['study_a_MAE'])} vs {_mae(c['study_b_MAE'])} | "
            f"{_model(c['a_model'])} {_interval(a)} | {_model(c['b_model'])} {_interval(b)} | "
            f"**{c['verdict']}** |"
        )
    lines.append("")
    return "\n".join(lines)
