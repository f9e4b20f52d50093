"""The initial-moment policy (``dft.initial_moments``): starts per policy, and real GPAW runs
showing that the start decides the label of a Cr slab and that both starts are recorded."""

from __future__ import annotations

import numpy as np
import pytest
from ase.build import bcc110
from dft_helpers import cheap_config, project_config

from magmom.dft import initial_moments as im
from magmom.dft.label import LabelSettings, fix_bottom_layers, label_slab
from magmom.dft.record import check_record


def slab(layers, magmom: float, a: float = 2.88):
    """1 x 1 bcc(110) slab, ``layers`` from the top, every atom at the table moment ``magmom``."""
    atoms = bcc110("Cr", size=(1, 1, len(layers)), a=a, vacuum=4.0)
    for i, tag in enumerate(atoms.get_tags()):
        atoms[i].symbol = layers[tag - 1]
    atoms.set_initial_magnetic_moments([magmom] * len(atoms))
    fix_bottom_layers(atoms, 1)
    atoms.pbc = (True, True, False)
    return atoms


def by_layer(atoms, values):
    return [float(values[i]) for i in np.argsort(atoms.get_tags())]


def test_eos_policy_keeps_the_table_moments():
    atoms = slab(["Cr", "Fe", "Cr"], 0.001)
    (start,) = im.starts(atoms, "eos")
    assert start.name == "eos"
    np.testing.assert_array_equal(start.magmoms, [0.001] * 3)


def test_floor_raises_moment_capable_atoms_to_their_floor_only():
    atoms = slab(["Cr", "Fe", "W"], 0.0)
    symbols = atoms.get_chemical_symbols()
    atoms.set_initial_magnetic_moments([{"Cr": 0.001, "Fe": 3.4, "W": 0.2}[s] for s in symbols])
    table = atoms.get_initial_magnetic_moments()
    (start,) = im.starts(atoms, "floor")
    for s, t, m in zip(symbols, table, start.magmoms, strict=True):
        assert m == max(t, im.MOMENT_FLOOR.get(s, 0.0))
    assert start.magmoms[symbols.index("Cr")] == im.MOMENT_FLOOR["Cr"] == 3.0
    assert start.magmoms[symbols.index("Fe")] == 3.4  # above its floor: the table's value
    assert start.magmoms[symbols.index("W")] == 0.2  # no floor: the table's value


def test_floor_afm_alternates_cr_and_mn_by_layer():
    atoms = slab(["Cr", "Fe", "Mn", "Cr"], 0.0)
    floor, afm = im.starts(atoms, "floor-afm")
    assert (floor.name, afm.name) == ("floor", "afm")
    assert by_layer(atoms, floor.magmoms) == [3.0, 3.0, 3.5, 3.0]
    assert by_layer(atoms, afm.magmoms) == [-3.0, 3.0, -3.5, 3.0]  # Fe stays ferromagnetic
    # without Cr or Mn there is only one start
    assert [s.name for s in im.starts(slab(["Fe", "V"], 0.0), "floor-afm")] == ["floor"]


@pytest.mark.parametrize(
    "policy, names",
    [
        ("floor+eos", ["floor", "eos"]),
        ("floor+eos+afm", ["floor", "eos", "afm"]),
        ("eos", ["eos"]),
        ("floor", ["floor"]),
        ("floor-afm", ["floor", "afm"]),
    ],
)
def test_starts_per_policy(policy, names):
    atoms = slab(["Mn", "Ni", "Mn"], 0.0)
    atoms.set_initial_magnetic_moments([0.12, 0.6, 0.12])  # the benchmark's Mn/Ni/Mn table
    got = im.starts(atoms, policy)
    assert [s.name for s in got] == names
    assert all(s.duplicate_of is None for s in got)  # every start differs here
    expected = {"eos": [0.12, 0.6, 0.12], "floor": [3.5, 1.0, 3.5], "afm": [-3.5, 1.0, -3.5]}
    assert {s.name: by_layer(atoms, s.magmoms) for s in got} == {n: expected[n] for n in names}


