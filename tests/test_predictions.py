"""The predictions contract: one constructor, one writer, one reader, for every producer."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from ase.build import fcc111

from magmom.baselines.chgnet_slabs import Slab, slab_predictions
from magmom.predictions import (
    COLUMNS,
    PredictionsError,
    predictions_frame,
    read_predictions,
    write_predictions,
)


def test_frame_is_sorted_typed_and_refuses_repeated_atoms():
    frame = predictions_frame(
        ["b", "a", "a", "010"], [0, 1, 0, 2], ["Fe", "Ni", "Cu", "Pt"], [1, 2, 3, 4], [1.5, 2, 3, 4]
    )
    assert tuple(frame.columns) == COLUMNS
    assert list(zip(frame["slab_id"], frame["atom_index"], strict=True)) == [
        ("010", 2), ("a", 0), ("a", 1), ("b", 0),
    ]  # fmt: skip
    assert frame["atom_index"].dtype == np.int64 and frame["y_pred"].dtype == np.float64
    with pytest.raises(PredictionsError, match="slab 'a' atom 0 occurs more than once"):
        predictions_frame(["a", "a"], [0, 0], ["Fe", "Fe"], [1, 1], [1, 1])


def test_write_then_read_gives_the_same_rows(tmp_path):
    frame = predictions_frame(["007", "007"], [1, 0], ["Fe", "Co"], [2.2, 1.6], [2.0, 1.5])
    write_predictions(frame.iloc[::-1], tmp_path / "m.csv")  # the writer sorts too
    back = read_predictions(tmp_path / "m.csv")
    pd.testing.assert_frame_equal(back, frame, check_dtype=False)
    with pytest.raises(PredictionsError, match="lack columns"):
        write_predictions(frame.drop(columns="element"), tmp_path / "bad.csv")
    assert not (tmp_path / "bad.csv").exists()


def test_chgnet_rows_follow_the_contract():
    slabs = [Slab(f"s{k}", fcc111("Ni", (1, 1, 2), vacuum=5.0), np.arange(2.0) + k) for k in (1, 0)]
    frame = slab_predictions(slabs, [np.array([0.5, 0.6]), np.array([0.1, 0.2])])
    assert frame["slab_id"].tolist() == ["s0", "s0", "s1", "s1"]
    assert frame["y_pred"].tolist() == [0.1, 0.2, 0.5, 0.6]
    assert frame["y_true"].tolist() == [0.0, 1.0, 1.0, 2.0]
    with pytest.raises(ValueError, match="slab s1: 1 predictions for 2 atoms"):
        slab_predictions(slabs, [np.array([0.5]), np.array([0.1, 0.2])])
