"""Slab geometry: atoms, facets and layers, vacuum, constraints, pbc, moments, orderings."""

from __future__ import annotations

import json
import logging
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import yaml
from ase.constraints import FixAtoms
from ase.neighborlist import neighbor_list

from magmom.recipe.lattice_table import (
    DEFAULT_MAGMOM,
    complete_lattice_table,
    load_lattice_table,
    reference_lattice_table,
    validate_lattice_table,
    write_lattice_table,
)
from magmom.recipe.manifest import enumerate_slabs
from magmom.recipe.slabs import build_slab, vegard_lattice

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def recipe() -> dict:
    return yaml.safe_load((ROOT / "config.yaml").read_text())["recipe"]


@pytest.fixture(scope="module")
def table(recipe) -> dict:
    return reference_lattice_table(recipe["elements"], recipe["default_magmom"])


@pytest.fixture(scope="module")
def rows(recipe) -> dict[str, dict]:
    """The first slab (by id) of every placement, plus a few chosen ones, keyed by slab id."""
    out: dict[str, dict] = {}
    seen = set()
    for s in enumerate_slabs(recipe):
        if (s.comp_type, s.placement, s.lattice) not in seen:
            seen.add((s.comp_type, s.placement, s.lattice))
            out[s.slab_id] = s.manifest_row()
    return out


def by(rows, **match) -> dict:
    for r in rows.values():
        if all(r[k] == v for k, v in match.items()):
            return r
    raise KeyError(match)


def layers(atoms) -> list[np.ndarray]:
    """Atom indices per layer, bottom first (layers grouped by z within 0.1 Å)."""
    z = atoms.positions[:, 2]
    levels = sorted({round(v, 1) for v in z})
    return [np.flatnonzero(np.abs(z - lv) < 0.15) for lv in levels]


def nn_species(atoms, lattice: str) -> dict[str, Counter]:
    """Per species, the species of its first-shell neighbours (periodic in-plane)."""
    a = atoms.info["lattice_constant"]
    shell = {"fcc": a / np.sqrt(2), "bcc": a * np.sqrt(3) / 2, "hcp": a}[lattice]
    i, j = neighbor_list("ij", atoms, shell * 1.08)
    sym = np.array(atoms.get_chemical_symbols())
    out: dict[str, Counter] = {}
    for a_, b_ in zip(sym[i], sym[j], strict=True):
        out.setdefault(str(a_), Counter())[str(b_)] += 1
    return out


def check_common(atoms, row, recipe, table):
    nx, ny, nz = (int(v) for v in row["size"].split("x"))
    assert len(atoms) == row["n_atoms"] == nx * ny * nz
    assert tuple(atoms.pbc) == (True, True, False)
    z = atoms.positions[:, 2]
    assert z.min() >= recipe["vacuum"] - 1e-6
    assert atoms.cell[2, 2] - z.max() >= recipe["vacuum"] - 1e-6
    assert np.allclose(atoms.cell[2, :2], 0) and np.allclose(atoms.cell[:2, 2], 0)
    lay = layers(atoms)
    assert len(lay) == nz and all(len(ix) == nx * ny for ix in lay)
    # facet: interlayer spacing and in-plane coordination of the lattice's close-packed plane
    a = atoms.info["lattice_constant"]
    spacing = np.diff([atoms.positions[ix[0], 2] for ix in lay])
    expect = {
        "fcc": a / np.sqrt(3),
        "bcc": a / np.sqrt(2),
        "hcp": a * atoms.info.get("c_over_a", 0) / 2,
    }[row["lattice"]]
    assert np.allclose(spacing, expect, atol=1e-6)
    assert atoms.info["facet"] == {"fcc": "111", "bcc": "110", "hcp": "0001"}[row["lattice"]]
    # bottom `fixed_layers` layers fixed, nothing else
    (fix,) = atoms.constraints
    assert isinstance(fix, FixAtoms)
    bottom = np.sort(np.concatenate(lay[: recipe["fixed_layers"]]))
    assert np.array_equal(np.sort(fix.get_indices()), bottom)
    # composition and moments
    want = dict(zip(row["elements"].split(), map(int, row["counts"].split()), strict=True))
    assert dict(Counter(atoms.get_chemical_symbols())) == want
    mags = atoms.get_initial_magnetic_moments()
    for s, m in zip(atoms.get_chemical_symbols(), mags, strict=True):
        assert m == table[s][row["lattice"]]["magmom"]
    assert atoms.info["slab_id"] == row["slab_id"]
    # Vegard lattice constant
    n = len(atoms)
    vegard = sum(c / n * table[el][row["lattice"]]["a0"] for el, c in want.items())
    assert a == pytest.approx(vegard, abs=1e-5)


