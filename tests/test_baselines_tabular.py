"""Per-element mean, linear and XGBoost baselines on tiny graph caches."""

import json

import numpy as np
import pytest
from baselines_helpers import ELEMENTS, toy_dataset, toy_split, write_caches

from magmom.baselines import element_mean, tabular
from magmom.baselines.atom_features import cache_table, feature_names
from magmom.evaluation.metrics import regression_metrics
from magmom.graphs import GraphCache
from magmom.predictions import COLUMNS


@pytest.fixture(scope="module")
def tables(tmp_path_factory):
    directory = tmp_path_factory.mktemp("caches")
    dataset = toy_dataset(60, seed=1)
    split_of = toy_split([s for s, _, _ in dataset])
    paths = write_caches(directory, dataset, split_of, cutoff=4.0)
    caches = {s: GraphCache(p) for s, p in paths.items()}
    return caches, {s: cache_table(c, ELEMENTS) for s, c in caches.items()}


def test_element_mean_uses_training_means(tables):
    caches, t = tables
    y_pred = element_mean.fit_predict(caches["train"], t["test"])
    train = t["train"]
    for el in ELEMENTS:
        expected = train.y[train.atoms["element"] == el].mean()
        got = y_pred[t["test"].atoms["element"].to_numpy() == el]
        assert np.allclose(got, expected, atol=1e-5), el


@pytest.mark.parametrize("kind", ["linear", "xgboost"])
def test_tabular_baselines(tables, kind, tmp_path):
    caches, t = tables
    y_pred, reg, summary = tabular.fit_predict(
        kind,
        t["train"],
        t["test"],
        val=t["val"],
        xgb_cfg={"n_estimators": 60, "max_depth": 4, "learning_rate": 0.1, "tree_method": "hist"},
        seed=0,
        threads=1,
    )
    test, train = t["test"], t["train"]
    assert y_pred.shape == test.y.shape
    if kind == "linear":
        # least squares over features that include the element one-hot fits the training set at
        # least as well (in squared error) as the per-element means
        means = element_mean.fit_predict(caches["train"], train)
        fitted = reg.predict(train.x)
        assert regression_metrics(train.y, fitted)["rmse"] <= (
            regression_metrics(train.y, means)["rmse"] + 1e-6
        )
    else:
        floor = regression_metrics(test.y, element_mean.fit_predict(caches["train"], test))["mae"]
        assert regression_metrics(test.y, y_pred)["mae"] < floor
    assert summary["n_features"] == 2 * len(ELEMENTS) + 4
    assert "val_mae" in summary and summary["n_train_atoms"] == len(t["train"].y)

    tabular.save_regressor(reg, kind, feature_names(ELEMENTS), summary, tmp_path)
    fit = json.loads((tmp_path / "fit.json").read_text())
    assert fit["kind"] == kind
    model = (tmp_path / "model.json").read_text()
    assert ("is_Fe" in model) if kind == "linear" else json.loads(model)["learner"]

    frame = test.predictions(y_pred)
    assert tuple(frame.columns) == COLUMNS
    assert frame.equals(frame.sort_values(["slab_id", "atom_index"]).reset_index(drop=True))


def test_xgboost_is_seeded(tables):
    _, t = tables
    cfg = {"n_estimators": 20, "max_depth": 3, "learning_rate": 0.2, "tree_method": "hist"}
    a = tabular.fit_predict("xgboost", t["train"], t["test"], xgb_cfg=cfg, seed=3)[0]
    b = tabular.fit_predict("xgboost", t["train"], t["test"], xgb_cfg=cfg, seed=3)[0]
    np.testing.assert_array_equal(a, b)


def test_unknown_kind():
    with pytest.raises(ValueError, match="unknown tabular baseline 'forest'"):
        tabular.make_regressor("forest")
