"""Label provenance: who labelled the dataset, surrogate flag, slab/atom counts per split."""

import json
from pathlib import Path

import pytest
from baselines_helpers import toy_dataset, toy_split, write_dataset_db, write_split

from magmom.evaluation.provenance import (
    REDUCED_DFT_ORIGIN,
    config_dft_settings,
    dft_label_settings,
    label_origin,
    label_provenance,
    record_dft_settings,
    reduced_settings_note,
    surrogate_note,
)
from magmom.evaluation.study import STUDY_DFT
from magmom.training.cli import load_config


def config(labeller="gpaw", source=None, target="abs"):
    return {"labeller": labeller, "imported": bool(source), "target": target}


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    root = tmp_path_factory.mktemp("prov")
    dataset = toy_dataset(5, seed=2)
    split = write_split(root / "split.csv", toy_split([s for s, _, _ in dataset]))
    return root, dataset, split


@pytest.mark.parametrize(
    ("labeller", "cfg", "surrogate"),
    [
        ("chgnet", config("chgnet"), True),
        ("chgnet", config("gpaw"), True),  # the db's labeller key wins over the config
        ("gpaw", config("gpaw"), False),
        ("imported", config("chgnet", source="old.h5"), False),  # imported labels: not ours
    ],
)
def test_surrogate_flag(files, labeller, cfg, surrogate):
    root, dataset, split = files
    db = write_dataset_db(root / f"{labeller}-{cfg['labeller']}.db", dataset, labeller=labeller)
    prov = label_provenance(db, split, **cfg)
    assert prov["surrogate"] is surrogate
    assert prov["labellers"] == {labeller: 5}
    assert (surrogate_note(prov) is not None) is surrogate


def test_counts_per_split(files):
    root, dataset, split = files
    prov = label_provenance(write_dataset_db(root / "c.db", dataset), split, **config())
    assert prov["n_slabs"] == {"test": 1, "train": 3, "val": 1}
    assert sum(prov["n_atoms"].values()) == sum(len(a) for _, a, _ in dataset)
    assert prov["target"] == "abs"


@pytest.mark.parametrize(
    ("labellers", "origin"),
    [
        ({"gpaw": 5}, "DFT (GPAW)"),
        ({"chgnet": 5}, "CHGNet surrogate (not DFT)"),
        ({"imported": 5}, "imported, origin unknown"),  # never called DFT
        ({"unknown": 2, "vasp-run-7": 1}, "imported, origin unknown"),
        ({"gpaw": 9, "imported": 1}, "DFT (GPAW) 90 %, imported, origin unknown 10 %"),
    ],
)
def test_label_origin_calls_only_gpaw_labels_dft(labellers, origin):
    assert label_origin(labellers) == origin


ROOT = Path(__file__).resolve().parents[1]
SHIPPED_RECORDS = sorted((ROOT / "data" / "mini" / "records").glob("*.json"))


def test_dft_labels_at_reduced_settings_come_from_the_records():
    """The shipped mini-study records (250 eV) are DFT labels at reduced settings; the study's own
    configuration (config.yaml) is not; labels without records say nothing about their settings."""
    records = [record_dft_settings(json.loads(p.read_text())) for p in SHIPPED_RECORDS]
    assert records and all(r["ecut"] == 250.0 and r["xc"] == "RPBE" for r in records)
    mini = dft_label_settings(records, "shipped records")
    assert mini["reduced"] is True and mini["differences"] == ["ecut 250.0 eV (study 350.0 eV)"]
    assert (
        label_origin({"gpaw": 3}, mini)
        == REDUCED_DFT_ORIGIN
        == ("DFT labels at reduced settings (GPAW)")
    )
    assert label_origin({"chgnet": 3}, mini) == "CHGNet surrogate (not DFT)"
    assert "ecut 250.0 eV (study 350.0 eV)" in reduced_settings_note({"dft_settings": mini})

    study = load_config(ROOT / "config.yaml", [])
    own = dft_label_settings([config_dft_settings(study["dft"])], "this run's dft settings")
    assert own["reduced"] is False and own["differences"] == []
    assert {k: own["values"][k] for k in STUDY_DFT} == {k: [v] for k, v in STUDY_DFT.items()}
    assert label_origin({"gpaw": 3}, own) == "DFT (GPAW)"
    assert reduced_settings_note({"dft_settings": own}) is None
    looser = dft_label_settings([{**config_dft_settings(study["dft"]), "relax_fmax": 0.5}])
    assert looser["differences"] == ["relax_fmax 0.5 eV/Å (study 0.2 eV/Å)"]
    assert dft_label_settings([])["reduced"] is None


def test_provenance_of_gpaw_labels_carries_their_settings(files):
    root, dataset, split = files
    db = write_dataset_db(root / "settings.db", dataset, labeller="gpaw")
    records = [record_dft_settings(json.loads(p.read_text())) for p in SHIPPED_RECORDS]
    prov = label_provenance(db, split, **config(source="x.extxyz"), dft_settings=records,
                            dft_settings_source="shipped records")  # fmt: skip
    assert prov["dft_settings"]["reduced"] is True
    assert label_origin(prov["labellers"], prov["dft_settings"]) == REDUCED_DFT_ORIGIN
    assert label_provenance(db, split, **config())["dft_settings"]["reduced"] is None
    db = write_dataset_db(root / "surrogate.db", dataset, labeller="chgnet")
    assert label_provenance(db, split, **config("chgnet"), dft_settings=records)[
        "dft_settings"
    ] is None  # fmt: skip