@pytest.mark.parametrize(
    "comp_type", ["pure", "binary", "ternary", "quaternary", "quinary", "senary"]
)
def test_random_alloy_slabs(rows, recipe, table, comp_type):
    for row in rows.values():
        if row["type"] == comp_type:
            atoms = build_slab(row, recipe, table)
            check_common(atoms, row, recipe, table)
            assert len(atoms) == 64
            again = build_slab(row, recipe, table)
            assert again.get_chemical_symbols() == atoms.get_chemical_symbols()
            assert np.array_equal(again.positions, atoms.positions)


def test_random_placement_depends_on_the_slab_id_only(rows, recipe, table):
    row = by(rows, type="ternary")
    v0 = build_slab(row, recipe, table).get_chemical_symbols()
    other = dict(row, variant=1, slab_id=row["slab_id"].replace("-v0", "-v1"))
    v1 = build_slab(other, recipe, table).get_chemical_symbols()
    assert Counter(v0) == Counter(v1) and v0 != v1


def test_hcp_slab_uses_the_table_c_over_a(rows, recipe, table):
    row = by(rows, type="pure", lattice="hcp")
    atoms = build_slab(row, recipe, table)
    (el,) = row["elements"].split()
    assert atoms.info["c_over_a"] == pytest.approx(table[el]["hcp"]["c_over_a"])


@pytest.mark.parametrize(
    "placement, layer_from_top, k",
    [
        ("dilute_1_top", 0, 1),
        ("dilute_1_sub", 1, 1),
        ("dilute_1_mid", 2, 1),
        ("dilute_2_nn_top", 0, 2),
        ("dilute_2_nn_sub", 1, 2),
        ("dilute_2_far_top", 0, 2),
    ],
)
def test_dilute_slabs(rows, recipe, table, placement, layer_from_top, k):
    for row in rows.values():
        if row["placement"] != placement:
            continue
        atoms = build_slab(row, recipe, table)
        check_common(atoms, row, recipe, table)
        host, solute = row["elements"].split()
        sym = np.array(atoms.get_chemical_symbols())
        lay = layers(atoms)[::-1]  # top first
        assert (sym[lay[layer_from_top]] == solute).sum() == k
        if k == 2:
            i, j = np.flatnonzero(sym == solute)
            d = atoms.get_distance(i, j, mic=True)
            a = atoms.info["lattice_constant"]
            nn = {"fcc": a / np.sqrt(2), "bcc": a * np.sqrt(3) / 2, "hcp": a}[row["lattice"]]
            if "_nn_" in placement:
                assert d == pytest.approx(nn, rel=1e-6)
            else:
                assert d > 1.5 * nn


def test_dilute_mid_is_not_the_surface_or_sub_surface_layer(rows, recipe, table):
    row = by(rows, placement="dilute_1_mid")
    atoms = build_slab(row, recipe, table)
    solute = row["elements"].split()[1]
    (i,) = np.flatnonzero(np.array(atoms.get_chemical_symbols()) == solute)
    ranks = [k for k, ix in enumerate(layers(atoms)) if i in ix]
    assert ranks == [1]  # second layer from the bottom of 4


def _binary_row(rows, placement):
    return by(rows, type="binary_proto", placement=placement)


