"""The report rule at the end of a tiny real workflow run: import -> split -> graphs -> 2 GNNs
and every baseline -> evaluation -> the seed replicate of the best seed-dependent model
(presets/tiny.yaml: top 1, seed 43) -> deployment cost -> report, then `snakemake --report`."""

from __future__ import annotations

import json
import math
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import torch
import yaml
from baselines_helpers import toy_dataset, write_dataset_db
from browser_helpers import ReportBrowser
from test_evaluation_plots import assert_png

from magmom.evaluation.provenance import REDUCED_DFT_ORIGIN
from magmom.evaluation.report.study_table import NOT_RESOLVED, VERDICTS
from magmom.evaluation.seeds import read_choice
from magmom.evaluation.study import COMPARED_ELEMENTS, STUDY_CLAIMS, STUDY_ENTRIES
from magmom.graphs.cap_report import cap_summary
from magmom.layout import SPLITS, Layout, with_seed

REPO = Path(__file__).resolve().parents[1]
SHIPPED_RECORD = REPO / "data" / "mini" / "records" / "fe100-bcc-pure-v0.json"
SNAKEMAKE = str(Path(sys.executable).with_name("snakemake"))
GNNS = ["cgconv-r3", "schnetconv-r3"]
BASELINES = ["element-mean", "linear-r3", "xgboost-r3", "chgnet-zeroshot", "chgnet-finetuned"]
FIGURES = ["parity", "parity_excl", "error_hist", "error_hist_excl"]
REPORT_CATEGORIES = {  # category -> the first label (figure) of its results
    "Ranking": [
        "ranking table",
        "ranking plot",
        "cutoff sweep",
        "study side by side",
        "study claims",
        "seed replicates",
    ],  # fmt: skip
    "Per-element error": ["per-element table", "per-element heatmap"],
    "Deployment cost": ["deployment cost"],
    "Models": [],
}

OVERRIDES = {
    "dataset_name": "e2e",
    "results_dir": "results/e2e",
    "recipe": {"elements": ["Cu", "Fe", "Mn", "Ni", "Pt"]},
    "graphs": {"cutoffs": [3]},
    "models": {"architectures": ["cgconv", "schnetconv"], "cutoffs": [3], "residual": []},
    "training": {"max_epochs": 2, "batch_size": 8},
    "baselines": {
        "tabular_cutoffs": [3],
        "xgboost": {"n_estimators": 20},
        "chgnet_finetune": {"max_epochs": 1, "batch_size": 8, "early_stopping_patience": 1},
    },
    "report": {"heatmap_top_models": 4},
}
E2E = Layout(OVERRIDES["results_dir"], OVERRIDES["dataset_name"])
SEED_DEPENDENT = [*GNNS, "chgnet-finetuned"]


def replicate_of(run: Path) -> str:
    """The one seed replicate of the run (presets/tiny.yaml: top 1, seeds [43])."""
    choice = read_choice(run / E2E.seed_replicates())
    assert choice["seeds"] == [43] and len(choice["models"]) == 1, choice
    return choice["replicates"][0]


def snakemake(workdir: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [SNAKEMAKE, "-s", str(REPO / "Snakefile"), "-d", str(workdir), "--cores", "2",
         "--configfile", str(REPO / "config.yaml"), str(REPO / "presets" / "tiny.yaml"),
         str(workdir / "overrides.yaml"), *args],
        capture_output=True, text=True, timeout=1500,
    )  # fmt: skip


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("e2e")
    source = write_dataset_db(workdir / "source.db", toy_dataset(30, seed=11), labeller="gpaw")
    # a DFT record shipped beside the source (data/{name}/ layout): its GPAW settings (250 eV)
    # mark the labels as DFT labels at reduced settings
    (workdir / "records").mkdir()
    shutil.copy(SHIPPED_RECORD, workdir / "records" / SHIPPED_RECORD.name)
    overrides = {**OVERRIDES, "dataset": {"source": str(source)}}
    (workdir / "overrides.yaml").write_text(yaml.safe_dump(overrides))
    proc = snakemake(workdir)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-6000:]
    return workdir


