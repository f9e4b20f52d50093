"""The recipe generator: counts per type vs the study's tables, ids, vote, filter, fractions."""

from __future__ import annotations

import copy
import itertools
from pathlib import Path

import pytest
import yaml
from snakemake.utils import update_config

from magmom.elements import NATURAL_LATTICE, STRONGLY_MAGNETIC
from magmom.layout import ELEMENTS
from magmom.recipe.compositions import (
    composition_id,
    iter_fractions,
    lattice_vote,
    passes_size_filter,
    random_alloy_compositions,
    size_filtered_combinations,
    size_mismatch,
)
from magmom.recipe.manifest import enumerate_slabs, recipe_rows, recipe_slabs, type_summary
from magmom.recipe.seeds import stable_random

ROOT = Path(__file__).resolve().parents[1]

# (compositions, (composition, lattice, placement) rows, slabs) per type of the study's published
# tables (data/study-recipe/, config.yaml's default source: 6,749 random-alloy and 5,615 ordered
# rows) and of the generator on config.yaml. The deterministic types are the same rows; the
# sampled types (ternary ... senary) are the generator's own draws with the study's counts per
# combination and variants (see benchmarks/recipe_vs_study.py).
EXPECTED_TABLES = {
    "pure": (21, 21, 21),
    "binary": (860, 979, 3916),
    "ternary": (2400, 2849, 8547),
    "quaternary": (1600, 1946, 3892),
    "quinary": (600, 746, 746),
    "senary": (160, 208, 208),
    "dilute_1": (180, 540, 540),
    "dilute_2": (180, 540, 540),
    "binary_proto": (630, 2520, 2520),
    "ternary_proto": (1556, 2015, 2015),
}
EXPECTED_GENERATOR = {
    **EXPECTED_TABLES,
    "ternary": (2400, 2883, 8649),
    "quaternary": (1600, 1970, 3940),
    "quinary": (600, 763, 763),
    "senary": (160, 208, 208),
}
RANDOM_TYPES = ("pure", "binary", "ternary", "quaternary", "quinary", "senary")
DETERMINISTIC = ("pure", "binary", "dilute_1", "dilute_2", "binary_proto", "ternary_proto")


def load_config(*presets: str) -> dict:
    config = yaml.safe_load((ROOT / "config.yaml").read_text())
    for preset in presets:
        update_config(config, yaml.safe_load((ROOT / "presets" / preset).read_text()))
    return config


@pytest.fixture(scope="module")
def full_recipe() -> dict:
    """config.yaml's recipe through the generator."""
    recipe = load_config()["recipe"]
    recipe["source"] = "generator"
    return recipe


@pytest.fixture(scope="module")
def full_specs(full_recipe):
    return enumerate_slabs(full_recipe)


@pytest.fixture(scope="module")
def table_specs():
    recipe = load_config()["recipe"]
    assert recipe["source"] == "study_tables"
    return enumerate_slabs(recipe)


def counts(specs) -> dict:
    return {t: (d["compositions"], d["rows"], d["slabs"]) for t, d in type_summary(specs).items()}


def test_study_tables_counts_per_type(table_specs):
    got = counts(table_specs)
    assert got == EXPECTED_TABLES
    assert sum(got[t][1] for t in RANDOM_TYPES) == 6749
    assert sum(v[1] for t, v in got.items() if t not in RANDOM_TYPES) == 5615
    assert len(table_specs) == 22945


def test_generator_counts_per_type(full_specs):
    got = counts(full_specs)
    assert got == EXPECTED_GENERATOR
    assert sum(v[1] for t, v in got.items() if t not in RANDOM_TYPES) == 5615
    assert len(full_specs) == 23112


def test_generator_reproduces_the_deterministic_families_row_for_row(full_specs, table_specs):
    """Same (type, composition, lattice, placement, size, role order, counts) rows and variants."""
    mine, study = recipe_rows(full_specs), recipe_rows(table_specs)
    for family in DETERMINISTIC:
        m = {r: v for r, v in mine.items() if r.comp_type == family}
        s = {r: v for r, v in study.items() if r.comp_type == family}
        assert m == s, family
    # the sampled families: the study's variants and combination counts, fresh draws
    for family in ("ternary", "quaternary", "quinary", "senary"):
        assert {v for r, v in mine.items() if r.comp_type == family} == {
            v for r, v in study.items() if r.comp_type == family
        }


def test_sampled_types_hit_the_configured_numbers_of_combinations(full_recipe):
    comps = random_alloy_compositions(full_recipe)
    ra = full_recipe["random_alloys"]
    for comp_type in ("ternary", "quaternary", "quinary", "senary"):
        mine = [c for c in comps if c.comp_type == comp_type]
        combos = {c.elements for c in mine}
        assert len(combos) == ra[comp_type]["combinations"]
        per_combo = {len([c for c in mine if c.elements == e]) for e in combos}
        assert per_combo == {ra[comp_type]["compositions_per_combination"]}
        for c in mine:
            assert passes_size_filter(c.elements, full_recipe["size_mismatch_max"])
            numerators = [x * 64 for x in c.fractions]
            assert all(n == round(n) and n >= 3 for n in numerators)  # the study's 3/64 minimum
            assert sum(round(n) for n in numerators) == 64