@pytest.mark.parametrize(
    "placement",
    [
        "l1_1_ab", "l1_1_ba", "l1_0_ab", "l1_0_ba", "l1_2_a3b", "l1_2_ab3",
        "b2_ab", "b2_ba", "d0_3_a3b", "d0_3_ab3", "d0_19_a3b", "d0_19_ab3",
    ],
)  # fmt: skip
def test_binary_prototypes(rows, recipe, table, placement):
    row = _binary_row(rows, placement)
    atoms = build_slab(row, recipe, table)
    check_common(atoms, row, recipe, table)
    assert len(atoms) == 16 and row["size"] == "2x2x4"
    a_el, b_el = row["elements"].split()
    nn = nn_species(atoms, row["lattice"])
    sym = np.array(atoms.get_chemical_symbols())
    top = layers(atoms)[-1]
    kind = placement.rsplit("_", 1)[0]
    if kind == "l1_1":  # alternating (111) planes, `ab` = A on top
        first = a_el if placement.endswith("_ab") else b_el
        assert set(sym[top]) == {first}
        for ix in layers(atoms):
            assert len(set(sym[ix])) == 1
    elif kind in ("l1_0", "b2"):  # each layer half A half B; B2: all first neighbours unlike
        for ix in layers(atoms):
            assert Counter(sym[ix]) == {a_el: len(ix) // 2, b_el: len(ix) // 2}
        if kind == "b2":
            assert set(nn[a_el]) == {b_el} and set(nn[b_el]) == {a_el}
        else:  # L1_0 bulk: 4 like + 8 unlike first neighbours (slab average 3.5 + 7)
            assert nn[a_el][a_el] / nn[a_el][b_el] == pytest.approx(0.5)
    else:  # L1_2, D0_3, D0_19: the minority has only majority first neighbours, 1/4 per layer
        minority = b_el if placement.endswith("_a3b") else a_el
        majority = a_el if minority == b_el else b_el
        assert set(nn[minority]) == {majority}
        for ix in layers(atoms):
            assert (sym[ix] == minority).sum() == len(ix) // 4
        if kind == "d0_3":  # and no minority atom among its second neighbours (at a)
            lat = atoms.info["lattice_constant"]
            i, j, d = neighbor_list("ijd", atoms, lat * 1.05)
            second = (d > lat * 0.95) & (sym[i] == minority)
            assert set(sym[j[second]]) == {majority}


def test_binary_prototype_pairs_swap_the_species(rows, recipe, table):
    for base in ("l1_1", "l1_2", "d0_3", "d0_19"):
        suffixes = ("ab", "ba") if base == "l1_1" else ("a3b", "ab3")
        r1 = _binary_row(rows, f"{base}_{suffixes[0]}")
        r2 = by(rows, type="binary_proto", placement=f"{base}_{suffixes[1]}")
        s1 = build_slab(r1, recipe, table).get_chemical_symbols()
        s2 = build_slab(r2, recipe, table).get_chemical_symbols()
        if r1["elements"] == r2["elements"]:
            a, b = r1["elements"].split()
            assert s2 == [b if s == a else a for s in s1]


@pytest.mark.parametrize("placement", ["heusler_l21", "half_heusler"])
def test_ternary_prototypes(rows, recipe, table, placement):
    row = by(rows, type="ternary_proto", placement=placement)
    atoms = build_slab(row, recipe, table)
    check_common(atoms, row, recipe, table)
    assert row["lattice"] == "fcc" and len(atoms) == 64
    x, y, z = row["elements"].split()
    assert row["counts"] == "32 16 16"
    nn = nn_species(atoms, "fcc")
    sym = np.array(atoms.get_chemical_symbols())
    if placement == "heusler_l21":
        # X on two simple-cubic sublattices: X has X, Y, Z first neighbours in equal numbers; Y and
        # Z have no neighbour of their own species; every (111) layer holds X2YZ
        assert nn[x][x] == nn[x][y] == nn[x][z]
        assert y not in nn[y] and z not in nn[z]
        for ix in layers(atoms):
            assert Counter(sym[ix]) == {x: 8, y: 4, z: 4}
    else:
        lay = layers(atoms)[::-1]
        for k, ix in enumerate(lay):
            want = {x: 16} if k % 2 == 0 else {y: 8, z: 8}
            assert Counter(sym[ix]) == want


def test_prototype_that_does_not_fit_the_cell_names_the_size_key(rows, recipe, table):
    row = dict(_binary_row(rows, "l1_2_a3b"))
    row.update(size="1x2x4", n_atoms=8, counts="6 2")
    with pytest.raises(ValueError, match="recipe.ordered.binary_prototypes.size"):
        build_slab(row, recipe, table)


def test_small_preset_sizes_build(recipe, table):
    small = dict(recipe)
    small["source"] = "generator"
    small["elements"] = ["Cu", "Fe", "Ni", "Pt"]
    small["random_alloys"] = dict(recipe["random_alloys"], size=[2, 2, 3])
    small["ordered"] = {
        "dilute": {"size": [2, 2, 3]},
        "binary_prototypes": {"size": [2, 2, 4]},
        "ternary_prototypes": {"size": [2, 2, 4]},
    }
    for s in enumerate_slabs(small):
        atoms = build_slab(s.manifest_row(), small, table)
        assert len(atoms) == s.n_atoms


# ---- lattice table ------------------------------------------------------------------------------
def test_reference_table_uses_ase_states_then_covalent_estimates(caplog):
    with caplog.at_level(logging.WARNING):
        table = reference_lattice_table(["Cu", "Fe", "Co", "Mn", "Ag"], default_magmom=1.0)
    assert table["Cu"]["fcc"]["a0"] == pytest.approx(3.61)
    assert table["Cu"]["fcc"]["source"] == "ase-reference-state"
    assert table["Fe"]["bcc"]["a0"] == pytest.approx(2.87)
    assert table["Co"]["hcp"]["c_over_a"] == np.sqrt(8 / 3)  # default rule: the ideal c/a
    r_cu = 1.32
    assert table["Cu"]["bcc"]["a0"] == pytest.approx(4 * r_cu / np.sqrt(3), abs=1e-6)
    assert table["Cu"]["hcp"]["a0"] == pytest.approx(2 * r_cu)
    assert table["Cu"]["hcp"]["c_over_a"] == pytest.approx(1.633, abs=1e-3)
    # the study's radii (Fe 126 pm; ASE's table has 132)
    assert table["Fe"]["fcc"]["a0"] == pytest.approx(2 * np.sqrt(2) * 1.26, abs=1e-6)
    assert table["Mn"]["bcc"]["source"] == "covalent-radius-estimate"  # ASE: alpha-Mn
    assert table["Fe"]["fcc"]["c_over_a"] is None
    # moments: documented table, default for other spin-polarised elements, 0 otherwise
    assert table["Fe"]["bcc"]["magmom"] == DEFAULT_MAGMOM["Fe"] == 2.2
    assert table["Co"]["fcc"]["magmom"] == 1.6 and table["Mn"]["bcc"]["magmom"] == 2.5
    assert table["Cu"]["fcc"]["magmom"] == 1.0 and table["Ag"]["fcc"]["magmom"] == 0.0
    warned = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warned) == 15
    assert any("Mn bcc" in m and "covalent-radius-estimate" in m for m in warned)