@pytest.mark.slow
def test_ranking_holds_every_model(run):
    ranking = pd.read_csv(run / E2E.report_outputs()["ranking_csv"])
    assert sorted(ranking["model"]) == sorted(GNNS + BASELINES)
    assert ranking["rank"].tolist() == list(range(1, 8))  # imported labels: nothing flagged
    assert ranking["MAE"].is_monotonic_increasing
    # 95 % bootstrap intervals over test slabs around every MAE, ties read from them
    assert (ranking["MAE_low"] <= ranking["MAE"]).all() and (
        ranking["MAE"] <= ranking["MAE_high"]
    ).all()
    assert ranking["tied_with"].iloc[0] == 1 and (ranking["tied_with"] <= ranking["rank"]).all()
    assert ranking["n_atoms"].nunique() == 1  # every model scored on the same test atoms
    prov = json.loads((run / E2E.provenance()).read_text())
    assert ranking["n_atoms"].iloc[0] == prov["n_atoms"]["test"]
    md = (run / E2E.report_outputs()["ranking_md"]).read_text()
    for model in GNNS + BASELINES:
        assert f"| {model} |" in md
    assert "Surrogate labels" not in md
    assert f"{prov['n_slabs']['test']} slabs" in md
    # nominal and effective radius, read from the r3 caches' headers (every split)
    cap = cap_summary(run / E2E.graph_cache(3, split) for split in SPLITS)
    assert "Nominal and effective radius" in md and "neighbour rule `radius`" in md
    assert (
        f"| 3 Å | {cap.reach_median:.2f} Å | {cap.reach_max:.2f} Å | "
        f"{cap.edges_per_atom_mean:.1f} | {cap.edges_per_atom_max} | 0.0% |"
    ) in md
    assert 2.5 < cap.reach_max <= 3.0
    assert cap.atoms == sum(prov["n_atoms"].values())
    per_element = pd.read_csv(run / E2E.report_outputs()["per_element_csv"])
    assert set(per_element["model"]) == set(GNNS + BASELINES)
    cost = pd.read_csv(run / E2E.deployment_benchmark())
    assert set(cost["model_id"]) == {*GNNS, "chgnet-pretrained"}


@pytest.mark.slow
def test_seed_replicate_of_the_best_seed_dependent_model(run):
    """The checkpoint chose the best of the GNNs and the fine-tuned CHGNet by the ranking's MAE;
    its replicate was trained with seed 43 (recorded in a GNN's checkpoint), scored on the same
    test atoms, and the seed table and ranking.md hold both seeds' MAE."""
    ranking = pd.read_csv(run / E2E.report_outputs()["ranking_csv"])
    best = ranking[ranking["model"].isin(SEED_DEPENDENT)].iloc[0]["model"]
    replicate = replicate_of(run)
    assert replicate == with_seed(best, 43)
    if best in GNNS:
        ckpt = torch.load(run / E2E.checkpoint(replicate), weights_only=True)
        original = torch.load(run / E2E.checkpoint(best), weights_only=True)
        seeds = ckpt["config"]["training"]["seed"], original["config"]["training"]["seed"]
        assert seeds == (43, 42)
    metrics = json.loads((run / E2E.metrics(replicate)).read_text())
    assert metrics["all"]["n_atoms"] == int(ranking["n_atoms"].iloc[0])
    table = pd.read_csv(run / E2E.seed_spread())
    assert table["model"].tolist() == [best] and table["seeds"].tolist() == ["42 43"]
    row = table.iloc[0]
    by_model = ranking.set_index("model")
    assert row["MAE_s42"] == pytest.approx(by_model.loc[best, "MAE"], rel=1e-5)
    assert row["MAE_s43"] == pytest.approx(metrics["all"]["mae"], rel=1e-5)
    assert row["MAE_min"] <= row["MAE_mean"] <= row["MAE_max"]
    md = (run / E2E.report_outputs()["ranking_md"]).read_text()
    assert "## Seed replicates" in md and f"| {best} |" in md.split("## Seed replicates")[1]
    assert replicate not in ranking["model"].tolist()  # the ranking stays one row per model


