"""The study side by side (magmom.evaluation.report.study_table): the rows, the study's numbers
from their one home (magmom.evaluation.study), and the verdicts on the study's claims read from
the bootstrap intervals only."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from test_report_tables import metrics_for

from magmom.evaluation.report.study_table import (
    HOLDS,
    NOT_JUDGED,
    NOT_RESOLVED,
    REVERSED,
    SAME_MODEL,
    claims_table,
    study_markdown,
    study_table,
    verdict,
)
from magmom.evaluation.report.tables import per_element_table, ranking_table
from magmom.evaluation.study import (
    COMPARED_ELEMENTS,
    STUDY_CLAIMS,
    STUDY_ENTRIES,
    study_entry,
)

GNN = ["cgconv-r3", "cgconv-r4-res", "schnetconv-r4", "dimenet-r4"]
BASELINES = [
    "element-mean", "linear-r3", "linear-r4", "xgboost-r3", "xgboost-r4", "chgnet-zeroshot",
    "chgnet-finetuned",
]  # fmt: skip
INTERVALS = {  # model: (MAE, 95 % interval over test slabs)
    "dimenet-r4": (0.050, [0.040, 0.060]),
    "schnetconv-r4": (0.055, [0.045, 0.070]),
    "cgconv-r4-res": (0.058, [0.050, 0.066]),
    "cgconv-r3": (0.061, [0.052, 0.072]),
    "chgnet-finetuned": (0.052, [0.045, 0.059]),  # overlaps the best GNN: a tie
    "xgboost-r3": (0.090, [0.080, 0.100]),  # beats xgboost-r4: the row's best cutoff
    "xgboost-r4": (0.095, [0.085, 0.110]),
    "element-mean": (0.150, [0.120, 0.180]),
    "linear-r3": (0.160, [0.130, 0.190]),
    "linear-r4": (0.170, [0.140, 0.200]),
    "chgnet-zeroshot": (0.100, [0.090, 0.110]),  # ahead of the per-element mean: reversed
}


def run_metrics(intervals=INTERVALS):
    rng = np.random.default_rng(3)
    out = {}
    for model_id, (mae, ci) in intervals.items():
        m = metrics_for(model_id, rng, noise={model_id: 0.01})
        m["all"]["mae"], m["all"]["mae_ci95"] = mae, ci
        out[model_id] = m
    return out


@pytest.fixture
def tables():
    metrics = run_metrics()
    ranking = ranking_table(metrics, GNN, surrogate=False)
    per_element = per_element_table(metrics)
    study = study_table(ranking, per_element)
    return ranking, per_element, study, claims_table(study)


def test_rows_select_the_runs_models_and_carry_the_studys_numbers(tables):
    ranking, per_element, study, _ = tables
    table = study.set_index("row")
    assert list(table.index) == [e.row for e in STUDY_ENTRIES]
    expected = {
        "element-mean": "element-mean",
        "linear": "linear-r3",
        "xgboost": "xgboost-r3",
        "chgnet-zeroshot": "chgnet-zeroshot",
        "chgnet-finetuned": "chgnet-finetuned",
        "best-gnn": "dimenet-r4",
        "best-dimenet": "dimenet-r4",
        "best-schnetconv": "schnetconv-r4",
        "best-cgconv": "cgconv-r4-res",  # residual variants count for their family
    }
    assert table["model"].to_dict() == expected
    for entry in STUDY_ENTRIES:
        row = table.loc[entry.row]
        assert row["study_MAE"] == entry.study_mae and row["study_model"] == entry.study_model
        assert row["MAE"] == INTERVALS[row["model"]][0]
        assert [row["MAE_low"], row["MAE_high"]] == INTERVALS[row["model"]][1]
        for el in COMPARED_ELEMENTS:
            study_value = entry.study_per_element.get(el, math.nan)
            assert row[f"study_MAE_{el}"] == study_value or math.isnan(study_value)
            hit = per_element[
                (per_element["model"] == row["model"]) & (per_element["element"] == el)
            ]
            if hit.empty:
                assert row[f"n_atoms_{el}"] == 0 and math.isnan(row[f"MAE_{el}"])
            else:
                assert row[f"MAE_{el}"] == pytest.approx(hit["MAE"].iloc[0])
                assert row[f"n_atoms_{el}"] == hit["n_atoms"].iloc[0] > 0
    # the study's numbers quoted by the brief, from the one place that holds them
    assert study_entry("chgnet-finetuned").study_per_element == {
        "Mn": 0.377,
        "Cr": 0.157,
        "V": 0.065,
    }
    assert study_entry("best-gnn").study_mae == 0.0427
    assert study_entry("element-mean").study_mae == 0.1420


def test_claims_are_judged_from_the_intervals_only(tables):
    claims = tables[3].set_index(["a", "b"])
    assert len(claims) == len(STUDY_CLAIMS)
    got = claims["verdict"].to_dict()
    assert got[("best-gnn", "chgnet-finetuned")] == NOT_RESOLVED  # overlapping: a tie, not a win
    assert got[("best-gnn", "xgboost")] == HOLDS
    assert got[("xgboost", "element-mean")] == HOLDS
    assert got[("element-mean", "linear")] == NOT_RESOLVED  # 0.150 < 0.160, intervals overlap
    assert got[("element-mean", "chgnet-zeroshot")] == REVERSED
    # every claim is ordered as the study's numbers order it
    assert (claims["study_a_MAE"] < claims["study_b_MAE"]).all()


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        ((0.10, 0.08, 0.12), (0.11, 0.12, 0.14), NOT_RESOLVED),  # touching intervals overlap
        ((0.10, 0.08, 0.11), (0.13, 0.12, 0.14), HOLDS),
        ((0.13, 0.12, 0.14), (0.10, 0.08, 0.11), REVERSED),
        ((0.10, 0.08, 0.11), (0.13, math.nan, math.nan), NOT_JUDGED),  # no interval
    ],
)
def test_verdict(a, b, expected):
    def row(model, v):
        return {"model": model, "MAE": v[0], "MAE_low": v[1], "MAE_high": v[2], "note": ""}

    assert verdict(row("x", a), row("y", b)) == expected
    assert verdict(row("x", a), row("x", a)) == SAME_MODEL
    assert verdict(row(None, a), row("y", b)) == NOT_JUDGED


def test_surrogate_labels_leave_the_chgnet_claims_unjudged_and_a_missing_model_is_named():
    intervals = {k: v for k, v in INTERVALS.items() if not k.startswith("dimenet")}
    metrics = run_metrics(intervals)
    ranking = ranking_table(metrics, GNN, surrogate=True)
    study = study_table(ranking, per_element_table(metrics))
    claims = claims_table(study).set_index(["a", "b"])["verdict"]
    assert claims[("chgnet-finetuned", "chgnet-zeroshot")] == NOT_JUDGED
    assert claims[("chgnet-finetuned", "xgboost")] == NOT_JUDGED  # starts from the labeller
    assert claims[("xgboost", "element-mean")] == HOLDS
    row = study.set_index("row").loc["best-dimenet"]
    assert pd.isna(row["model"]) and row["note"] == "no such model in this run"
    assert study.set_index("row").loc["best-gnn", "model"] == "schnetconv-r4"
    md = study_markdown(study, claims_table(study), {}, "CHGNet surrogate (not DFT)")
    assert "| best DimeNet++ | – | – | dimenet r8 | 0.0427 | no such model in this run |" in md


def test_markdown_shows_every_row_interval_and_verdict(tables):
    _, _, study, claims = tables
    prov = {"n_slabs": {"test": 12}, "n_atoms": {"test": 170}, "surrogate": False}
    md = study_markdown(study, claims, prov, "DFT (GPAW)")
    assert "**12 test slabs, 170 test atoms**" in md and "1,941 test slabs" in md
    assert "| best GNN | dimenet-r4 | 0.0500 [0.0400, 0.0600] | dimenet r8 | 0.0427 |" in md
    assert f"**{NOT_RESOLVED}** |" in md and f"**{REVERSED}** |" in md
    assert "Labels come from" not in md  # DFT labels at the study's settings: no banner
    reduced = {**prov, "dft_settings": {"reduced": True, "differences": ["ecut 250.0 eV (study "
               "350.0 eV)"], "source": "1 shipped DFT record"}}  # fmt: skip
    md = study_markdown(study, claims, reduced, "DFT labels at reduced settings (GPAW)")
    assert "> **DFT labels at reduced settings (GPAW).** Labels come from GPAW DFT" in md
