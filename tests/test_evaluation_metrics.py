"""Metrics against hand-computed values; per-element and V/Cr/Mn-excluded sets; CSV checks."""

import json
import math

import numpy as np
import pandas as pd
import pytest

from magmom.evaluation.metrics import evaluate, regression_metrics
from magmom.predictions import PredictionsError, read_predictions


def frame(rows):
    return pd.DataFrame(rows, columns=["slab_id", "atom_index", "element", "y_true", "y_pred"])


def test_regression_metrics_by_hand():
    # errors: +0.5, -1.0, 0.0, +2.0 -> |e| = 0.5, 1, 0, 2; e^2 = 0.25, 1, 0, 4
    y = [1.0, 2.0, 3.0, 4.0]
    p = [1.5, 1.0, 3.0, 6.0]
    m = regression_metrics(y, p)
    assert m["n_atoms"] == 4
    assert m["mae"] == pytest.approx(3.5 / 4)
    assert m["rmse"] == pytest.approx(math.sqrt(5.25 / 4))
    # mean y = 2.5, SST = 2.25 + 0.25 + 0.25 + 2.25 = 5
    assert m["r2"] == pytest.approx(1 - 5.25 / 5)
    assert m["max_error"] == pytest.approx(2.0)


def test_perfect_and_degenerate_cases():
    m = regression_metrics([0.5, 1.5], [0.5, 1.5])
    assert (m["mae"], m["rmse"], m["r2"], m["max_error"]) == (0.0, 0.0, 1.0, 0.0)
    const = regression_metrics([1.0, 1.0], [1.0, 2.0])
    assert const["r2"] is None and const["mae"] == pytest.approx(0.5)
    empty = regression_metrics([], [])
    assert empty == {"mae": None, "rmse": None, "r2": None, "max_error": None, "n_atoms": 0}
    with pytest.raises(ValueError, match="3 values"):
        regression_metrics([1, 2, 3], [1, 2])


def test_per_element_and_excluded_sets():
    df = frame(
        [
            ("a", 0, "Fe", 2.0, 2.5),  # Fe: errors 0.5, 0.1
            ("a", 1, "Fe", 3.0, 2.9),
            ("a", 2, "Mn", 0.0, 3.0),  # Mn: error 3.0
            ("b", 0, "Cu", 0.0, 0.0),  # Cu: error 0.1, 0.0
            ("b", 1, "Cu", 0.1, 0.2),
            ("c", 0, "V", 1.0, 0.0),  # V only: slab c vanishes when V/Cr/Mn are excluded
        ]
    )
    result = evaluate(df, ["V", "Cr", "Mn"])
    a, x = result["all"], result["excluded"]
    assert a["n_atoms"] == 6 and a["n_slabs"] == 3
    assert a["mae"] == pytest.approx((0.5 + 0.1 + 3.0 + 0.0 + 0.1 + 1.0) / 6)
    assert a["max_error"] == pytest.approx(3.0)
    assert set(a["per_element"]) == {"Cu", "Fe", "Mn", "V"}
    fe = a["per_element"]["Fe"]
    assert fe["n_atoms"] == 2 and fe["mae"] == pytest.approx(0.3)
    assert fe["rmse"] == pytest.approx(math.sqrt((0.25 + 0.01) / 2))
    # Fe: mean 2.5, SST 0.5, SSE 0.26
    assert fe["r2"] == pytest.approx(1 - 0.26 / 0.5)
    assert a["per_element"]["Mn"]["r2"] is None  # a single atom has no variance
    assert x["elements_removed"] == ["Cr", "Mn", "V"]
    assert x["n_atoms"] == 4 and x["n_slabs"] == 2
    assert x["mae"] == pytest.approx((0.5 + 0.1 + 0.0 + 0.1) / 4)
    assert set(x["per_element"]) == {"Cu", "Fe"}
    assert x["per_element"]["Fe"] == fe
    json.dumps(result, allow_nan=False)  # writable by magmom.io.write_json


def test_excluding_nothing_gives_the_full_set():
    df = frame([("a", 0, "Fe", 2.0, 2.5), ("a", 1, "Ni", 0.6, 0.5)])
    result = evaluate(df, [])
    assert result["excluded"]["mae"] == result["all"]["mae"]


