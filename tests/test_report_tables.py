"""Ranking, per-element table, deployment-cost table and report files from synthetic metrics."""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from test_evaluation_plots import assert_png

from magmom.evaluation.metrics import evaluate
from magmom.evaluation.report import OUTPUT_KEYS, build_report
from magmom.evaluation.report.cutoff_sweep import cutoff_sweep_figure, sweep_groups
from magmom.evaluation.report.tables import (
    DIVERGED,
    NOT_MEANINGFUL,
    OFF_SCALE_FACTOR,
    STARTS_FROM_LABELLER,
    deployment_table,
    is_diverged,
    off_scale_cap,
    per_element_table,
    ranking_table,
)
from magmom.layout import Layout, parse_model_id

GNN = ["cgconv-r3", "cgconv-r4", "schnetconv-r3", "schnetconv-r4", "cgconv-r4-res"]
BASELINES = ["element-mean", "linear-r4", "xgboost-r4", "chgnet-zeroshot", "chgnet-finetuned"]
NOISE = {  # prediction noise per model: sets the expected order
    "chgnet-zeroshot": 0.0,
    "schnetconv-r4": 0.02,
    "cgconv-r3": 0.03,
    "chgnet-finetuned": 0.035,
    "cgconv-r4-res": 0.04,
    "schnetconv-r3": 0.05,
    "cgconv-r4": 0.06,
    "xgboost-r4": 0.08,
    "linear-r4": 0.15,
    "element-mean": 0.2,
}


def metrics_for(model_id, rng, noise=None):
    n = 320
    el = rng.choice(["Fe", "Ni", "Mn", "Cu", "V"], n)
    y = np.where(el == "Fe", 2.5, np.where(el == "Ni", 0.6, 0.0)) + rng.random(n) * 0.1
    df = pd.DataFrame(
        {
            "slab_id": [f"s{k // 16}" for k in range(n)],
            "atom_index": np.arange(n) % 16,
            "element": el,
            "y_true": y,
            "y_pred": y + rng.normal(0, (noise or NOISE)[model_id], n),
        }
    )
    result = evaluate(df, ["V", "Cr", "Mn"])
    result.update(model_id=model_id, surrogate=True)
    return result


@pytest.fixture
def metrics():
    rng = np.random.default_rng(0)
    return {m: metrics_for(m, rng) for m in GNN + BASELINES}


def test_ranking_orders_by_mae_and_flags_zeroshot_on_surrogate_labels(metrics):
    ranking = ranking_table(metrics, GNN, surrogate=True)
    assert set(ranking["model"]) == set(GNN + BASELINES)
    ranked = ranking[ranking["rank"].notna()]
    assert ranked["rank"].tolist() == list(range(1, len(GNN + BASELINES)))
    assert ranked["MAE"].is_monotonic_increasing
    last = ranking.iloc[-1]
    assert last["model"] == "chgnet-zeroshot" and pd.isna(last["rank"])
    assert last["note"] == NOT_MEANINGFUL
    assert ranked.iloc[0]["model"] == "schnetconv-r4"
    notes = ranking.set_index("model")["note"]
    assert notes["chgnet-finetuned"] == STARTS_FROM_LABELLER  # ranked, with a caution
    assert pd.notna(ranking.set_index("model").loc["chgnet-finetuned", "rank"])
    assert (notes.drop(["chgnet-zeroshot", "chgnet-finetuned"]) == "").all()
    row = ranking.set_index("model").loc["cgconv-r4-res"]
    assert (row["family"], row["architecture"], row["cutoff"], row["residual"]) == (
        "gnn",
        "cgconv",
        4.0,
        True,
    )
    assert ranking.set_index("model").loc["element-mean", "family"] == "baseline"
    assert (ranking["n_atoms"] == 320).all()
    assert (ranking["n_atoms_excl"] < ranking["n_atoms"]).all()


def test_dft_labels_rank_zeroshot_normally(metrics):
    ranking = ranking_table(metrics, GNN, surrogate=False)
    assert ranking["rank"].notna().all() and (ranking["note"] == "").all()
    assert ranking.iloc[0]["model"] == "chgnet-zeroshot"