@pytest.mark.slow
def test_study_side_by_side(run):
    """study_comparison.csv/.md and study_claims.csv: one row per study entry with this run's model
    (the best of its kind in the ranking), MAE inside its 95 % interval, the study's numbers of
    magmom/evaluation/study.py, per-element MAE from per_element.csv; each claim's verdict follows
    from the two intervals alone; the labels are DFT at reduced settings (the shipped record)."""
    out = {k: run / v for k, v in E2E.report_outputs().items()}
    ranking = pd.read_csv(out["ranking_csv"])
    per_element = pd.read_csv(out["per_element_csv"]).set_index(["model", "element"])
    study = pd.read_csv(out["study_csv"]).set_index("row")
    assert list(study.index) == [e.row for e in STUDY_ENTRIES]
    gnn = ranking[ranking["family"] == "gnn"].sort_values(["MAE", "model"])
    best = {
        "element-mean": "element-mean", "linear": "linear-r3", "xgboost": "xgboost-r3",
        "chgnet-zeroshot": "chgnet-zeroshot", "chgnet-finetuned": "chgnet-finetuned",
        "best-gnn": gnn["model"].iloc[0], "best-cgconv": "cgconv-r3",
        "best-schnetconv": "schnetconv-r3",
    }  # fmt: skip
    assert study["model"].dropna().to_dict() == best  # no DimeNet in this run
    assert study.loc["best-dimenet", "note"] == "no such model in this run"
    scored = study.dropna(subset=["model"])
    assert ((scored["MAE_low"] <= scored["MAE"]) & (scored["MAE"] <= scored["MAE_high"])).all()
    by_model = ranking.set_index("model")
    for entry in STUDY_ENTRIES:
        row = study.loc[entry.row]
        assert row["study_MAE"] == entry.study_mae and row["study_model"] == entry.study_model
        for el in COMPARED_ELEMENTS:
            expected = entry.study_per_element.get(el)
            assert row[f"study_MAE_{el}"] == expected if expected else math.isnan(
                row[f"study_MAE_{el}"]
            )  # fmt: skip
        if isinstance(row["model"], str):
            ranked = by_model.loc[row["model"]]
            assert row[["MAE", "MAE_low", "MAE_high"]].tolist() == pytest.approx(
                ranked[["MAE", "MAE_low", "MAE_high"]].tolist(), rel=1e-5
            )
            assert row["n_atoms"] == ranked["n_atoms"]
            for el in ("Fe", "Mn", "Ni"):  # the toy dataset's magnetic elements
                assert row[f"n_atoms_{el}"] == per_element.loc[(row["model"], el), "n_atoms"] > 0
                assert row[f"MAE_{el}"] == pytest.approx(
                    per_element.loc[(row["model"], el), "MAE"], rel=1e-5
                )
    claims = pd.read_csv(out["study_claims_csv"])
    assert len(claims) == len(STUDY_CLAIMS) and set(claims["verdict"]) <= set(VERDICTS)
    for _, c in claims.dropna(subset=["a_low", "b_low"]).iterrows():
        if c["a_model"] == c["b_model"]:
            continue
        overlap = c["a_low"] <= c["b_high"] and c["b_low"] <= c["a_high"]
        if overlap:  # a tie is called a tie, whichever point MAE is lower
            assert c["verdict"] == NOT_RESOLVED, c
        else:
            assert c["verdict"] == (
                "holds" if c["a_MAE"] < c["b_MAE"] else "reversed at this scale"
            )
    # the label source comes from the data: the shipped record's 250 eV
    prov = json.loads((run / E2E.provenance()).read_text())
    assert prov["dft_settings"]["reduced"] is True
    assert prov["dft_settings"]["differences"] == ["ecut 250.0 eV (study 350.0 eV)"]
    md = out["study_md"].read_text()
    assert f"> **{REDUCED_DFT_ORIGIN}.** Labels come from GPAW DFT" in md
    assert f"**{prov['n_slabs']['test']} test slabs, {prov['n_atoms']['test']} test atoms**" in md
    for model in best.values():
        assert f"| {model} |" in md
    assert "> **DFT labels at reduced settings.**" in out["ranking_md"].read_text()
    metrics = json.loads((run / E2E.metrics("cgconv-r3")).read_text())
    assert metrics["dft_settings"]["reduced"] is True  # the figures' labels read it