def test_read_predictions_checks_the_contract(tmp_path):
    good = frame([("s1", 0, "Fe", 2.0, 2.1), ("s1", 1, "Ni", 0.6, 0.5)])
    path = tmp_path / "m.csv"
    good.to_csv(path, index=False)
    back = read_predictions(path)
    pd.testing.assert_frame_equal(back, good, check_dtype=False)
    assert back["slab_id"].iloc[0] == "s1"

    good.drop(columns="y_pred").to_csv(path, index=False)
    with pytest.raises(PredictionsError, match="missing column.*y_pred"):
        read_predictions(path)

    bad = good.copy()
    bad.loc[1, "y_pred"] = np.nan
    bad.to_csv(path, index=False)
    with pytest.raises(PredictionsError, match="non-finite.*slab s1 atom 1"):
        read_predictions(path)

    pd.concat([good, good]).to_csv(path, index=False)
    with pytest.raises(PredictionsError, match="repeated atom"):
        read_predictions(path)

    good.iloc[:0].to_csv(path, index=False)
    with pytest.raises(PredictionsError, match="no prediction rows"):
        read_predictions(path)


def test_numeric_slab_ids_stay_strings(tmp_path):
    df = frame([("007", 0, "Fe", 2.0, 2.1)])
    df.to_csv(tmp_path / "m.csv", index=False)
    assert read_predictions(tmp_path / "m.csv")["slab_id"].iloc[0] == "007"


def test_bootstrap_interval_resamples_slabs_not_atoms():
    """Two slabs of 50 atoms, one predicted exactly, one off by 1 μB everywhere: over slabs the
    MAE of a resample is 0, 0.5 or 1 (p = 1/4, 1/2, 1/4), so the 95 % interval is [0, 1]; a
    bootstrap over atoms would give ~0.5 ± 0.1."""
    rows = [(s, k, "Fe", 1.0, 1.0 + (s == "b")) for s in ("a", "b") for k in range(50)]
    m = evaluate(frame(rows), ())["all"]
    assert m["mae"] == pytest.approx(0.5)
    assert m["mae_ci95"] == pytest.approx([0.0, 1.0])
    assert evaluate(frame(rows), ())["all"]["mae_ci95"] == m["mae_ci95"]  # seeded


def test_bootstrap_interval_narrows_with_more_slabs_and_is_paired():
    """Every model scored on the same slabs gets the same slab draws: a model whose errors are
    those of another plus 0.01 μB on every atom has its interval shifted by exactly 0.01."""
    rng = np.random.default_rng(0)
    widths = []
    for n_slabs in (10, 160):
        err = rng.exponential(0.1, size=(n_slabs, 8))
        rows = [
            (f"s{s:03d}", k, "Ni", 0.6, 0.6 + err[s, k]) for s in range(n_slabs) for k in range(8)
        ]
        low, high = evaluate(frame(rows), ())["all"]["mae_ci95"]
        mae = err.mean()
        assert low < mae < high
        widths.append(high - low)
        shifted = [(s, k, el, y, p + 0.01) for s, k, el, y, p in rows]
        low2, high2 = evaluate(frame(shifted), ())["all"]["mae_ci95"]
        assert (low2 - low, high2 - high) == pytest.approx((0.01, 0.01))
    assert widths[1] < widths[0] / 2  # ~1/sqrt(16) narrower


def test_paired_difference_separates_models_whose_own_intervals_overlap():
    """b's errors are a's plus 0.01 μB on every atom of 10 slabs whose errors spread widely: the
    two MAE intervals overlap, the paired difference is exactly −0.01 in every resample; a
    model whose errors are unrelated gives a difference interval around its MAE gap."""
    from magmom.evaluation.metrics import bootstrap_mae_difference

    rng = np.random.default_rng(1)
    err = rng.exponential(0.1, size=(10, 8))
    rows = [(f"s{s:02d}", k, "Ni", 0.6, 0.6 + err[s, k]) for s in range(10) for k in range(8)]
    a = frame(rows)
    b = frame([(s, k, el, y, p + 0.01) for s, k, el, y, p in rows])
    ia, ib = (evaluate(f, ())["all"]["mae_ci95"] for f in (a, b))
    assert ib[0] < ia[1]  # the intervals overlap
    assert bootstrap_mae_difference(a, b) == pytest.approx([-0.01, -0.01])
    other = frame([(s, k, el, y, 0.6 + rng.exponential(0.1)) for s, k, el, y, _ in rows])
    low, high = bootstrap_mae_difference(a, other)
    gap = evaluate(a, ())["all"]["mae"] - evaluate(other, ())["all"]["mae"]
    assert low < gap < high and high - low > 0.01
    with pytest.raises(ValueError, match="same test slabs and atoms"):
        bootstrap_mae_difference(a, frame(rows[:-1]))
