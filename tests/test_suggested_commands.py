"""Commands suggested in messages work as printed: they carry the config file of the results tree
they name, and none is suggested for a path no configuration writes."""

from __future__ import annotations

import pytest

from magmom.config import CONFIG_ARGS_ENV, REPO, config_files_for, snakemake_command
from magmom.predict.predictor import ModelNotFoundError, resolve_checkpoint
from magmom.suggestions import retrain_hint, suggestion


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
    """The predictor's error carries the facts (which checkpoints the repository's configurations
    write for the model) and no command; magmom.suggestions words the command from them."""
    with pytest.raises(FileNotFoundError) as err:
        resolve_checkpoint("cgconv-r6-res", results_dir=tmp_path)
    assert isinstance(err.value, ModelNotFoundError) and err.value.remedy == "train"
    assert "results/demo/models/cgconv-r6-res/best.pt" in err.value.checkpoints
    assert "snakemake" not in str(err.value) and str(tmp_path) in str(err.value)
    assert (
        "train it first: `snakemake results/demo/models/cgconv-r6-res/best.pt "
        "--configfile presets/demo.yaml`" in suggestion(err.value)
    )
    # a baseline is not called untrained: it has no checkpoint the predictor runs
    with pytest.raises(ModelNotFoundError) as err:
        resolve_checkpoint("xgboost-r4", results_dir=tmp_path)
    assert "is not a GNN id" in str(err.value) and err.value.checkpoints == ()
    assert suggestion(err.value) is None
    with pytest.raises(ModelNotFoundError) as err:
        resolve_checkpoint("cgconv-r5", results_dir=tmp_path)
    assert "no configuration of this repository trains 'cgconv-r5'" in str(err.value)
    assert err.value.remedy is None and suggestion(err.value) is None


def test_the_predict_command_line_prints_the_training_command(at_repo, tmp_path, caplog):
    from magmom.predict.cli import main

    structures = tmp_path / "s.extxyz"
    structures.write_text("")
    argv = ["cgconv-r6-res", str(structures), "-o", str(tmp_path / "out.csv")]
    assert main([*argv, "--results-dir", str(tmp_path)]) == 2
    assert "train it first: `snakemake results/demo/models/cgconv-r6-res/best.pt" in caplog.text


def test_retrain_hint_only_suggests_snakemake_inside_a_results_tree(at_repo):
    inside = retrain_hint("results/demo/models/cgconv-r3-res/best.pt")
    assert "`snakemake results/demo/models/cgconv-r3-res/best.pt --forcerun train" in inside
    assert inside.split("`")[1].endswith("--configfile presets/demo.yaml")
    outside = retrain_hint("/tmp/copied/best.pt")
    assert "snakemake" not in outside and "python -m magmom.training" in outside


def test_library_errors_carry_facts_and_build_no_command(at_repo, tmp_path):
    """The graph cache and checkpoint modules name the file and the remedy; the command is
    worded by magmom.suggestions for the layers a user runs."""
    from magmom.graphs import GraphCache
    from magmom.graphs.cache import CacheError
    from magmom.training.checkpoint import CheckpointError, load_checkpoint

    missing = tmp_path / "missing.lmdb"
    with pytest.raises(CacheError) as err:
        GraphCache(missing)
    assert (err.value.path, err.value.remedy) == (missing, "build")
    assert str(missing) in str(err.value) and "snakemake" not in str(err.value)
    assert suggestion(err.value).startswith(f"build it with: snakemake {missing}")

    truncated = tmp_path / "truncated.lmdb"
    truncated.write_bytes(b"\0" * 100)
    with pytest.raises(CacheError) as err:
        GraphCache(truncated)
    assert err.value.remedy == "rebuild" and "snakemake" not in str(err.value)

    best = REPO / "results" / "demo" / "models" / "cgconv-r3" / "best.pt"
    corrupt = tmp_path / "best.pt"
    corrupt.write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError) as err:
        load_checkpoint(corrupt)
    assert (err.value.path, err.value.remedy) == (corrupt, "retrain")
    assert "snakemake" not in str(err.value)
    assert suggestion(err.value) == retrain_hint(corrupt)
    assert "--configfile presets/demo.yaml" in retrain_hint(best)


def test_a_rule_script_log_and_traceback_carry_the_command(at_repo, tmp_path):
    from magmom.graphs import GraphCache
    from magmom.graphs.cache import CacheError
    from magmom.rule_logging import log_to

    truncated = tmp_path / "truncated.lmdb"
    truncated.write_bytes(b"\0" * 100)
    log = tmp_path / "job.log"
    with pytest.raises(CacheError) as err, log_to(log):
        GraphCache(truncated)
    hint = f"delete it and rebuild it: snakemake {truncated}"
    assert any(note.startswith(hint) for note in err.value.__notes__)  # Snakemake's output
    assert hint in log.read_text()


def test_the_training_command_line_prints_the_command(at_repo, tmp_path, capsys):
    from magmom.training.cli import main

    truncated = tmp_path / "truncated.lmdb"
    truncated.write_bytes(b"\0" * 100)
    args = ["--architecture", "gcnconv", "--cutoff", "6", "--configfile", "presets/tiny.yaml"]
    assert main([*args, "--train-cache", str(truncated), "--val-cache", str(truncated)]) == 1
    err = capsys.readouterr().err
    assert f"error: graph cache {truncated}" in err
    assert f"delete it and rebuild it: snakemake {truncated}" in err
