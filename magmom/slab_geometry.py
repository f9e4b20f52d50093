"""Layers of a slab and in-plane distances (one finder for the recipe, DFT stage and importer).

Layers
    :func:`slab_layers` returns the atom indices of each layer, bottom layer first. A slab built by
    ``ase.build`` (every recipe slab) carries tags, 1 = top layer, ``n`` = bottom; they are used
    when every atom has a tag >= 1 and there are at least two distinct tags. Otherwise (an
    imported structure, a slab without tags) the z coordinates are clustered: sorted by height, a
    gap of more than :data:`LAYER_GAP` between consecutive atoms starts a new layer.

    :data:`LAYER_GAP` = 0.7 Å: the bulk interlayer spacings of the study's facets are >= 2.0 Å
    (bcc(110) Cr a/√2 = 2.04 Å, fcc(111) Ni a/√3 = 2.03 Å, hcp(0001) Co c/2 = 2.03 Å), and surface
    relaxation contracts them by at most ~10 %; the rumpling of a relaxed alloy layer (size mismatch
    <= 18 %) stays well below 0.7 Å.

In-plane distances
    :func:`in_plane_distances` gives minimum-image distances projected on the surface plane (the
    z component dropped, periodic along the two in-plane cell vectors only);
    :func:`in_plane_image_distances` lists the distances to every periodic image within a few
    cells, for counting in-plane neighbour shells.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

LAYER_GAP = 0.7
"""Å: a height gap larger than this between consecutive atoms separates two layers."""


def slab_layers(atoms, gap: float = LAYER_GAP) -> list[np.ndarray]:
    """Atom indices per layer, bottom layer first (ASE tags when present, else z gaps)."""
    if len(atoms) == 0:
        return []
    tags = atoms.get_tags()
    if len(set(tags.tolist())) >= 2 and tags.min() >= 1:
        return [np.flatnonzero(tags == t) for t in sorted(set(tags.tolist()), reverse=True)]
    z = atoms.positions[:, 2]
    order = np.argsort(z, kind="stable")
    breaks = np.flatnonzero(np.diff(z[order]) > gap) + 1
    return [np.sort(layer) for layer in np.split(order, breaks)]


def bottom_layers(atoms, n_layers: int, gap: float = LAYER_GAP) -> np.ndarray:
    """Sorted indices of the atoms in the bottom ``n_layers`` layers (the ones held fixed)."""
    layers = slab_layers(atoms, gap)[: max(int(n_layers), 0)]
    return np.sort(np.concatenate(layers)) if layers else np.zeros(0, dtype=np.int64)


def in_plane_distances(atoms, a_idx: Sequence[int], b_idx: Sequence[int]) -> np.ndarray:
    """Minimum-image in-plane distances between the atoms ``a_idx`` and ``b_idx``, (n_a, n_b)."""
    from ase.geometry import find_mic

    a_idx, b_idx = np.atleast_1d(a_idx), np.atleast_1d(b_idx)
    d = atoms.positions[None, b_idx] - atoms.positions[a_idx, None]
    d = d.reshape(-1, 3)
    d[:, 2] = 0.0
    _, dist = find_mic(d, atoms.cell, pbc=(True, True, False))
    return dist.reshape(len(a_idx), len(b_idx))


def in_plane_image_distances(atoms, idx: Sequence[int], reach: int = 3) -> np.ndarray:
    """In-plane distances from each atom of ``idx`` to every periodic image (shifts −reach…reach
    of the two in-plane cell vectors) of the atoms of ``idx``: shape
    ``(len(idx), (2 reach + 1)² len(idx))``, self-distances (0) included."""
    idx = np.atleast_1d(idx)
    steps = range(-reach, reach + 1)
    cell = np.asarray(atoms.cell)[:2, :2]
    shifts = np.array([(i, j) for i in steps for j in steps], dtype=float) @ cell
    pos = atoms.positions[idx, :2]
    d = pos[None, None, :, :] + shifts[None, :, None, :] - pos[:, None, None, :]
    return np.sqrt((d**2).sum(-1)).reshape(len(idx), -1)