def test_per_element_table(metrics):
    table = per_element_table(metrics)
    assert set(table["element"]) == {"Fe", "Ni", "Mn", "Cu", "V"}
    assert len(table) == 5 * len(metrics)
    fe = table[(table["model"] == "cgconv-r3") & (table["element"] == "Fe")].iloc[0]
    assert fe["MAE"] == pytest.approx(metrics["cgconv-r3"]["all"]["per_element"]["Fe"]["mae"])


def cost_frame():
    rows = []
    for m in GNN:
        arch, cutoff, res = parse_model_id(m)[:3]
        rows.append(
            {
                "model_id": m,
                "architecture": arch,
                "cutoff": cutoff,
                "residual": res,
                "parameters": 1000,
                "n_atoms": 64,
                "n_edges": 900,
                "load_s": 0.05,
                "load_warm_s": 0.01,
                "cpu_ms": 3.0,
                "cuda_ms": np.nan,
                "cpu_threads": 2,
            }
        )
    rows.append(
        {
            "model_id": "chgnet-pretrained",
            "architecture": "chgnet",
            "cutoff": 5.0,
            "residual": False,
            "parameters": 412525,
            "n_atoms": 64,
            "n_edges": 3000,
            "load_s": 1.0,
            "load_warm_s": 0.5,
            "cpu_ms": 100.0,
            "cuda_ms": np.nan,
            "cpu_threads": 2,
        }
    )
    return pd.DataFrame(rows)


def test_deployment_table_keeps_best_cutoff_per_architecture(metrics):
    ranking = ranking_table(metrics, GNN, surrogate=True)
    table = deployment_table(cost_frame(), ranking)
    assert table["model_id"].tolist()[:2] == ["schnetconv-r4", "cgconv-r3"]
    assert "chgnet-pretrained" in set(table["model_id"])
    ref = table.set_index("model_id").loc["chgnet-pretrained"]
    assert ref["test_MAE"] == pytest.approx(metrics["chgnet-finetuned"]["all"]["mae"])


def test_operators_trained_only_residually_are_lines_and_deployment_rows(metrics):
    """models.residual_target: an operator without plain models is drawn and costed through
    its residual models; beside plain models a residual variant stays a star."""
    gnn = ["cgconv-r3-res", "cgconv-r4-res", "schnetconv-r3", "schnetconv-r4", "schnetconv-r4-res"]
    rng = np.random.default_rng(1)
    noise = {**NOISE, "cgconv-r3-res": 0.03, "cgconv-r4-res": 0.06, "schnetconv-r4-res": 0.04}
    rows = {m: metrics_for(m, rng, noise) for m in gnn}
    ranking = ranking_table({**{b: metrics[b] for b in BASELINES}, **rows}, gnn, surrogate=True)
    groups = sweep_groups(ranking)
    assert set(groups.gnn["model"]) == {"cgconv-r3-res", "cgconv-r4-res", "schnetconv-r3",
                                        "schnetconv-r4"}  # fmt: skip
    assert groups.residual["model"].tolist() == ["schnetconv-r4-res"]
    cost = cost_frame()
    cgconv = cost["architecture"] == "cgconv"
    cost.loc[cgconv, "model_id"] = [
        f"{m.removesuffix('-res')}-res" for m in cost.loc[cgconv, "model_id"]
    ]
    cost = cost.drop_duplicates("model_id").assign(
        residual=lambda d: d["model_id"].str.endswith("-res")
    )
    table = deployment_table(cost, ranking)
    assert "cgconv-r3-res" in set(table["model_id"])
    assert "schnetconv-r3-res" not in set(table["model_id"])


