"""Commands suggested in messages work as printed: they carry the config file of the results tree
they name, and none is suggested for a path no configuration writes."""

from __future__ import annotations

import pytest

from magmom.config import CONFIG_ARGS_ENV, REPO, config_files_for, snakemake_command
from magmom.predict.predictor import how_to_train, resolve_checkpoint
from magmom.training.checkpoint import retrain_hint


@pytest.fixture()
def at_repo(monkeypatch):
    monkeypatch.chdir(REPO)
    monkeypatch.delenv(CONFIG_ARGS_ENV, raising=False)  # outside a workflow job


def test_a_results_path_brings_its_config_file(at_repo):
    assert config_files_for("results/demo/models/x/best.pt") == ["presets/demo.yaml"]
    assert config_files_for(REPO / "results/study/graphs/g.lmdb") == []  # config.yaml: default
    assert config_files_for("/tmp/elsewhere/best.pt") is None
    assert snakemake_command("results/tiny/split/tiny-split.csv") == (
        "snakemake results/tiny/split/tiny-split.csv --configfile presets/tiny.yaml"
    )


def test_the_predictor_says_how_to_train_a_missing_model(at_repo, tmp_path):
    with pytest.raises(FileNotFoundError) as err:
        resolve_checkpoint("cgconv-r6-res", results_dir=tmp_path)
    assert (
        "train it first: `snakemake results/demo/models/cgconv-r6-res/best.pt "
        "--configfile presets/demo.yaml`" in str(err.value)
    )
    # a baseline is not called untrained: it has no checkpoint the predictor runs
    assert "is not a GNN id" in how_to_train("xgboost-r4")
    assert "train it first" not in how_to_train("xgboost-r4")
    assert "no configuration of this repository trains 'cgconv-r5'" in how_to_train("cgconv-r5")


def test_retrain_hint_only_suggests_snakemake_inside_a_results_tree(at_repo):
    inside = retrain_hint("results/demo/models/cgconv-r3-res/best.pt")
    assert "`snakemake results/demo/models/cgconv-r3-res/best.pt --forcerun train" in inside
    assert inside.split("`")[1].endswith("--configfile presets/demo.yaml")
    outside = retrain_hint("/tmp/copied/best.pt")
    assert "snakemake" not in outside and "python -m magmom.training" in outside