@pytest.mark.slow
def test_every_figure_is_a_valid_png(run):
    for model in GNNS + BASELINES:
        for fig in FIGURES:
            assert_png(run / E2E.model_figure(model, fig))
        metrics = json.loads((run / E2E.metrics(model)).read_text())
        assert metrics["all"]["n_atoms"] > metrics["excluded"]["n_atoms"] >= 0
    assert_png(run / E2E.report_outputs()["cutoff_sweep"])
    assert_png(run / E2E.report_outputs()["heatmap"])


@pytest.fixture(scope="module")
def html_report(run):
    path = run / "report.html"
    proc = snakemake(run, "--report", str(path))
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return path


@pytest.mark.slow
def test_html_report(html_report):
    html = html_report.read_text(errors="replace")
    assert len(html) > 100_000
    for text in ("Ranking", "Per-element error", "Deployment cost", "cutoff_sweep.png"):
        assert text in html, text


@pytest.mark.slow
def test_html_report_in_a_browser(run, html_report):
    """Headless Chromium opens the report, visits every category and model page and shows every
    figure; no JavaScript error, undecodable image or docutils message may appear."""
    with ReportBrowser() as browser:
        browser.open(html_report)
        landing = browser.text()
        assert "magmom21: graph neural networks" in landing  # the workflow description
        assert "System Message" not in landing and "Docutils" not in landing
        categories = browser.categories()
        assert set(categories) == set(REPORT_CATEGORIES)
        # the ranked models' pages and the seed replicate's: once the checkpoint has run, its
        # figures are report outputs of the usual evaluate rule
        replicate = replicate_of(run)
        assert replicate not in GNNS + BASELINES
        assert sorted(categories["Models"]) == sorted([*GNNS, *BASELINES, replicate])
        shown = {}
        for category, subcategories in categories.items():
            for sub in subcategories:
                browser.home()
                browser.click_nav(category)
                if len(subcategories) > 1:
                    browser.click_nav(sub)
                shown[category, sub] = browser.show_every_result()
                assert not browser.broken_images(), (category, sub)
                assert not browser.collect_errors(), (category, sub)
        assert browser.errors == []
    for (category, sub), rows in shown.items():
        figures = sorted(r["labels"][1] for r in rows if r["mime"] == "image/png")
        if category == "Models":  # four figures per model, each shown and decoded
            assert len(rows) == 4 and all(r["labels"][0] == sub for r in rows), rows
            assert figures == ["parity plot"] * 2 + ["signed-error histogram"] * 2
        else:
            assert [r["labels"][0] for r in rows] == sorted(REPORT_CATEGORIES[category]), rows
        assert all(r["width"] > 100 for r in rows if r["mime"] == "image/png"), rows
        assert all(r["mime"] == "text/csv" for r in rows if r["mime"] != "image/png"), rows


def planned(run, changes: dict) -> dict[str, set[str]]:
    """{rule: reasons} of the jobs `snakemake -n` plans on the finished run after ``changes``
    (deep-merged into the run's overrides, in a second config file)."""
    (run / "changed.yaml").write_text(yaml.safe_dump(changes))
    proc = snakemake(run, str(run / "changed.yaml"), "-n")  # appended to the --configfile list
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    jobs: dict[str, set[str]] = {}
    for block in proc.stdout.split("\n\n"):
        lines = block.strip().splitlines()
        heads = ("rule ", "localrule ", "checkpoint ", "localcheckpoint ")
        rule = next((ln.split()[-1].rstrip(":") for ln in lines if ln.startswith(heads)), None)
        reason = next((ln.split("reason: ", 1)[1] for ln in lines if "reason: " in ln), None)
        model = next((ln.split("model_id=", 1)[1] for ln in lines if "model_id=" in ln), "")
        kind = next((ln.split("kind=", 1)[1].split(",")[0] for ln in lines if "kind=" in ln), "")
        model = model or kind
        if rule and reason:
            jobs.setdefault(f"{rule}:{model}" if model else rule, set()).add(reason)
    return jobs