def test_binaries_are_size_filtered(full_recipe):
    comps = [c for c in random_alloy_compositions(full_recipe) if c.comp_type == "binary"]
    pairs = {c.elements for c in comps}
    assert len(pairs) == 172
    assert ("Al", "Ti") not in pairs and size_mismatch(("Al", "Ti")) > 0.18
    assert ("Cr", "V") in pairs  # 134/127: passes on the study's radii (ASE's: 153/139, too)


def test_composition_id_matches_the_study_format():
    assert composition_id(("Au", "Ag"), (0.875, 0.125)) == "ag012-au088"
    assert composition_id(("Ag",), (1.0,)) == "ag100"
    assert composition_id(("Fe", "Co", "Ni"), (32 / 64, 16 / 64, 16 / 64)) == "co025-fe050-ni025"
    assert composition_id(("Cu", "Fe"), (63 / 64, 1 / 64)) == "cu098-fe002"


def test_size_filter_on_the_study_radii():
    assert size_mismatch(("Ag", "Fe")) == pytest.approx((145 - 126) / 126)
    # pairs the two radius tables decide differently (study: V 134, Fe 126, Cr 127, Mn 132)
    assert passes_size_filter(("Al", "V"), 0.18)  # (134 - 121) / 121 = 0.11; ASE's V 153: 0.26
    assert not passes_size_filter(("Ti", "V"), 0.18)  # (160 - 134) / 134 = 0.19; ASE: 0.05
    assert not passes_size_filter(("Fe", "Mo"), 0.18)  # (154 - 126) / 126 = 0.22; ASE: 0.17
    assert not passes_size_filter(("Al", "W"), 0.18)  # (162 - 121) / 121 = 0.34
    for k in (3, 4):
        brute = [
            c for c in itertools.combinations(sorted(ELEMENTS), k) if passes_size_filter(c, 0.18)
        ]
        assert size_filtered_combinations(ELEMENTS, k, 0.18) == brute


def test_lattice_vote_keeps_every_lattice_within_tolerance():
    assert lattice_vote(("Ag", "Fe"), (0.5, 0.5), 0.10) == ("fcc", "bcc")
    assert lattice_vote(("Ag", "Fe"), (0.25, 0.75), 0.10) == ("bcc",)
    # fcc 0.40, hcp 0.35, bcc 0.25 -> fcc and hcp (order fcc > hcp > bcc)
    assert lattice_vote(("Ag", "Co", "Fe"), (0.40, 0.35, 0.25), 0.10) == ("fcc", "hcp")
    assert lattice_vote(("Co", "Cu", "Fe"), (1 / 3, 1 / 3, 1 / 3), 0.10) == ("fcc", "hcp", "bcc")
    assert lattice_vote(("Ag", "Co"), (0.46, 0.54), 0.10) == ("fcc", "hcp")
    assert lattice_vote(("Ag", "Co"), (0.44, 0.56), 0.10) == ("hcp",)
    assert lattice_vote(("Ag", "Co"), (0.46, 0.54), 0.0) == ("hcp",)


def test_every_random_row_is_on_a_voted_lattice(full_specs, full_recipe):
    for s in full_specs:
        if s.comp_type in RANDOM_TYPES:
            assert s.placement == ("pure" if s.comp_type == "pure" else "random")
            els = s.elements.split()
            if s.comp_type == "pure":
                assert s.lattice == NATURAL_LATTICE[els[0]]
            votes = {NATURAL_LATTICE[e] for e in els}
            assert s.lattice in votes


def test_drawn_fractions_follow_the_dirichlet_over_the_free_parts():
    # k = 3, D = 64, m = 3: 55 free parts shared by Dir(2.5): each share has mean 1/3 and
    # variance (k - 1) / (k^2 (k alpha + 1)) = 2 / (9 * 8.5); rounding adds ~1/12 part^2
    rng = stable_random(0, "test")
    draws = iter_fractions(rng, 3, 64, 3, 2.5)
    sample = [next(draws) for _ in range(6000)]
    assert all(sum(p) == 64 and min(p) >= 3 for p in sample)
    free = [[n - 3 for n in p] for p in sample]
    for i in range(3):
        xs = [f[i] for f in free]
        mean = sum(xs) / len(xs)
        var = sum((x - mean) ** 2 for x in xs) / len(xs)
        assert mean == pytest.approx(55 / 3, abs=0.4)
        assert var == pytest.approx(55**2 * 2 / (9 * 8.5) + 1 / 12, rel=0.06)
    # a larger concentration pulls the compositions towards equal shares
    wide = iter_fractions(stable_random(0, "wide"), 3, 64, 3, 1.0)
    narrow = iter_fractions(stable_random(0, "narrow"), 3, 64, 3, 8.0)
    mean_min = [sum(min(next(d)) for _ in range(3000)) / 3000 for d in (wide, narrow)]
    assert mean_min[0] + 4 < mean_min[1]
    # every composition with parts >= m is reachable (k = 3, D = 12, m = 3: 10 of them)
    small = iter_fractions(stable_random(0, "small"), 3, 12, 3, 1.0)
    assert {next(small) for _ in range(3000)} == {
        p for p in itertools.product(range(3, 7), repeat=3) if sum(p) == 12
    }


