"""CHGNet zero-shot and fine-tune baselines on a tiny dataset (real pretrained CHGNet, CPU)."""

import numpy as np
import pandas as pd
import pytest
import torch
from baselines_helpers import toy_dataset, toy_split, write_dataset_db, write_split

from magmom import chgnet
from magmom.baselines import chgnet_finetune, chgnet_slabs, chgnet_zeroshot
from magmom.config import ConfigError
from magmom.predictions import COLUMNS


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("chgnet")
    dataset = toy_dataset(7, seed=7, size=(2, 2, 2))  # 4 train, 1 val, 2 test slabs of 8 atoms
    split_of = toy_split([s for s, _, _ in dataset], fractions=(0.5, 0.2, 0.3))
    db = write_dataset_db(root / "toy.db", dataset)
    split = write_split(root / "toy-split.csv", split_of)
    return root, dataset, split_of, db, split


def test_split_slabs_reads_the_right_slabs(data):
    _, dataset, split_of, db, split = data
    test = chgnet_slabs.split_slabs(db, split, ["test"])
    assert [s.slab_id for s in test] == sorted(k for k, v in split_of.items() if v == "test")
    by_id = {s: (atoms, m) for s, atoms, m in dataset}
    for slab in test:
        atoms, m = by_id[slab.slab_id]
        np.testing.assert_allclose(slab.y, np.abs(m))
        assert slab.atoms.get_chemical_symbols() == atoms.get_chemical_symbols()
        assert tuple(slab.atoms.pbc) == (True, True, False)


def test_chgnet_refuses_signed_targets(data):
    """CHGNet predicts |m|: a signed target is refused, naming the key, never scored silently."""
    _, _, _, db, split = data
    with pytest.raises(ConfigError, match=r"baselines.chgnet_zeroshot.*dataset.target: abs"):
        chgnet_slabs.split_slabs(db, split, ["test"], target="signed")
    with pytest.raises(ConfigError, match=r"baselines.chgnet_finetune.enabled.*\|m\| only"):
        chgnet_slabs.check_target("signed", "baselines.chgnet_finetune.enabled")


def test_split_slabs_names_missing_slabs(data, tmp_path):
    _, _, split_of, db, _ = data
    stale = write_split(tmp_path / "stale.csv", {**split_of, "slab-999": "test"})
    with pytest.raises(ValueError, match="slab-999.*rerun the split rule"):
        chgnet_slabs.split_slabs(db, stale, ["test"])


def test_zeroshot_predicts_moments_per_atom(data):
    _, _, _, db, split = data
    slabs = chgnet_slabs.split_slabs(db, split, ["test"])
    frame, timing = chgnet_zeroshot.run(slabs, batch_size=2)
    assert tuple(frame.columns) == COLUMNS
    assert len(frame) == sum(len(s.atoms) for s in slabs) == timing["n_atoms"]
    assert frame.equals(frame.sort_values(["slab_id", "atom_index"]).reset_index(drop=True))
    assert (frame["y_pred"] >= 0).all() and np.isfinite(frame["y_pred"]).all()
    # CHGNet knows Fe is magnetic and Cu is not
    by_el = frame.groupby("element")["y_pred"].mean()
    assert by_el["Fe"] > 1.5 > 0.3 > by_el["Cu"]
    # batching does not change the predictions
    model = chgnet.load_pretrained()
    graphs = chgnet.crystal_graphs(model, slabs)
    one = chgnet.predict_magmoms(model, graphs, batch_size=1)
    np.testing.assert_allclose(np.concatenate(one), frame["y_pred"].to_numpy(), atol=1e-5)


def test_finetune_selects_on_val_refits_and_resumes(data, tmp_path):
    _, _, _, db, split = data
    train, val = (chgnet_slabs.split_slabs(db, split, [s]) for s in ("train", "val"))
    settings = chgnet_finetune.FinetuneSettings(
        lr=1e-3, batch_size=3, max_epochs=2, early_stopping_patience=1, seed=1
    )
    model, history, summary = chgnet_finetune.finetune(train, val, settings, resume_dir=tmp_path)
    select = history[history["phase"] == "select"]
    assert select["val_mae"].notna().all() and len(select) == summary["select_epochs_run"] <= 2
    assert summary["selected_epoch"] == int(select["val_mae"].idxmin()) + 1
    assert summary["best_val_mae"] == pytest.approx(select["val_mae"].min())
    refit = history[history["phase"] == "refit"]
    assert len(refit) == summary["selected_epoch"] and refit["val_mae"].isna().all()
    assert summary["procedure"] == "select on train/val, then refit on train+val"
    assert (tmp_path / chgnet_finetune.RESUME).is_file()

    # the moment head moved away from the pretrained weights
    pretrained = chgnet.load_pretrained()
    assert not torch.equal(model.site_wise.weight, pretrained.site_wise.weight)

    # a finished run is resumed, not repeated: same weights without training
    again, history2, _ = chgnet_finetune.finetune(train, val, settings, resume_dir=tmp_path)
    pd.testing.assert_frame_equal(history, history2)
    for (k, a), b in zip(model.state_dict().items(), again.state_dict().values(), strict=True):
        assert torch.equal(a, b), k

    # other settings ignore the resume file
    other = chgnet_finetune.FinetuneSettings(
        lr=1e-3,
        batch_size=3,
        max_epochs=1,
        early_stopping_patience=1,
        seed=1,
        refit_train_val=False,
    )
    _, history3, summary3 = chgnet_finetune.finetune(train, val, other, resume_dir=tmp_path)
    assert len(history3) == 1 and summary3["procedure"] == "select on train/val"

    path = tmp_path / "best.pt"
    chgnet_finetune.save_model(again, path, summary)
    loaded = chgnet_finetune.load_model(path)
    for a, b in zip(again.parameters(), loaded.parameters(), strict=True):
        assert torch.equal(a, b)


def test_finetune_resumes_after_a_kill(data, tmp_path):
    _, _, _, db, split = data
    train, val = (chgnet_slabs.split_slabs(db, split, [s]) for s in ("train", "val"))
    settings = chgnet_finetune.FinetuneSettings(
        lr=1e-3,
        batch_size=4,
        max_epochs=2,
        early_stopping_patience=5,
        seed=2,
        refit_train_val=False,
    )
    full, history, _ = chgnet_finetune.finetune(train, val, settings)

    class Killed(Exception):
        pass

    original = chgnet_finetune._save_resume
    calls = []

    def kill_after_first_epoch(path, state):
        original(path, state)
        calls.append(state["epoch"])
        if state["epoch"] == 1:
            raise Killed

    chgnet_finetune._save_resume = kill_after_first_epoch
    try:
        with pytest.raises(Killed):
            chgnet_finetune.finetune(train, val, settings, resume_dir=tmp_path)
    finally:
        chgnet_finetune._save_resume = original
    resumed, history2, _ = chgnet_finetune.finetune(train, val, settings, resume_dir=tmp_path)
    np.testing.assert_allclose(history2["val_mae"], history["val_mae"], rtol=1e-5)
    for a, b in zip(full.parameters(), resumed.parameters(), strict=True):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)