def test_default_policy_adds_the_inplane_start_only_where_cr_or_mn_is():
    assert im.DEFAULT_POLICY == project_config()["dft"]["initial_moments"]
    assert im.DEFAULT_POLICY == "floor+eos+inplane_afm"
    assert im.POLICY_STARTS[im.DEFAULT_POLICY] == ("floor", "eos", "inplane_afm")
    assert set(im.POLICIES) == set(im.POLICY_STARTS)
    assert im.n_runs(["Fe", "Pt"], im.DEFAULT_POLICY) == im.n_runs(["Fe", "Pt"], "floor+eos") == 2
    assert im.n_runs(["Cr", "Pt"], im.DEFAULT_POLICY) == 3
    assert im.n_runs(["Mn", "V"], im.DEFAULT_POLICY) == 3


def test_a_start_equal_to_an_earlier_one_is_a_skipped_duplicate():
    # no element with a floor (Cu, W: spin-polarised, no floor): floor == eos, even for a
    # slightly negative table moment (the floor start keeps the table's value there)
    cu_w = slab(["Cu", "W", "Cu"], 0.0)
    cu_w.set_initial_magnetic_moments([1.0, -0.002, 1.0])
    floor, eos = im.starts(cu_w, "floor+eos")
    assert (floor.duplicate_of, eos.duplicate_of) == (None, "floor")
    np.testing.assert_array_equal(floor.magmoms, cu_w.get_initial_magnetic_moments())
    # table at or above every floor: the same start too
    fe = slab(["Fe", "Fe"], 3.4)
    assert [s.duplicate_of for s in im.starts(fe, "floor+eos")] == [None, "floor"]
    # within 1e-8 μB is the same, beyond it is not
    fe.set_initial_magnetic_moments([3.4, 3.0 - 1e-9])
    assert im.starts(fe, "floor+eos")[1].duplicate_of == "floor"
    fe.set_initial_magnetic_moments([3.4, 3.0 - 1e-6])
    assert im.starts(fe, "floor+eos")[1].duplicate_of is None
    # Cr only in odd layers: the layer-alternating start is the floor start with every spin
    # flipped, the same calculation without spin-orbit coupling
    cr_pt = slab(["Cr", "Pt", "Cr"], 0.0)
    floor, eos, afm = im.starts(cr_pt, "floor+eos+afm")
    assert by_layer(cr_pt, afm.magmoms) == [-3.0, 0.0, -3.0]
    assert (eos.duplicate_of, afm.duplicate_of) == (None, "floor")
    assert not im.same_start([3.0, 0.0, -3.0], [3.0, 0.0, 3.0])


def test_a_global_spin_flip_is_a_duplicate_only_up_to_sign():
    """The labeller's starts are the same calculation under a global flip; the warm-start
    experiment, which compares final moments sign included, asks without the flip."""
    assert im.same_start([3.0, -1.0], [-3.0, 1.0])
    assert not im.same_start([3.0, -1.0], [-3.0, 1.0], up_to_sign=False)
    assert im.same_start([3.0, -1.0], [3.0, -1.0 + 1e-9], up_to_sign=False)
    assert not im.same_start([3.0, 3.0], [3.0, 3.0, 3.0])  # other atom count: not the same


def test_materials_project_start_is_pymatgens_default_magmom():
    """pymatgen's ``MAGMOM`` table (``VASPIncarBase.yaml``, inherited by ``MPRelaxSet``): 5 μB
    for Cr, Fe, Mn, Mo, Ni, V, W; 0.6 for Co; 0.6 for every element without an entry."""
    from magmom.layout import ELEMENTS

    five = {"Cr", "Fe", "Mn", "Mo", "Ni", "V", "W"}
    moments = dict(zip(ELEMENTS, im.materials_project(ELEMENTS), strict=True))
    assert moments == {el: 5.0 if el in five else 0.6 for el in ELEMENTS}
    assert moments["Co"] == 0.6 and moments["Pt"] == 0.6
    assert im.MATERIALS_PROJECT == "materials_project" and im.FLOOR == "floor"


@pytest.mark.parametrize(
    "elements, policy, runs",
    [
        (("Pt", "Au"), "floor+eos+afm", 1),  # not spin-polarised: one start, "none"
        (("Cu", "Pt"), "floor+eos", 1),  # spin-polarised, no floor: floor == eos
        (("Fe", "Pt"), "floor+eos", 2),
        (("Fe", "Pt"), "floor+eos+afm", 2),  # no Cr or Mn: no afm start
        (("Cr",), "floor+eos+afm", 3),
        (("Mn", "Ni"), "floor-afm", 2),
        (("Cr",), "floor+eos+inplane_afm", 3),
        (("Mn", "Ni"), "floor+inplane_afm", 2),
        (("Fe", "Ni"), "floor+inplane_afm", 1),  # no Cr or Mn: no in-plane start
        (("Mn", "Ni"), "eos", 1),
        (("Cr", "V"), "floor", 1),
    ],
)
def test_runs_per_slab_for_the_cost_model(elements, policy, runs):
    assert im.n_runs(elements, policy) == runs