def test_build_report_writes_every_output(metrics, tmp_path):
    paths = {}
    for m, result in metrics.items():
        paths[m] = tmp_path / f"{m}.json"
        paths[m].write_text(json.dumps(result))
    cost = tmp_path / "cost.csv"
    cost_frame().to_csv(cost, index=False)
    provenance = {
        "surrogate": True,
        "labellers": {"chgnet": 20},
        "target": "abs",
        "n_slabs": {"test": 20, "train": 60, "val": 20},
        "n_atoms": {"test": 320, "train": 960, "val": 320},
    }
    out = {k: Path(p) for k, p in Layout(str(tmp_path), "t").report_outputs().items()}
    cap_note = "*What the neighbour cap does* (a test note)"
    build_report(paths, GNN, cost, provenance, out, ["V", "Cr", "Mn"], top_n=4, cap_note=cap_note)
    ranking = pd.read_csv(out["ranking_csv"])
    assert set(ranking["model"]) == set(metrics)
    md = out["ranking_md"].read_text()
    assert md.count("Surrogate labels") >= 2 and "320 atoms" in md and "20 slabs" in md
    assert md.index("![cutoff sweep]") < md.index(cap_note) < md.index("![per-element heatmap]")
    for m in metrics:
        assert f"| {m} |" in md
    assert NOT_MEANINGFUL in md
    assert "Surrogate labels" in out["cost_md"].read_text()
    assert_png(out["cutoff_sweep"])
    assert_png(out["heatmap"])
    assert_png(out["ranking_plot"])
    assert len(pd.read_csv(out["per_element_csv"])) == 5 * len(metrics)


def test_ranking_plot_draws_every_ranked_score_with_its_interval(metrics, tmp_path):
    """The HTML report shows figures inline, tables only as downloads: the scores are drawn."""
    from magmom.evaluation.report.ranking_plot import ranking_figure

    ranking = ranking_table(metrics, GNN, surrogate=True)
    fig = ranking_figure(ranking, tmp_path / "ranking.png", surrogate=True)
    assert_png(tmp_path / "ranking.png")
    ax = fig.axes[0]
    ranked = ranking[ranking["rank"].notna()].sort_values("rank")
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert labels == [
        f"{int(r)}. {m}" for r, m in zip(ranked["rank"], ranked["model"], strict=True)
    ]
    texts = [t.get_text() for t in ax.texts]
    assert [float(t.split()[0]) for t in texts] == pytest.approx(ranked["MAE"].round(3).tolist())
    unranked = ranking.loc[ranking["rank"].isna(), "model"].tolist()
    assert unranked and all(m in ax.get_title() for m in unranked)  # named, not drawn


def test_cutoff_sweep_caps_diverged_models(metrics, tmp_path):
    ranking = ranking_table(metrics, GNN, surrogate=True)
    ranking.loc[ranking["model"] == "cgconv-r4", "MAE"] = 4.3e4  # a diverged run
    ranked = ranking[ranking["rank"].notna()]
    element_mean = ranked.set_index("model").loc["element-mean", "MAE"]
    cap = off_scale_cap(ranked)
    assert cap == pytest.approx(OFF_SCALE_FACTOR * element_mean)
    assert ranked.loc[ranked["MAE"] > cap, "model"].tolist() == ["cgconv-r4"]
    assert off_scale_cap(ranked[ranked["model"] != "element-mean"]) == pytest.approx(
        OFF_SCALE_FACTOR * ranked.loc[ranked["model"] != "element-mean", "MAE"].median()
    )
    cutoff_sweep_figure(ranking, tmp_path / "sweep.png", surrogate=True)
    assert_png(tmp_path / "sweep.png")


def test_diverged_models_are_noted_and_stay_ranked(metrics, tmp_path):
    floor = metrics["element-mean"]["all"]["mae"]
    metrics["cgconv-r4"]["all"]["mae"] = 1.01 * OFF_SCALE_FACTOR * floor  # just over: diverged
    metrics["schnetconv-r3"]["all"]["mae"] = 0.99 * OFF_SCALE_FACTOR * floor  # just under
    metrics["chgnet-finetuned"]["all"]["mae"] = 3770.0  # a cautioned row can diverge too
    ranking = ranking_table(metrics, GNN, surrogate=True)
    by_model = ranking.set_index("model")
    assert sorted(ranking.loc[is_diverged(ranking), "model"]) == ["cgconv-r4", "chgnet-finetuned"]
    note = by_model.loc["cgconv-r4", "note"]
    assert note.startswith(f"{DIVERGED}: MAE ") and "per-element-mean MAE" in note
    assert f"({floor:.3g} μB)" in note
    assert by_model.loc["chgnet-finetuned", "note"].startswith(STARTS_FROM_LABELLER + "; ")
    assert by_model.loc["schnetconv-r3", "note"] == ""
    ranked = ranking[ranking["rank"].notna()]  # diverged rows keep their rank, at the bottom
    assert ranked["model"].tolist()[-2:] == ["cgconv-r4", "chgnet-finetuned"]
    assert by_model.loc["chgnet-zeroshot", "note"] == NOT_MEANINGFUL  # still unranked, not noted
    swept = sweep_groups(ranking)
    assert sorted(swept.off_scale["model"]) == ["cgconv-r4"]  # the sweep caps the same GNNs
    assert swept.cap == pytest.approx(off_scale_cap(ranked))
    paths = {}
    for m, result in metrics.items():
        paths[m] = tmp_path / f"{m}.json"
        paths[m].write_text(json.dumps(result))
    cost = tmp_path / "cost.csv"
    cost_frame().to_csv(cost, index=False)
    out = {k: tmp_path / "report" / f"{k}.out" for k in OUTPUT_KEYS}
    provenance = {"surrogate": False, "target": "abs", "n_slabs": {"test": 20}}
    build_report(paths, GNN, cost, provenance, out, ["V", "Cr", "Mn"], top_n=4)
    md = out["ranking_md"].read_text()
    assert "**Diverged:** cgconv-r4, chgnet-finetuned ended with a test MAE over" in md
    assert pd.read_csv(out["ranking_csv"]).set_index("model").loc["cgconv-r4", "note"] == note