@pytest.mark.slow
def test_config_changes_rerun_exactly_the_models_they_shape(run):
    """Every setting reaches its job as a param: a changed `training.max_epochs` reruns both GNN
    `train` jobs (and what is built on them), a `models.dimenet` change none (no DimeNet here),
    a `models.hidden` change both GNNs, an XGBoost setting only XGBoost (not the linear fit), a
    fine-tuning setting only the CHGNet fine-tuning."""
    assert "Nothing to be done" in snakemake(run, "-n").stdout
    params_changed = "Params have changed since last execution"

    def rerun_by_params(changes):
        jobs = planned(run, changes)
        return jobs, {job for job, why in jobs.items() if any(params_changed in r for r in why)}

    # the models are retrained, then the choice of seed replicates is made again (the checkpoint:
    # a dry run shows the replicates only once it has run), so no replicate is in the plan yet
    trained = {f"train:{m}" for m in GNNS}
    finetuned = {"baseline_chgnet_finetune:chgnet-finetuned"}
    jobs, by_params = rerun_by_params({"training": {"max_epochs": 3}})
    assert by_params == trained and "choose_seed_replicates" in jobs
    assert not any(j.startswith(("baseline", "graph_cache", "split")) for j in jobs)
    assert {j.split(":")[0] for j in jobs} <= {
        "train", "predict", "evaluate", "deployment_cost", "choose_seed_replicates",
        "seed_spread", "report", "all",
    }  # fmt: skip
    assert planned(run, {"models": {"dimenet": {"num_blocks": 2}}}) == {}
    assert rerun_by_params({"models": {"hidden": 24}})[1] == trained
    jobs, by_params = rerun_by_params({"baselines": {"xgboost": {"n_estimators": 30}}})
    assert by_params == {"baseline_tabular:xgboost"}  # not the linear fit of the same cutoff
    jobs, by_params = rerun_by_params({"baselines": {"chgnet_finetune": {"lr": 2.0e-4}}})
    assert by_params == finetuned and "choose_seed_replicates" in jobs
    assert not any(j.startswith("train") for j in jobs)
    # another seed list: the choice is made again (its params), no model retrained before it
    jobs, by_params = rerun_by_params({"report": {"seed_replicates": {"seeds": [43, 45]}}})
    assert by_params == {"choose_seed_replicates"}
    assert not any(j.startswith(("train:", "baseline")) for j in jobs)


@pytest.mark.slow
def test_a_deleted_product_is_rebuilt_with_what_depends_on_it(run):
    """Deleting a checkpoint, a predictions file or a graph cache of a finished run replans it
    (rule all asks for every product, not only the report) and everything built on it."""
    products = {
        E2E.checkpoint("cgconv-r3"): {"train:cgconv-r3", "predict:cgconv-r3", "report"},
        E2E.predictions("xgboost-r3"): {"baseline_tabular:xgboost", "evaluate:xgboost-r3"},
        E2E.graph_cache(3, "test"): {"graph_cache", "predict:cgconv-r3", "baseline_tabular:linear"},
    }
    for path, expected in products.items():
        target = run / path
        backup = target.with_name(target.name + ".bak")
        target.rename(backup)
        try:
            jobs = planned(run, {})
        finally:
            backup.rename(target)
        assert f"Missing output files: {path}" in str(jobs), (path, jobs)
        assert expected <= set(jobs), (path, jobs)
    assert "Nothing to be done" in snakemake(run, "-n").stdout
