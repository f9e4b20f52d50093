"""Neighbour lists: vesin equals ASE's neighbor_list; the neighbour rules (radius, the
shell-complete per-atom cap, the study's global cap)."""

from __future__ import annotations

import numpy as np
import pytest
from ase import Atoms
from ase.build import bcc110, fcc111
from ase.neighborlist import neighbor_list
from graphs_helpers import metal_slabs, random_slab

from magmom.graphs.neighbours import (
    DEFAULT_RULE,
    SHELL_TOLERANCE,
    neighbor_edges,
    pairs_vesin,
    resolve_rule,
    shell_complete_cap,
)

CUTOFFS = [3.0, 4.0, 6.0, 8.0]


def assert_same_as_ase(atoms: Atoms, cutoff: float) -> int:
    i, j, S, d, D = neighbor_list("ijSdD", atoms, cutoff)
    edges = neighbor_edges(atoms.positions, atoms.cell[:], atoms.pbc, cutoff)
    triples = zip(edges.i, edges.j, edges.shift.tolist(), strict=True)
    ours = {(a, b, *s): k for k, (a, b, s) in enumerate(triples)}
    ref = {(a, b, *s): k for k, (a, b, s) in enumerate(zip(i, j, S.tolist(), strict=True))}
    assert len(ours) == len(edges) and len(ref) == len(i), "duplicate (i, j, S) triples"
    assert ours.keys() == ref.keys()
    mine = np.array([ours[key] for key in ref])
    theirs = np.array(list(ref.values()))
    if len(mine):
        np.testing.assert_allclose(edges.dist[mine], d[theirs], rtol=0, atol=1e-6)
        np.testing.assert_allclose(edges.vec[mine], D[theirs], rtol=0, atol=1e-6)
    return len(i)


@pytest.mark.parametrize("cutoff", CUTOFFS)
def test_equals_ase_on_random_slabs(cutoff):
    rng = np.random.default_rng(int(cutoff * 10))
    self_images = pairs = 0
    for _ in range(12):
        # cells from 1.8 Å (an atom sees its own images even at r3) to 9 Å
        a, b = rng.uniform(1.8, 9.0, size=2)
        atoms = random_slab(rng, int(rng.integers(1, 24)), a, b, rng.uniform(55.0, 125.0))
        pairs += assert_same_as_ase(atoms, cutoff)
        e = neighbor_edges(atoms.positions, atoms.cell[:], atoms.pbc, cutoff)
        self_images += int(np.sum(e.i == e.j))
        assert not np.any((e.i == e.j) & np.all(e.shift == 0, axis=1)), "an atom is its own edge"
        assert np.all(e.shift[:, 2] == 0), "offset along the non-periodic direction"
    assert pairs > 0 and self_images > 0


@pytest.mark.parametrize("cutoff", CUTOFFS)
def test_equals_ase_on_metal_slabs(cutoff):
    for atoms in metal_slabs():
        assert_same_as_ase(atoms, cutoff)


def test_fully_periodic_and_tiny_cells_match_ase():
    rng = np.random.default_rng(7)
    atoms = random_slab(rng, 3, 2.0, 2.2, 90.0)
    atoms.pbc = True
    atoms.cell[2] = [0.3, 0.2, 2.4]
    assert_same_as_ase(atoms, 6.0)


def test_vesin_returns_every_image_of_a_single_atom():
    # one atom in a 2.5 Å square cell: its neighbours are its own images only
    atoms = Atoms("Cu", positions=[[0, 0, 5]], cell=[2.5, 2.5, 10], pbc=(True, True, False))
    i, j, shift = pairs_vesin(atoms.positions, atoms.cell[:], atoms.pbc, 5.1)
    assert set(j) == {0}
    n_expected = sum(
        1 for u in range(-3, 4) for v in range(-3, 4) if 0 < 2.5 * np.hypot(u, v) < 5.1
    )
    assert len(i) == n_expected == 12