def test_the_cost_model_multiplies_runtime_not_memory_by_the_starts():
    from magmom.dft import cost_model

    job = cost_model.JobSettings(3.5, 350.0, 10.0, cost_model.budget(30, 150))
    shape = cost_model.SlabShape((2, 2, 4), ("Cr", "Fe"), "fcc", "binary_proto")
    one = cost_model.slab_job_size(shape, job, 4, starts=1)
    two = cost_model.slab_job_size(shape, job, 4, starts=2)
    assert two["mem_mb"] == one["mem_mb"]
    assert two["runtime"] == pytest.approx(2 * one["runtime"], abs=1)  # minutes, rounded up
    assert cost_model.core_hours(16, 36, 4, job.budget, starts=3) == pytest.approx(
        3 * cost_model.core_hours(16, 36, 4, job.budget)
    )


def gpaw_settings(policy: str) -> LabelSettings:
    """The tests' cheap settings as single points (200 eV, 5 x 5 k-points for this cell)."""
    cfg = cheap_config(
        ladder=[
            {"mixer": "pulay", "eigenstates": 1.0e-6, "smearing_width": 0.1, "maxiter": 150},
            {"mixer": "msr1", "eigenstates": 1.0e-5, "smearing_width": 0.15, "maxiter": 300},
        ]
    )
    cfg["dft"]["initial_moments"] = policy
    cfg["dft"]["prerelax"].update(model="none")
    cfg["dft"]["relax"].update(steps=0)
    cfg["dft"]["planewave"].update(kpt_density=1.5)
    return LabelSettings.of(cfg)


@pytest.fixture(scope="module")
def cr_record(tmp_path_factory, single_thread):
    """A two-layer Cr(110) slab whose table moment is the bulk EOS's 0.001 μB, labelled with
    ``floor+eos+afm`` (its ``eos`` start is the study's; real GPAW, cheap settings)."""
    root = tmp_path_factory.mktemp("initial-moments")
    atoms = slab(["Cr", "Cr"], 0.001)
    meta = {"slab_id": "cr", "lattice": "bcc"}
    return atoms, label_slab(atoms, meta, "cr", gpaw_settings("floor+eos+afm"), root / "cr")


@pytest.mark.slow  # 3 x (LCAO + plane-wave SCF) of a 2-atom cell; magnetic starts converge slowly
def test_gpaw_keeps_the_lowest_of_the_starts_and_records_every_start(cr_record):
    atoms, rec = cr_record
    check_record(rec, "floor+eos+afm")
    assert rec["status"] == "ok", rec.get("reason")
    assert rec["initial_moments"]["policy"] == "floor+eos+afm"
    starts = rec["initial_moments"]["starts"]
    assert list(starts) == ["floor", "eos", "afm"]
    assert by_layer(atoms, starts["floor"]["initial_magmoms"]) == [3.0, 3.0]
    assert by_layer(atoms, starts["afm"]["initial_magmoms"]) == [-3.0, 3.0]
    np.testing.assert_allclose(starts["eos"]["initial_magmoms"], [0.001, 0.001])
    for part in starts.values():
        assert part["status"] == "ok" and len(part["magmoms"]) == 2
    # the study's start keeps no moment; the floor start finds the magnetic surface state,
    # at these settings 0.23 μB per atom and 3.6 meV lower
    assert max(np.abs(starts["eos"]["magmoms"])) < 0.05
    assert min(np.abs(starts["floor"]["magmoms"])) > 0.1
    assert starts["floor"]["energy"] < starts["eos"]["energy"] - 0.001
    # the lowest-energy start at equal settings is kept, and the record's labels are its labels
    assert rec["initial_moments"]["comparison"] in ("complete", "partial")
    kept = min(starts, key=lambda s: starts[s]["equal_settings"]["energy"])
    assert kept != "eos"
    assert rec["initial_moments"]["kept"] == kept
    assert rec["energy"] == starts[kept]["energy"]
    assert rec["magmoms"] == starts[kept]["magmoms"]
    assert rec["initial_magmoms"] == starts[kept]["initial_magmoms"]
    assert rec["wall_time"]["total"] > sum(
        v for k, v in rec["wall_time"].items() if k != "total"
    )  # every start's cost


