"""The one slab-layer finder and the in-plane distances, and the modules that use them."""

from __future__ import annotations

import numpy as np
import pytest
from ase.build import bcc110, fcc111, hcp0001

from magmom.data.importers import infer_lattice
from magmom.dft.label import fix_bottom_layers
from magmom.slab_geometry import (
    LAYER_GAP,
    bottom_layers,
    in_plane_distances,
    in_plane_image_distances,
    slab_layers,
)


def tag_layers(atoms) -> list[list[int]]:
    tags = atoms.get_tags()
    return [np.flatnonzero(tags == t).tolist() for t in range(tags.max(), 0, -1)]  # bottom first


@pytest.mark.parametrize(
    "slab",
    [
        fcc111("Pt", (2, 2, 4), vacuum=8.0),
        bcc110("Fe", (2, 2, 4), vacuum=8.0),
        hcp0001("Co", (2, 2, 4), vacuum=8.0),
    ],
    ids=["fcc111", "bcc110", "hcp0001"],
)
def test_tags_and_z_gaps_give_the_same_layers(slab):
    expected = tag_layers(slab)
    assert [layer.tolist() for layer in slab_layers(slab)] == expected
    untagged = slab.copy()
    untagged.set_tags(0)
    rng = np.random.default_rng(0)  # rumple each layer (a relaxed alloy), well below the gap
    untagged.positions[:, 2] += rng.uniform(-0.25, 0.25, len(slab))
    assert [layer.tolist() for layer in slab_layers(untagged)] == expected
    assert bottom_layers(untagged, 2).tolist() == sorted(expected[0] + expected[1])


def test_a_gap_wider_than_the_tolerance_splits_a_layer():
    slab = fcc111("Cu", (2, 2, 2), vacuum=8.0)
    slab.set_tags(0)
    top = slab.positions[:, 2] > slab.positions[:, 2].mean()
    assert len(slab_layers(slab)) == 2
    slab.positions[np.flatnonzero(top)[0], 2] += LAYER_GAP + 0.1
    assert len(slab_layers(slab)) == 3
    assert slab_layers(slab[[]]) == []


def test_the_dft_stage_fixes_the_bottom_layers():
    slab = fcc111("Ni", (2, 2, 4), vacuum=8.0)
    fixed = fix_bottom_layers(slab, 2)
    assert fixed == sorted(sum(tag_layers(slab)[:2], []))
    assert slab.constraints[0].get_indices().tolist() == fixed
    assert fix_bottom_layers(slab, 0) == [] and slab.constraints == []


def test_in_plane_distances_are_minimum_image_and_ignore_z():
    a = 3.92
    slab = fcc111("Pt", (2, 2, 3), a=a, vacuum=8.0)
    layers = slab_layers(slab)
    top = layers[-1]
    d = in_plane_distances(slab, top, top)
    assert d.shape == (4, 4)
    np.testing.assert_allclose(np.diag(d), 0.0, atol=1e-12)
    off = d[~np.eye(4, dtype=bool)]
    np.testing.assert_allclose(off, a / np.sqrt(2), rtol=1e-9)  # 2x2 cell: every image is a NN
    # the layer below (fcc: shifted by one hollow site) sits a/√6 away in plane, whatever its z
    below = in_plane_distances(slab, top, layers[-2]).min(axis=1)
    np.testing.assert_allclose(below, a / np.sqrt(6), rtol=1e-9)
    images = in_plane_image_distances(slab, top, reach=1)
    assert images.shape == (4, 9 * 4)
    nearest = np.sort(images, axis=1)[:, 1:7]  # the 6 in-plane nearest neighbours
    np.testing.assert_allclose(nearest, a / np.sqrt(2), rtol=1e-9)


def test_importer_reads_the_lattice_of_untagged_rumpled_slabs():
    rng = np.random.default_rng(1)
    for build, name, lattice in (
        (fcc111, "Ni", "fcc"),
        (bcc110, "Fe", "bcc"),
        (hcp0001, "Co", "hcp"),
    ):
        slab = build(name, (3, 3, 4), vacuum=8.0)
        slab.set_tags(0)
        slab.positions[:, 2] += rng.uniform(-0.1, 0.1, len(slab))
        assert infer_lattice(slab) == lattice, name