@pytest.mark.parametrize("cutoff", [6.0, 8.0])
def test_cap_keeps_the_nearest_and_completes_the_last_shell(cutoff):
    cap = 12
    for atoms in metal_slabs():
        full = neighbor_edges(atoms.positions, atoms.cell[:], atoms.pbc, cutoff)
        kept = neighbor_edges(atoms.positions, atoms.cell[:], atoms.pbc, cutoff, cap)
        np.testing.assert_array_equal(
            kept.degree_within_cutoff, np.bincount(full.i, minlength=len(atoms))
        )
        for centre in range(len(atoms)):
            all_d = np.sort(full.dist[full.i == centre])
            mine = kept.dist[kept.i == centre]
            assert len(mine) >= min(cap, len(all_d))
            assert np.all(np.diff(mine) >= -1e-8), "kept edges are not nearest first"
            np.testing.assert_allclose(np.sort(mine), all_d[: len(mine)], atol=1e-12)
            if len(mine) < len(all_d):  # the cut falls in a gap wider than the tolerance
                assert all_d[len(mine)] - all_d[len(mine) - 1] > SHELL_TOLERANCE
            # edges beyond the cap continue the shell of the cap-th neighbour
            assert np.all(np.diff(np.sort(mine)[cap - 1 :]) <= SHELL_TOLERANCE)
        assert np.all(np.diff(kept.i) >= 0), "edges are not grouped by centre"


def test_cap_50_on_64_atom_slab_at_r8():
    atoms = metal_slabs()[2]  # rattled: no two distances of one atom within the tolerance
    edges = neighbor_edges(atoms.positions, atoms.cell[:], atoms.pbc, 8.0, 50)
    assert np.all(np.bincount(edges.i, minlength=64) == 50)
    assert np.all(edges.degree_within_cutoff > 50)


def _tie_structure(angle: float) -> Atoms:
    # square in-plane lattice a = 2 Å; atom 1 sits 2 Å above atom 0, so atom 0's nearest shell is
    # four images of itself plus atom 1, all at exactly 2 Å. The whole slab is rotated so that the
    # equal distances differ by floating-point noise.
    atoms = Atoms(
        "Cu2", positions=[[0, 0, 5], [0, 0, 7]], cell=[2.0, 2.0, 20.0], pbc=(True, True, False)
    )
    atoms.rotate(angle, "z", rotate_cell=True)
    return atoms


@pytest.mark.parametrize("angle", [0.0, 17.0, 33.3])
def test_a_shell_is_never_split(angle):
    atoms = _tie_structure(angle)
    for cap in (1, 3, 5):
        edges = neighbor_edges(atoms.positions, atoms.cell[:], atoms.pbc, 2.5, max_neighbors=cap)
        centre0 = edges.i == 0
        np.testing.assert_allclose(edges.dist[centre0], 2.0, atol=1e-9)
        # the whole 2 Å shell, stored in (j, S) order
        assert edges.j[centre0].tolist() == [0, 0, 0, 0, 1]
        assert edges.shift[centre0].tolist() == [[-1, 0, 0], [0, -1, 0], [0, 1, 0], [1, 0, 0],
                                                 [0, 0, 0]]  # fmt: skip
    # at 2.9 Å the next shell (sqrt(8) Å: four diagonal images of atom 0, four images of atom 1)
    # starts 0.83 Å farther: the cut falls there
    edges = neighbor_edges(atoms.positions, atoms.cell[:], atoms.pbc, 2.9, max_neighbors=5)
    assert np.sum(edges.i == 0) == 5
    assert edges.degree_within_cutoff[0] == 13


def test_shell_tolerance_chains_noisy_distances():
    """Distances 1e-5 Å apart are one shell even across many steps; a 2e-4 Å gap cuts."""
    i = np.zeros(8, dtype=np.int64)
    d = 2.0 + np.array([0.0, 1e-5, 2e-5, 3e-5, 4e-5, 5e-5, 2.5e-4, 0.1])
    np.testing.assert_array_equal(shell_complete_cap(i, d, 2), [1] * 6 + [0, 0])
    np.testing.assert_array_equal(shell_complete_cap(i, d, 7), [1] * 7 + [0])
    np.testing.assert_array_equal(shell_complete_cap(i, d, 8), [1] * 8)
    # per centre: the second centre's shell is independent of the first one's
    two = np.repeat([0, 1], 8)
    np.testing.assert_array_equal(
        shell_complete_cap(two, np.tile(d, 2), 2), np.tile([1] * 6 + [0, 0], 2)
    )