@pytest.mark.slow  # one LCAO + plane-wave SCF of a 2-atom cell
def test_gpaw_runs_a_duplicate_start_once_and_records_it_as_skipped(tmp_path, single_thread):
    atoms = slab(["Cu", "Cu"], 1.0)  # spin-polarised, no floor: floor == eos
    meta = {"slab_id": "cu", "lattice": "bcc"}
    rec = label_slab(atoms, meta, "cu", gpaw_settings("floor+eos"), tmp_path / "cu")
    check_record(rec, "cu")
    assert rec["status"] == "ok", rec.get("reason")
    floor, eos = (rec["initial_moments"]["starts"][s] for s in ("floor", "eos"))
    assert rec["initial_moments"]["kept"] == "floor"
    assert floor["status"] == "ok" and rec["energy"] == floor["energy"]
    assert eos == {
        "initial_magmoms": [1.0, 1.0],
        "status": "skipped",
        "reason": "duplicate of start 'floor' (the same initial moments)",
        "duplicate_of": "floor",
        "energy": None,
        "stages": {},
    }
    assert not (tmp_path / "cu" / "start-eos").exists()  # one start: run in the slab's workdir
    assert rec["wall_time"]["total"] == pytest.approx(
        sum(v for k, v in rec["wall_time"].items() if k != "total")
    )


def cr110_layer(layers: int = 1, a: float = 2.88):
    """Cr(110) in the centred rectangular cell (a × a√2, 2 atoms per layer: a corner and the
    centre, each other's 4 nearest in-plane neighbours), ``layers`` layers, table moment 1 μB."""
    atoms = bcc110("Cr", size=(1, 2, layers), a=a, vacuum=4.0, orthogonal=True)
    atoms.set_initial_magnetic_moments([1.0] * len(atoms))
    fix_bottom_layers(atoms, 1)
    atoms.pbc = (True, True, False)
    return atoms


@pytest.mark.parametrize("layers", [1, 3])
def test_inplane_afm_is_bulk_b2_on_bcc110(layers):
    """Every nearest-neighbour pair (in-plane and between layers) antiparallel: bulk Cr's B2
    order, which a per-element or per-layer start cannot express."""
    from ase.neighborlist import neighbor_list

    atoms = cr110_layer(layers).repeat((2, 1, 1))  # 2 × 2 primitive, as the mini recipe's slabs
    signs = im.inplane_signs(atoms)
    i, j, d = neighbor_list("ijd", atoms, 2.6)  # a√3/2 = 2.49 Å; the next shell is at a = 2.88
    assert len(i) == 4 * len(atoms) if layers == 1 else len(i) > 4 * len(atoms)
    assert np.all(signs[i] == -signs[j])
    for layer in set(atoms.get_tags().tolist()):  # half up, half down in every layer
        assert signs[atoms.get_tags() == layer].sum() == 0


@pytest.mark.parametrize("facet", ["fcc111", "hcp0001"])
def test_inplane_afm_is_rowwise_on_a_triangular_net(facet):
    """A triangular layer cannot be a checkerboard: rows of alternating sign, each atom with 2
    of its 6 nearest neighbours parallel and 4 antiparallel (the least frustration possible)."""
    from ase import build
    from ase.neighborlist import neighbor_list

    atoms = getattr(build, facet)("Co", size=(2, 2, 1), a=2.5, vacuum=4.0)
    atoms.pbc = (True, True, False)
    signs = im.inplane_signs(atoms)
    assert signs.sum() == 0
    i, j = neighbor_list("ij", atoms, 2.6)
    parallel = np.bincount(i[signs[i] == signs[j]], minlength=len(atoms))
    antiparallel = np.bincount(i[signs[i] != signs[j]], minlength=len(atoms))
    assert parallel.tolist() == [2] * 4 and antiparallel.tolist() == [4] * 4


