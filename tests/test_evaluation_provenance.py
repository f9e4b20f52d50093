"""Label provenance: who labelled the dataset, surrogate flag, slab/atom counts per split."""

import pytest
from baselines_helpers import toy_dataset, toy_split, write_dataset_db, write_split

from magmom.evaluation.provenance import label_origin, label_provenance, surrogate_note


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
