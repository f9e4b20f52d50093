"""Seed replicates: the choice of models, the seed table on hand-made metrics, the config check,
the train rule training a replicate with its id's seed, and the checkpoint in the DAG (or not)."""

from __future__ import annotations

import math
import re
import subprocess
import sys

import pandas as pd
import pytest
import torch
import yaml
from training_helpers import REPO, TINY, tiny_caches

from magmom.config import ConfigError, check, seeded_training
from magmom.evaluation.report.markdown import ranking_markdown
from magmom.evaluation.report.seed_spread import choose_models, seed_spread_table
from magmom.evaluation.report.tables import ranking_table
from magmom.evaluation.seeds import mae_by_seed, read_choice, write_choice
from magmom.training.checkpoint import load_checkpoint
from magmom.training.cli import load_config

SNAKEMAKE = str(sys.executable).rsplit("/", 1)[0] + "/snakemake"
SCHEMA = REPO / "schemas" / "config.schema.yaml"


def fake_metrics(mae: float) -> dict:
    """A metrics file's content (magmom.evaluation.metrics) with test MAE ``mae``."""
    return {
        "all": {
            "mae": mae, "mae_ci95": [mae - 0.001, mae + 0.001], "rmse": mae, "r2": 0.9,
            "max_error": 1.0, "n_atoms": 100, "n_slabs": 10, "per_element": {},
        },
        "excluded": {"mae": mae, "r2": 0.9, "n_atoms": 80},
    }  # fmt: skip


# the report's models (training.seed 42) and, for the seed-dependent ones, seeds 43 and 44
ORIGINAL = {
    "cgconv-r4": 0.100,
    "schnetconv-r4": 0.110,
    "xgboost-r4": 0.150,  # deterministic: never replicated, but a neighbour in the ranking
    "chgnet-finetuned": 0.200,
    "dimenet-r4": 0.300,
    "element-mean": 0.500,
}
GNN = ["cgconv-r4", "schnetconv-r4", "dimenet-r4"]
SEED_DEPENDENT = [*GNN, "chgnet-finetuned"]
REPLICATES = {
    "cgconv-r4-s43": 0.104, "cgconv-r4-s44": 0.096,
    "schnetconv-r4-s43": 0.125, "schnetconv-r4-s44": 0.105,
    "chgnet-finetuned-s43": 0.210, "chgnet-finetuned-s44": 0.190,
}  # fmt: skip


def test_the_best_seed_dependent_models_are_chosen_in_the_rankings_order():
    metrics = {m: fake_metrics(ORIGINAL[m]) for m in SEED_DEPENDENT}
    assert choose_models(metrics, GNN, 3, surrogate=False) == [
        "cgconv-r4", "schnetconv-r4", "chgnet-finetuned",
    ]  # fmt: skip
    assert choose_models(metrics, GNN, 10, surrogate=True) == [
        "cgconv-r4", "schnetconv-r4", "chgnet-finetuned", "dimenet-r4",
    ]  # fmt: skip
    metrics["chgnet-finetuned"] = fake_metrics(0.05)
    assert choose_models(metrics, GNN, 1, surrogate=False) == ["chgnet-finetuned"]


def test_the_choice_file_round_trips(tmp_path):
    path = tmp_path / "seed_replicates.json"
    written = write_choice(path, ["cgconv-r4", "chgnet-finetuned"], [43, 44], 42, SEED_DEPENDENT)
    assert read_choice(path) == written
    assert written["replicates"] == [
        "cgconv-r4-s43", "cgconv-r4-s44", "chgnet-finetuned-s43", "chgnet-finetuned-s44",
    ]  # fmt: skip
    path.write_text('{"models": []}')
    with pytest.raises(ValueError, match=r"seed_replicates\.json.*without replicates"):
        read_choice(path)