def test_inplane_afm_start_signs_cr_and_mn_only_and_is_recorded_as_a_policy_start():
    atoms = cr110_layer(1).repeat((2, 1, 1))
    atoms[1].symbol = "Fe"
    atoms.set_initial_magnetic_moments([1.0] * len(atoms))
    floor, eos, inplane = im.starts(atoms, "floor+eos+inplane_afm")
    assert (floor.name, eos.name, inplane.name) == ("floor", "eos", "inplane_afm")
    signs = im.inplane_signs(atoms)
    expected = [
        3.0 if s == "Fe" else 3.0 * sign
        for s, sign in zip(atoms.get_chemical_symbols(), signs, strict=True)
    ]
    np.testing.assert_array_equal(inplane.magmoms, expected)
    assert inplane.duplicate_of is None
    # a 1 × 1 cell has no in-plane pattern (every atom its own neighbour): layer alternation only
    one = slab(["Cr", "Cr", "Cr"], 0.0)
    assert by_layer(one, im.starts(one, "floor+eos+inplane_afm")[2].magmoms) == [3.0, -3.0, 3.0]
    # no Cr or Mn: no in-plane start
    fe = cr110_layer(1)
    fe.set_chemical_symbols(["Fe"] * len(fe))
    assert [s.name for s in im.starts(fe, "floor+eos+inplane_afm")] == ["floor", "eos"]


@pytest.mark.slow  # 2 x (LCAO + plane-wave SCF) of a 2-atom cell: 15 CPU-s
def test_gpaw_reaches_the_inplane_antiferromagnet_only_from_the_inplane_start(
    tmp_path, single_thread
):
    """A Cr(110) monolayer, 2 atoms per cell (each the other's 4 nearest neighbours): the uniform
    ``floor`` start keeps both atoms equal — GPAW keeps the symmetry the start has — while
    ``inplane_afm`` ends antiparallel (GPAW does not symmetrise it away) and far lower (at these
    settings ±3.3 against 2 × 2.4 μB, 1.8 eV lower)."""
    atoms = cr110_layer(1)
    cfg = cheap_config(
        ladder=[  # both levels at one width and criterion: equal settings without single points
            {"mixer": "pulay", "eigenstates": 1.0e-6, "smearing_width": 0.1, "maxiter": 100},
            {"mixer": "msr1", "eigenstates": 1.0e-6, "smearing_width": 0.1, "maxiter": 200},
        ]
    )
    cfg["dft"]["initial_moments"] = "floor+inplane_afm"
    cfg["dft"]["prerelax"].update(model="none")
    cfg["dft"]["relax"].update(steps=0)
    cfg["dft"]["planewave"].update(kpt_density=1.0)
    meta = {"slab_id": "cr-layer", "lattice": "bcc"}
    rec = label_slab(atoms, meta, "cr-layer", LabelSettings.of(cfg), tmp_path)
    check_record(rec, "cr-layer")
    assert rec["status"] == "ok", rec.get("reason")
    starts = rec["initial_moments"]["starts"]
    assert list(starts) == ["floor", "inplane_afm"]
    assert all(p["status"] == "ok" for p in starts.values())
    m = starts["floor"]["magmoms"]
    assert abs(m[0] - m[1]) < 0.01, m
    m = starts["inplane_afm"]["initial_magmoms"]
    assert m[0] * m[1] < 0
    m = starts["inplane_afm"]["magmoms"]
    assert m[0] * m[1] < 0 and min(abs(m[0]), abs(m[1])) > 1.0, m
    energies = rec["initial_moments"]["equal_settings_energies"]
    assert energies["inplane_afm"] < energies["floor"] - 0.1
    assert rec["initial_moments"]["kept"] == "inplane_afm"
    assert rec["magmoms"] == starts["inplane_afm"]["magmoms"]


def test_a_per_group_policy_gives_the_inplane_start_to_its_groups_only():
    """The mini preset's form: ``inplane_afm`` for the cr, mn and mixed groups only."""
    policy = "floor+eos,cr=floor+eos+inplane_afm,mn=floor+eos+inplane_afm"
    cr = cr110_layer(1).repeat((2, 1, 1))
    found = im.starts(cr, policy)
    assert [s.name for s in found] == ["floor", "eos", "inplane_afm"]
    np.testing.assert_array_equal(np.sign(found[2].magmoms), im.inplane_signs(cr))
    fe = cr.copy()
    fe.set_chemical_symbols(["Fe"] * len(fe))
    assert [s.name for s in im.starts(fe, policy)] == ["floor", "eos"]
    assert im.n_runs(["Cr", "Pd"], policy) == 3 and im.n_runs(["V", "Pd"], policy) == 2