def test_one_c_over_a_rule_for_eos_fallbacks_and_vegard(tmp_path):
    """recipe.hcp_c_over_a: a number fixes every hcp entry's c/a (the ASE reference state keeps
    its volume per atom); `fit` gives each element its own c/a. Vegard never mixes the two."""
    from ase.data import atomic_numbers, reference_states

    from magmom.recipe.lattice_table import check_c_over_a_rule

    zn = reference_states[atomic_numbers["Zn"]]
    assert zn["c/a"] == pytest.approx(1.856, abs=1e-3)
    fixed = reference_lattice_table(["Zn", "Co", "Cu"], 1.0, c_over_a=1.633)
    fit = reference_lattice_table(["Zn", "Co", "Cu"], 1.0, c_over_a="fit")
    assert {fixed[el]["hcp"]["c_over_a"] for el in fixed} == {1.633}
    assert fit["Zn"]["hcp"]["c_over_a"] == pytest.approx(zn["c/a"])
    assert fit["Cu"]["hcp"]["c_over_a"] == pytest.approx(np.sqrt(8 / 3))  # covalent: ideal
    volume = {  # per atom: sqrt(3)/4 a^3 c/a
        name: np.sqrt(3) / 4 * t["Zn"]["hcp"]["a0"] ** 3 * t["Zn"]["hcp"]["c_over_a"]
        for name, t in (("fixed", fixed), ("fit", fit))
    }
    assert volume["fixed"] == pytest.approx(volume["fit"], rel=1e-5)
    assert fixed["Zn"]["hcp"]["a0"] == pytest.approx(2.776, abs=1e-3)  # 2.66 Å at 1.856
    # Vegard on a Zn-Co hcp alloy: exactly the fixed c/a, or the mean of the elements' own
    recipe = {"default_magmom": 1.0, "hcp_c_over_a": 1.633}
    _, coa = vegard_lattice(["Co", "Zn"], [1, 1], "hcp", fixed, recipe)
    assert coa == pytest.approx(1.633, abs=1e-12)
    _, coa = vegard_lattice(["Co", "Zn"], [1, 1], "hcp", fit, {**recipe, "hcp_c_over_a": "fit"})
    assert coa == pytest.approx((fit["Co"]["hcp"]["c_over_a"] + zn["c/a"]) / 2)
    # a table of the other rule is refused by name, never averaged in
    check_c_over_a_rule(fixed, 1.633)
    check_c_over_a_rule(fit, "fit")
    with pytest.raises(ValueError, match=r"Co.hcp has c/a 1.62.*'recipe.hcp_c_over_a' fixes 1.633"):
        check_c_over_a_rule(fit, 1.633, "t.json")
    with pytest.raises(ValueError, match="an hcp entry needs its c/a"):
        validate_lattice_table({"Zn": {"hcp": {**fixed["Zn"]["hcp"], "c_over_a": None}}})
    with pytest.raises(ValueError, match="'recipe.hcp_c_over_a'.*neither a positive number"):
        reference_lattice_table(["Zn"], 1.0, c_over_a="experimental")