def test_seed_table_on_hand_made_metrics():
    """cgconv-r4: MAE 0.100/0.104/0.096 (mean 0.1, std 0.004, range 0.008 < the gap of 0.010 to
    rank 2); schnetconv-r4: 0.110/0.125/0.105 (range 0.020 > the gap of 0.010 to rank 1);
    chgnet-finetuned: 0.200/0.210/0.190 (range 0.020 < its gaps of 0.050 and 0.100)."""
    metrics = {m: fake_metrics(v) for m, v in {**ORIGINAL, **REPLICATES}.items()}
    choice = {
        "models": ["cgconv-r4", "schnetconv-r4", "chgnet-finetuned"],
        "original_seed": 42,
        "seeds": [43, 44],
    }
    ranking = ranking_table({m: metrics[m] for m in ORIGINAL}, GNN, surrogate=False)
    table = seed_spread_table(ranking, mae_by_seed(choice, metrics)).set_index("model")
    assert list(table.index) == ["cgconv-r4", "schnetconv-r4", "chgnet-finetuned"]
    assert table["rank"].tolist() == [1, 2, 4]
    assert table.loc["schnetconv-r4", "seeds"] == "42 43 44"
    expected = {  # model: (MAE per seed, mean, std, gap above, gap below, range > a gap)
        "cgconv-r4": ((0.100, 0.104, 0.096), 0.100, 0.004, math.nan, 0.010, False),
        "schnetconv-r4": ((0.110, 0.125, 0.105), 0.340 / 3, 0.0104083, 0.010, 0.040, True),
        "chgnet-finetuned": ((0.200, 0.210, 0.190), 0.200, 0.010, 0.050, 0.100, False),
    }
    for model, (per_seed, mean, std, above, below, exceeds) in expected.items():
        row = table.loc[model]
        assert [row["MAE_s42"], row["MAE_s43"], row["MAE_s44"]] == pytest.approx(per_seed)
        assert row["MAE_mean"] == pytest.approx(mean)
        assert row["MAE_std"] == pytest.approx(std, rel=1e-5)
        assert (row["MAE_min"], row["MAE_max"]) == pytest.approx((min(per_seed), max(per_seed)))
        assert row["spread"] == pytest.approx(max(per_seed) - min(per_seed))
        assert row["gap_above"] == pytest.approx(above, nan_ok=True)
        assert row["gap_below"] == pytest.approx(below)
        assert bool(row["spread_exceeds_gap"]) is exceeds
    assert "exceeds the gap of 0.01 μB to rank 1 (cgconv-r4)" in table.loc["schnetconv-r4", "note"]
    assert "smaller than the gaps" in table.loc["chgnet-finetuned", "note"]
    # the ranking page: the section, the verdict on schnetconv-r4
    md = ranking_markdown(ranking, pd.DataFrame(columns=["element", "n_atoms"]), _no_cost(), {},
                          ["V"], 3, seed_spread=table.reset_index())  # fmt: skip
    section = md.split("## Seed replicates")[1].split("## Figures")[0]
    assert "| 2 | schnetconv-r4 | 0.1100 | 0.1250 | 0.1050 |" in section
    assert "exceeds a gap to a neighbouring rank for schnetconv-r4**" in section
    assert "## Seed replicates" not in ranking_markdown(
        ranking, pd.DataFrame(columns=["element", "n_atoms"]), _no_cost(), {}, ["V"], 3
    )


def _no_cost() -> pd.DataFrame:
    return pd.DataFrame(columns=["model_id", "parameters", "load_s", "load_warm_s", "cpu_ms",
                                 "cuda_ms", "test_MAE", "note"])  # fmt: skip


def test_a_seed_replicate_trains_with_its_ids_seed_and_nothing_else_changes():
    training = {"seed": 42, "max_epochs": 3, "lr": 1e-3}
    assert seeded_training(training, "cgconv-r4") == training
    assert seeded_training(training, "cgconv-r4-res-s43") == {**training, "seed": 43}
    assert seeded_training(training, "chgnet-finetuned-s7") == {**training, "seed": 7}