@pytest.mark.parametrize("cutoff", CUTOFFS)
def test_kept_neighbours_do_not_depend_on_numbering_or_supercell(cutoff):
    """On ideal (tied) slabs each atom keeps the same neighbours whatever the numbering or cell."""
    rng = np.random.default_rng(3)
    for atoms in (
        fcc111("Pt", size=(2, 2, 4), vacuum=10.0),
        bcc110("W", size=(2, 2, 4), vacuum=10.0),
    ):
        base = neighbor_edges(atoms.positions, atoms.cell[:], atoms.pbc, cutoff, 20)
        base_d = [sorted(np.round(base.dist[base.i == c], 6)) for c in range(len(atoms))]
        perm = rng.permutation(len(atoms))
        shuffled = atoms[perm]
        edges = neighbor_edges(shuffled.positions, shuffled.cell[:], shuffled.pbc, cutoff, 20)
        for new, old in enumerate(perm):
            mine = sorted(np.round(edges.dist[edges.i == new], 6))
            assert mine == base_d[old]
            # the same neighbours: map j back to the old numbering, image offsets unchanged
            mine = edges.i == new
            theirs = base.i == old
            assert sorted(zip(perm[edges.j[mine]], map(tuple, edges.shift[mine]), strict=True)) == (
                sorted(zip(base.j[theirs], map(tuple, base.shift[theirs]), strict=True))
            )
        big = atoms.repeat((2, 1, 1))
        edges = neighbor_edges(big.positions, big.cell[:], big.pbc, cutoff, 20)
        for c in range(len(big)):
            assert sorted(np.round(edges.dist[edges.i == c], 6)) == base_d[c % len(atoms)]


def test_engines_agree_after_the_cap():
    for atoms in metal_slabs():
        a = neighbor_edges(atoms.positions, atoms.cell[:], atoms.pbc, 6.0, 20, engine="vesin")
        b = neighbor_edges(atoms.positions, atoms.cell[:], atoms.pbc, 6.0, 20, engine="ase")
        for name in ("i", "j", "shift", "vec", "dist"):
            np.testing.assert_array_equal(getattr(a, name), getattr(b, name))


def test_no_edges_below_the_shortest_distance():
    atoms = metal_slabs()[1]
    edges = neighbor_edges(atoms.positions, atoms.cell[:], atoms.pbc, 1.0, 50)
    assert len(edges) == 0 and edges.shift.shape == (0, 3)


def test_rules_by_name():
    """radius keeps every edge within the cutoff whatever the cap; shell_complete is the rule the
    cap alone selected before schema 3; study_global keeps the K·N globally shortest edges."""
    atoms = fcc111("Ni", size=(3, 3, 4), a=3.52, vacuum=8.0)
    atoms.rattle(0.02, seed=4)
    args = (atoms.positions, atoms.cell[:], atoms.pbc, 8.0)
    full = neighbor_edges(*args)
    assert DEFAULT_RULE == "radius"
    radius = neighbor_edges(*args, 50, rule="radius")
    assert len(radius) == len(full) == int(radius.degree_within_cutoff.sum()) > 50 * len(atoms)
    shell = neighbor_edges(*args, 50, rule="shell_complete")
    legacy = neighbor_edges(*args, 50)
    assert np.array_equal(shell.i, legacy.i) and np.array_equal(shell.j, legacy.j)
    glob = neighbor_edges(*args, 50, rule="study_global")
    assert len(glob) == 50 * len(atoms)
    # the kept edges are the globally shortest: none dropped is shorter than any kept
    dropped = np.setdiff1d(full.dist, glob.dist)
    assert glob.dist.max() <= dropped.min()
    degree = np.bincount(glob.i, minlength=len(atoms))
    assert degree.min() < 50 < degree.max()  # a global budget, not a per-atom cap
    for edges in (radius, shell, glob):  # grouped by centre, nearest first
        assert np.all(np.diff(edges.i) >= 0)
        same = np.diff(edges.i) == 0
        assert np.all(np.diff(edges.dist)[same] >= 0)


def test_rule_names_and_caps_are_checked():
    assert resolve_rule(None, None) == ("radius", None)
    assert resolve_rule(None, 50) == ("shell_complete", 50)
    assert resolve_rule("radius", 50) == ("radius", None)
    with pytest.raises(ValueError, match="unknown neighbour rule 'nearest'.*graphs.neighbor_rule"):
        resolve_rule("nearest", 50)
    with pytest.raises(ValueError, match="study_global.*needs max_neighbors"):
        resolve_rule("study_global", None)