def test_ranking_marks_overlapping_bootstrap_intervals_as_ties():
    intervals = {  # model: (MAE, 95 % interval)
        "cgconv-r3": (0.15, [0.10, 0.20]),
        "cgconv-r4": (0.20, [0.15, 0.30]),  # overlaps rank 1
        "schnetconv-r3": (0.37, [0.35, 0.40]),  # overlaps nothing better
        "schnetconv-r4": (0.42, [0.38, 0.50]),  # overlaps rank 3 (and not rank 1, 2)
        "element-mean": (0.60, None),  # no interval (metrics written before it existed)
    }
    metrics = {}
    rng = np.random.default_rng(0)
    for model_id, (mae, ci) in intervals.items():
        m = metrics_for(model_id, rng, noise={model_id: 0.01})
        m["all"]["mae"], m["all"]["mae_ci95"] = mae, ci
        metrics[model_id] = m
    table = ranking_table(metrics, GNN, surrogate=False).set_index("model")
    assert table["rank"].tolist() == [1, 2, 3, 4, 5]
    assert table["tied_with"].tolist() == [1, 1, 3, 3, 5]
    assert table.loc["cgconv-r4", ["MAE_low", "MAE_high"]].tolist() == [0.15, 0.30]
    assert np.isnan(table.loc["element-mean", "MAE_low"])


def test_heatmap_element_labels_do_not_overlap(tmp_path):
    """Five elements and five models, short labels (seaborn turns them vertical): horizontal labels
    whose boxes do not overlap."""
    from magmom.evaluation.report.heatmap import per_element_heatmap

    elements, models = ["Fe", "Mn", "Ni", "Pt", "Cu"], ["m1", "m2", "m3", "m4", "m5"]
    per_element = pd.DataFrame(
        [
            {"model": m, "element": el, "MAE": 0.1 * (i + 1) + 0.01 * j, "n_atoms": 4 + 2 * i}
            for i, el in enumerate(elements)
            for j, m in enumerate(models)
        ]
    )
    ranking = pd.DataFrame(
        {"model": models, "rank": range(1, 6), "MAE": [0.1, 0.2, 0.3, 0.4, 0.5],
         "n_atoms": 5000, "n_slabs": 40, "diverged": False, "note": ""}
    )  # fmt: skip
    fig = per_element_heatmap(per_element, ranking, 5, tmp_path / "h.png", surrogate=False)
    labels = fig.axes[0].get_yticklabels()
    assert [t.get_text().split()[0] for t in labels] == [
        "Cu",
        "Pt",
        "Ni",
        "Mn",
        "Fe",
    ]  # hardest first
    assert all(t.get_rotation() == 0 for t in labels)
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    canvas = FigureCanvasAgg(fig)  # the saved figure is closed: draw it again
    canvas.draw()
    renderer = canvas.get_renderer()
    boxes = [t.get_window_extent(renderer) for t in labels]
    assert not any(a.overlaps(b) for k, a in enumerate(boxes) for b in boxes[k + 1 :])