def test_training_seed_among_the_extra_seeds_is_refused():
    config = load_config(REPO / "config.yaml", [REPO / "presets" / "tiny.yaml"])
    config["report"]["seed_replicates"]["seeds"] = [42, 43]
    with pytest.raises(ConfigError, match=r"report\.seed_replicates\.seeds': 42 is training\.seed"):
        check(config, SCHEMA)
    config["report"]["seed_replicates"]["seeds"] = []
    check(config, SCHEMA)


def snakemake(workdir, *args, extra: dict | None = None) -> subprocess.CompletedProcess:
    """The workflow on the tiny preset (plus ``extra`` config) in ``workdir``."""
    configs = [str(REPO / "config.yaml"), str(REPO / "presets" / "tiny.yaml")]
    if extra:
        (workdir / "extra.yaml").write_text(yaml.safe_dump(extra))
        configs.append(str(workdir / "extra.yaml"))
    return subprocess.run(
        [SNAKEMAKE, "-s", str(REPO / "Snakefile"), "-d", str(workdir), *args,
         "--configfile", *configs],
        capture_output=True, text=True, timeout=900,
    )  # fmt: skip


@pytest.mark.slow
def test_the_train_rule_trains_a_replicate_with_its_seed(tmp_path):
    """`train` on cgconv-r4 and cgconv-r4-s43 (the real rule and script, 1 epoch on small
    caches): the replicate's checkpoint records seed 43, the original's training.seed (42), the
    rest of the recorded config is the same, and the weights differ."""
    tiny_caches(tmp_path, 4.0, counts=(12, 4, 4))
    targets = [TINY.checkpoint("cgconv-r4"), TINY.checkpoint("cgconv-r4-s43")]
    proc = snakemake(
        tmp_path, *targets, "--cores", "2", "--allowed-rules", "train",  # (nargs: targets first)
        extra={"training": {"max_epochs": 1}},
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    original, replicate = (load_checkpoint(tmp_path / t) for t in targets)
    assert original["config"]["training"]["seed"] == 42
    assert replicate["config"]["training"]["seed"] == 43
    replicate["config"]["training"]["seed"] = 42
    assert replicate["config"] == original["config"]
    assert replicate["model_id"] == original["model_id"] == "cgconv-r4"  # the same model
    weights = [c["model_state"] for c in (original, replicate)]
    assert weights[0].keys() == weights[1].keys()
    assert not all(torch.equal(weights[0][k], weights[1][k]) for k in weights[0])


def job_counts(out: str) -> dict[str, int]:
    table = out.split("Job stats:")[1].split("\n\n")[0]
    return {rule: int(n) for rule, n in re.findall(r"^(\w+)\s+(\d+)$", table, flags=re.M)}


def test_the_checkpoint_is_planned_only_with_seeds(tmp_path):
    """The tiny preset (top 1, seeds [43]): the checkpoint, the seed table and the report are
    planned, the replicates deferred until the checkpoint has run; with seeds: [] neither rule is
    in the DAG and the report still is."""
    with_seeds = snakemake(tmp_path, "-n")
    assert with_seeds.returncode == 0, with_seeds.stdout[-3000:] + with_seeds.stderr[-3000:]
    counts = job_counts(with_seeds.stdout)
    assert counts["choose_seed_replicates"] == counts["seed_spread"] == counts["report"] == 1
    assert "The run involves checkpoint jobs" in with_seeds.stdout + with_seeds.stderr
    config = load_config(REPO / "config.yaml", [REPO / "presets" / "tiny.yaml"])
    n_gnn = len(config["models"]["architectures"]) * len(config["models"]["cutoffs"]) + 1
    assert counts["train"] == n_gnn  # no replicate before the choice
    without = snakemake(tmp_path, "-n", extra={"report": {"seed_replicates": {"seeds": []}}})
    assert without.returncode == 0, without.stdout[-3000:] + without.stderr[-3000:]
    counts = job_counts(without.stdout)
    assert "choose_seed_replicates" not in counts and "seed_spread" not in counts
    assert counts["report"] == 1 and counts["train"] == n_gnn
    assert "The run involves checkpoint jobs" not in without.stdout + without.stderr
