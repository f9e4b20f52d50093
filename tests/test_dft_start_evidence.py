"""Start evidence per element group (issue 21 item 2) on a real Fe(110) GPAW record and on
records derived from it by editing fields: groups, outcomes at equal settings, partial and single
comparisons counted apart, the recommendation, the per-group policy and its core-hours."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import numpy as np
import pytest

from magmom.dft import cost_model, start_evidence
from magmom.dft import initial_moments as im
from magmom.dft.record import check_record, read_records

RECORD = Path(__file__).resolve().parent / "data/dft_records/fe100-bcc-pure-v0-lcao.json"
"""A real GPAW record of the mini preset: pure Fe(110), 2x2x3, both starts, labelled with the
LCAO warm-up (the first mini label; withdrawn from data/mini when the preset dropped the
warm-up, kept here as a fixture)."""
SHIPPED = Path(__file__).resolve().parents[1] / "data/mini/records"  # the mini labels
Z = {"Fe": 26, "Cr": 24, "V": 23, "Mn": 25, "Ni": 29, "Pt": 78, "Cu": 29}


@pytest.fixture(scope="module")
def shipped() -> dict:
    return json.loads(RECORD.read_text())


def derived(record: dict, slab_id: str, symbols=None, eos_de=None, eos_dm=None) -> dict:
    """A copy of ``record`` under ``slab_id``: atoms replaced by ``symbols`` (cycled), the
    ``eos`` start's energy at equal settings ``eos_de`` eV above ``floor``'s and its moments
    shifted by ``eos_dm`` μB on atom 0."""
    r = copy.deepcopy(record)
    r["slab_id"] = r["meta"]["slab_id"] = slab_id
    if symbols:
        n = len(r["structure"]["numbers"])
        r["structure"]["numbers"] = [Z[symbols[i % len(symbols)]] for i in range(n)]
    starts = r["initial_moments"]["starts"]
    floor = starts["floor"]["equal_settings"]
    eos = starts["eos"]["equal_settings"]
    if eos_de is not None:
        eos["energy"] = floor["energy"] + eos_de
        r["initial_moments"]["equal_settings_energies"]["eos"] = eos["energy"]
    if eos_dm is not None:
        eos["magmoms"] = list(floor["magmoms"])
        eos["magmoms"][0] += eos_dm
    check_record(r, slab_id)
    return r


def outcome(found, slab_id, start):
    (o,) = [o for o in found if o.slab_id == slab_id and o.start == start]
    return o


def test_groups_as_the_issue_names_them():
    assert im.element_group(["Fe", "Co", "Pt"]) == "fe-co-ni"
    assert im.element_group(["Ni"]) == "fe-co-ni"
    assert im.element_group(["Cr", "Fe", "Os"]) == "cr"
    assert im.element_group(["V", "Re"]) == "v"
    assert im.element_group(["Mn", "Ni", "Pd"]) == "mn"
    assert im.element_group(["Cr", "Mn", "Ni"]) == "mixed"
    assert im.element_group(["V", "Cr"]) == "mixed"
    assert im.element_group(["Pt", "Cu", "W"]) == "none"
    assert set(im.ELEMENT_GROUPS) == {"fe-co-ni", "cr", "v", "mn", "mixed", "none"}


def test_the_shipped_record_is_fe_co_ni_and_both_starts_reach_one_state(shipped):
    found = start_evidence.slab_outcomes(shipped)
    assert {o.group for o in found} == {"fe-co-ni"}
    floor, eos = (outcome(found, shipped["slab_id"], s) for s in ("floor", "eos"))
    assert floor.outcome == "kept" and eos.outcome == "same"
    assert eos.de == pytest.approx(1.6093413788e-4)  # the record's energy_gap
    assert eos.de == pytest.approx(shipped["initial_moments"]["energy_gap"])
    assert 0 < eos.max_abs_dm < 1e-3


def test_same_state_threshold_is_per_atom_and_moments_count(shipped):
    n = len(shipped["structure"]["numbers"])  # 12 atoms: 1 meV/atom = 12 meV per slab
    recs = [
        derived(shipped, "below", eos_de=0.011),  # 0.92 meV/atom: same state
        derived(shipped, "above", eos_de=0.013),  # 1.08 meV/atom: higher
        derived(shipped, "moved", eos_de=0.002, eos_dm=0.5),  # equal energy, other moments
        derived(shipped, "flipped", eos_de=0.002),
    ]
    flipped = recs[3]["initial_moments"]["starts"]["eos"]["equal_settings"]
    flipped["magmoms"] = [-m for m in flipped["magmoms"]]  # a global spin flip: the same state
    found = start_evidence.outcomes(recs)
    assert outcome(found, "below", "eos").outcome == "same"
    above = outcome(found, "above", "eos")
    assert above.outcome == "higher" and above.de == pytest.approx(0.013)
    assert outcome(found, "moved", "eos").outcome == "other"
    assert outcome(found, "moved", "eos").max_abs_dm == pytest.approx(0.5)
    assert outcome(found, "flipped", "eos").outcome == "same"
    stats = start_evidence.group_stats(found)["fe-co-ni"]["eos"]
    assert stats.higher_mev == pytest.approx((13.0,))
    assert stats.higher_mev_per_atom == pytest.approx((13.0 / n,))
    assert stats.counts == {"same": 2, "higher": 1, "other": 1}


def test_partial_and_single_comparisons_are_counted_apart(shipped):
    partial = derived(shipped, "cr-partial", ["Cr", "Fe", "Pt"], eos_de=0.5)
    partial["initial_moments"]["comparison"] = "partial"
    partial["initial_moments"]["starts"]["eos"]["status"] = "failed"
    partial["initial_moments"]["comparison_reasons"] = ["start 'eos' failed: ladder exhausted"]
    single = derived(shipped, "cr-single", ["Cr", "Pt"])
    single["initial_moments"]["comparison"] = "single"
    single["initial_moments"]["starts"]["eos"] = {"status": "skipped", "duplicate_of": "floor"}
    higher = derived(shipped, "cr-higher", ["Cr", "Fe"], eos_de=0.2)
    found = start_evidence.outcomes([partial, single, higher])
    assert {o.group for o in found} == {"cr"}
    assert outcome(found, "cr-partial", "eos").outcome == "partial"
    assert outcome(found, "cr-partial", "eos").detail == "failed"
    assert outcome(found, "cr-partial", "floor").outcome == "partial"  # not "kept"
    assert outcome(found, "cr-single", "floor").outcome == "single"
    assert outcome(found, "cr-single", "eos").outcome == "skipped"
    stats = start_evidence.group_stats(found)["cr"]
    assert stats["eos"].counts == {"partial": 1, "skipped": 1, "higher": 1}
    assert stats["floor"].counts == {"partial": 1, "single": 1, "kept": 1}
    assert stats["eos"].complete == stats["floor"].complete == 1
    assert start_evidence.slab_counts(found)["cr"] == {"complete": 1, "partial": 1, "single": 1}
    md = start_evidence.evidence_markdown(found)
    assert "- cr-partial (cr): `eos` failed, `floor` ok" in md
    # shown: the starts compared there (no inplane_afm ran on these slabs), not the default
    assert "| cr (with Cr (no V or Mn)) | 1 / 1 / 1 | `floor+eos` | shown |" in md


def test_recommendation_needs_evidence(shipped):
    same = [derived(shipped, f"fe-{i}", ["Fe", "Pt"]) for i in range(start_evidence.MIN_SLABS)]
    recs = start_evidence.recommend(start_evidence.group_stats(start_evidence.outcomes(same)))
    assert recs["fe-co-ni"].policy == "eos" and recs["fe-co-ni"].evidence == "none needed"
    assert recs["fe-co-ni"].slabs == start_evidence.MIN_SLABS
    assert recs["cr"].evidence == "not enough" and recs["cr"].slabs == 0
    assert start_evidence.policy_string(recs) == f"{im.DEFAULT_POLICY},fe-co-ni=eos"
    fewer = start_evidence.outcomes(same[:-1])
    recs = start_evidence.recommend(start_evidence.group_stats(fewer))
    assert recs["fe-co-ni"].policy == im.DEFAULT_POLICY  # not enough: the default stays
    assert recs["fe-co-ni"].evidence == "not enough"
    missed = start_evidence.outcomes([*same, derived(shipped, "fe-high", ["Fe"], eos_de=0.1)])
    recs = start_evidence.recommend(start_evidence.group_stats(missed))
    assert recs["fe-co-ni"].policy == "floor+eos" and recs["fe-co-ni"].evidence == "shown"
    assert recs["fe-co-ni"].slabs == start_evidence.MIN_SLABS + 1
    assert "`eos` higher on 1" in recs["fe-co-ni"].why


def test_a_start_that_wins_where_the_others_end_higher_stays_in_the_policy():
    """The shipped Mn labels: floor and eos end in a ferromagnet above the in-plane
    antiferromagnet on both Mn slabs, so the Mn group keeps inplane_afm (not the default's
    floor+eos, which would label these slabs with the ferromagnet)."""
    records = [
        json.loads((SHIPPED / f"{s}.json").read_text())
        for s in ("mn075-pd025-bcc-random-v0", "ag017-fe012-ir016-mn025-os014-ru016-hcp-random-v0")
    ]
    stats = start_evidence.group_stats(start_evidence.outcomes(records))
    recs = start_evidence.recommend(stats, default="floor+eos")
    assert recs["mn"].evidence == "shown" and recs["mn"].slabs == 2
    assert recs["mn"].policy == "floor+eos+inplane_afm"
    assert start_evidence.policy_string(recs, "floor+eos") == "floor+eos,mn=floor+eos+inplane_afm"
    recs = start_evidence.recommend(stats)  # the default runs it already: no override
    assert start_evidence.policy_string(recs) == im.DEFAULT_POLICY == "floor+eos+inplane_afm"


def test_per_group_policy_resolves_per_slab():
    policy = "floor+eos,fe-co-ni=eos,mn=floor"
    assert im.slab_policy(policy, ["Fe", "Pt"]) == "eos"
    assert im.slab_policy(policy, ["Fe", "Cr"]) == "floor+eos"
    assert im.slab_policy(policy, ["Mn", "Ni"]) == "floor"
    assert im.n_runs(["Fe", "Pt"], policy) == 1
    assert im.n_runs(["Fe", "Cr"], policy) == 2
    symbols, tags = ["Fe", "Fe", "Pt"], [1, 2, 3]
    got = im.policy_starts(symbols, np.zeros(3), tags, policy)
    assert [s.name for s in got] == ["eos"]
    for bad in ("floor+eos,fe-co-ni", "floor+eos,iron=eos", "floor+eos,cr=eos,cr=floor", "x"):
        with pytest.raises(ValueError, match="dft.initial_moments"):
            im.check_policy(bad)


def test_policy_costs_per_group_add_up():
    shapes = [
        cost_model.SlabShape((2, 2, 4), ("Fe", "Pt"), "fcc", "binary_proto"),
        cost_model.SlabShape((2, 2, 4), ("Cr", "Fe"), "fcc", "binary_proto"),
        cost_model.SlabShape((4, 4, 4), ("Cu", "Pt"), "fcc", "binary"),
    ]
    job = cost_model.JobSettings(3.5, 350.0, 10.0, cost_model.budget(30, 150))
    eos, both, mixed = start_evidence.policy_costs(
        shapes, job, 32, ["eos", "floor+eos", "floor+eos,fe-co-ni=eos"]
    )
    one = {s: cost_model.slab_core_hours(shapes[0], job, 32) for s in ("fe", "cr")}
    assert eos.core_hours["fe-co-ni"] == pytest.approx(one["fe"])
    assert both.core_hours["fe-co-ni"] == pytest.approx(2 * one["fe"])
    assert both.core_hours["cr"] == pytest.approx(2 * one["cr"])
    assert mixed.core_hours["fe-co-ni"] == pytest.approx(one["fe"])
    assert mixed.core_hours["cr"] == pytest.approx(2 * one["cr"])
    assert both.core_hours["none"] == eos.core_hours["none"] > 0
    assert mixed.slabs_per_starts == {1: 2, 2: 1}
    assert mixed.core_hours["total"] == pytest.approx(sum(
        v for k, v in mixed.core_hours.items() if k != "total"
    ))  # fmt: skip
    md = start_evidence.cost_markdown([eos, both, mixed], reference="floor+eos")
    assert "| `floor+eos,fe-co-ni=eos` | 2 / 1 / 0 |" in md


def test_read_records_from_a_directory(tmp_path, shipped):
    (tmp_path / "b.json").write_text(json.dumps(derived(shipped, "b-slab", ["V"])))
    (tmp_path / "a.json").write_text(json.dumps(shipped))
    got = read_records([tmp_path])
    assert [r["slab_id"] for r in got] == ["b-slab", "fe100-bcc-pure-v0"]
    (tmp_path / "c.json").write_text("{")
    with pytest.raises(ValueError, match="c.json"):
        read_records([tmp_path])


def test_a_failed_slab_without_structure_is_grouped_by_its_composition(shipped):
    r = derived(shipped, "cr022-fe045-os033-bcc-random-v1", ["Cr"])
    r.update(status="failed", reason="every start failed")
    r["meta"]["composition_id"] = "cr022-fe045-os033"
    del r["structure"]
    r["initial_moments"].update(comparison="partial", kept=None)
    for part in r["initial_moments"]["starts"].values():
        part["status"] = "failed"
    found = start_evidence.outcomes([r])
    assert {(o.group, o.outcome, o.detail) for o in found} == {("cr", "partial", "failed")}
    del r["meta"]["composition_id"]
    with pytest.raises(ValueError, match="cr022-fe045-os033-bcc-random-v1"):
        start_evidence.outcomes([r])