def test_ordered_counts_and_placements(full_specs):
    by_type: dict[str, set] = {}
    for s in full_specs:
        by_type.setdefault(s.comp_type, set()).add(s.placement)
    assert by_type["dilute_1"] == {"dilute_1_top", "dilute_1_sub", "dilute_1_mid"}
    assert by_type["dilute_2"] == {"dilute_2_nn_top", "dilute_2_nn_sub", "dilute_2_far_top"}
    assert len(by_type["binary_proto"]) == 12
    assert by_type["ternary_proto"] == {"heusler_l21", "half_heusler"}
    for s in full_specs:
        if s.comp_type.startswith("dilute"):
            host, solute = s.elements.split()
            assert s.lattice == NATURAL_LATTICE[host]
            assert (host in ("Co", "Cr", "Fe", "Mn", "Ni", "V")) != (
                solute in ("Co", "Cr", "Fe", "Mn", "Ni", "V")
            )
        if s.comp_type == "ternary_proto":
            assert s.lattice == "fcc" and s.n_atoms == 64
            x, y, z = s.elements.split()
            assert y < z and s.counts == "32 16 16"
            if s.placement == "heusler_l21":
                assert x in STRONGLY_MAGNETIC
            else:
                assert x < y and {x, y, z} & set(STRONGLY_MAGNETIC)
        if s.comp_type == "binary_proto":
            assert s.n_atoms == 16
    proto = [s for s in full_specs if s.comp_type == "ternary_proto"]
    triples = {frozenset(s.elements.split()) for s in proto}
    assert len(triples) == 875  # every triple with a strongly magnetic element, no size filter
    assert sum(s.placement == "heusler_l21" for s in proto) == 1140
    assert any(not passes_size_filter(sorted(t), 0.18) for t in triples)


def test_four_element_preset_takes_all_combinations():
    recipe = load_config("tiny.yaml")["recipe"]
    summary = type_summary(enumerate_slabs(recipe))
    rows = {t: d["rows"] for t, d in summary.items()}
    # Cu Fe Ni Pt (radii 132 126 124 136: every set passes the filter): 6 pairs x 5 (+3 Fe pairs
    # at 0.5 with a second lattice); all 4 triples x 4 (+ ties) and the single quadruple x 4
    # (fewer combinations than requested: all taken); no quinary or senary; dilute: (Fe, Ni) x
    # (Cu, Pt) x 2 roles x 3 placements; Heusler: 4 triples, each with Fe or Ni: 6 L2_1 + 4 half
    assert summary["ternary"]["compositions"] == 16 and summary["quaternary"]["compositions"] == 4
    assert rows["binary"] == 33 and 16 <= rows["ternary"] <= 20 and 4 <= rows["quaternary"] <= 6
    assert {t: n for t, n in rows.items() if t not in ("binary", "ternary", "quaternary")} == {
        "pure": 4, "dilute_1": 24, "dilute_2": 24, "binary_proto": 72, "ternary_proto": 10,
    }  # fmt: skip
    kept = type_summary(recipe_slabs(recipe))
    assert {t: d["slabs"] for t, d in kept.items()} == {t: 2 for t in rows}


def test_untouched_slabs_survive_config_edits(full_recipe):
    base = {s.slab_id: s for s in enumerate_slabs(full_recipe)}
    edited = copy.deepcopy(full_recipe)
    edited["random_alloys"]["ternary"]["combinations"] = 610
    edited["random_alloys"]["quinary"]["compositions_per_combination"] = 4
    after = {s.slab_id: s for s in enumerate_slabs(edited)}
    for slab_id, s in base.items():
        assert after[slab_id] == s  # ternary and quinary only grew; the rest is untouched
    assert len(after) > len(base)


def test_fewer_elements_keep_the_compositions_of_surviving_combinations(full_recipe):
    small = copy.deepcopy(full_recipe)
    small["elements"] = ["Co", "Cu", "Fe", "Ni", "Pd", "Pt"]
    full_by_combo = {}
    for c in random_alloy_compositions(full_recipe):
        full_by_combo.setdefault(c.elements, []).append(c)
    for c in random_alloy_compositions(small):
        if c.elements in full_by_combo:
            assert c in full_by_combo[c.elements]
