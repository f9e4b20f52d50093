"""The one per-element mean: the rule for unseen elements, and every consumer agreeing on it."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from baselines_helpers import ELEMENTS, toy_dataset, toy_split, write_caches
from torch_geometric.data import Data

from magmom.baselines import element_mean
from magmom.baselines.atom_features import cache_table
from magmom.graphs import GraphCache
from magmom.graphs.element_stats import ElementStats
from magmom.layout import NUM_Z
from magmom.training.run_identity import element_mean_of

FE, NI, CU = 26, 28, 29


def test_mean_of_seen_elements_and_global_mean_for_the_rest():
    stats = ElementStats()
    stats.add(np.array([FE, FE, NI, NI]), np.array([2.0, 3.0, 0.0, 1.0]))  # Fe 2.5, Ni 0.5
    mean = stats.mean()
    assert mean.shape == (NUM_Z,) and mean.dtype == np.float64
    assert (mean[FE], mean[NI]) == (2.5, 0.5)
    assert stats.global_mean() == 1.5
    unseen = np.ones(NUM_Z, dtype=bool)
    unseen[[FE, NI]] = False
    assert np.all(mean[unseen] == 1.5)
    assert stats.seen.sum() == 2 and stats.seen[FE] and not stats.seen[CU]
    with pytest.raises(ValueError, match="no atoms"):
        ElementStats().mean()


def test_baseline_predicts_the_global_mean_for_an_unseen_element(caplog):
    stats = ElementStats()
    stats.add(np.array([FE, FE, NI, NI]), np.array([2.0, 3.0, 0.0, 1.0]))
    pred = element_mean.predict(np.array([FE, NI, CU]), stats)
    np.testing.assert_allclose(pred, [2.5, 0.5, 1.5])
    assert "Cu" in caplog.text and "global training mean" in caplog.text


def test_cache_trainer_and_baseline_agree(tmp_path):
    """The residual bias (trainer), the cache header and the baseline give the same means, also
    for an element that occurs in the test split only."""
    dataset = toy_dataset(15, seed=3)
    caches = write_caches(tmp_path, dataset, toy_split([s for s, _, _ in dataset]), cutoff=4.0)
    train = GraphCache(caches["train"])
    graphs = [Data(z=train[k].z, y=train[k].y) for k in range(len(train))]
    from_cache = element_mean_of(train)
    scanned = element_mean_of(graphs)  # a plain sequence: scanned, same rule
    torch.testing.assert_close(from_cache, scanned)

    z = torch.cat([g.z for g in graphs])
    y = torch.cat([g.y for g in graphs]).double()
    absent = next(e for e in range(1, NUM_Z) if not (z == e).any())
    torch.testing.assert_close(from_cache[absent], y.mean().float())

    test = cache_table(GraphCache(caches["test"]), ELEMENTS, with_features=False)
    z_test = test.atoms["z"].to_numpy()
    baseline = element_mean.fit_predict(train, test)
    np.testing.assert_allclose(baseline, from_cache.double().numpy()[z_test], rtol=1e-6)
    baseline_absent = element_mean.predict(np.array([absent]), train.element_stats())
    np.testing.assert_allclose(baseline_absent, [float(y.mean())], rtol=1e-6)