def test_table_roundtrip_and_completion(tmp_path, caplog):
    table = reference_lattice_table(["Cu", "Fe"], default_magmom=1.0)
    del table["Fe"]["hcp"]
    path = tmp_path / "lattice_table.json"
    write_lattice_table(path, table)
    assert load_lattice_table(path) == table
    with caplog.at_level(logging.WARNING):
        caplog.clear()
        done = complete_lattice_table(table, [("Fe", "hcp"), ("Cu", "fcc")], 1.0)
    assert done["Fe"]["hcp"]["source"] == "covalent-radius-estimate"
    assert [r.getMessage().split(":")[0] for r in caplog.records] == [
        "lattice table fallback for Fe hcp"
    ]


@pytest.mark.parametrize(
    "entry, message",
    [
        ({"a0": -1.0, "c_over_a": None, "magmom": 0.0, "source": "x"}, r"Cu\.fcc\.a0"),
        ({"a0": 3.6, "c_over_a": None, "magmom": 0.0}, r"Cu\.fcc: missing key\(s\) source"),
        ({"a0": 3.6, "c_over_a": -2, "magmom": 0.0, "source": "x"}, r"Cu\.fcc\.c_over_a"),
    ],
)
def test_bad_table_entries_name_file_element_and_lattice(tmp_path, entry, message):
    path = tmp_path / "lattice_table.json"
    path.write_text(json.dumps({"Cu": {"fcc": entry}}))
    with pytest.raises(ValueError, match=message) as err:
        load_lattice_table(path)
    assert str(path) in str(err.value)


def test_unknown_lattice_in_table_is_rejected(tmp_path):
    path = tmp_path / "t.json"
    entry = {"a0": 1, "c_over_a": None, "magmom": 0, "source": ""}
    path.write_text(json.dumps({"Cu": {"sc": entry}}))
    with pytest.raises(ValueError, match="allowed: fcc, hcp, bcc"):
        load_lattice_table(path)
