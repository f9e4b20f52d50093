"""The initial-moment policy (``dft.initial_moments``): starts per policy, and real GPAW runs
showing that the start decides the label of a Cr slab and that both starts are recorded."""

from __future__ import annotations

import numpy as np
import pytest
from ase.build import bcc110
from dft_helpers import cheap_config

from magmom.dft import initial_moments as im
from magmom.dft.label import fix_bottom_layers, label_slab
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


def test_policy_errors_name_the_key():
    with pytest.raises(ValueError, match=r"'dft.initial_moments'.*eos, floor, floor-afm"):
        im.starts(slab(["Cr"], 0.0), "high")
    untagged = slab(["Cr", "Cr"], 0.0)
    untagged.set_tags(0)
    with pytest.raises(ValueError, match="layer tags"):
        im.starts(untagged, "floor-afm")


def test_lowest_energy_skips_failed_starts():
    assert im.lowest_energy([-1.0, -1.2]) == 1
    assert im.lowest_energy([None, -1.0]) == 1
    assert im.lowest_energy([None, None]) is None


def gpaw_config(policy: str) -> dict:
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
    return cfg


@pytest.fixture(scope="module")
def cr_records(tmp_path_factory, single_thread):
    """A two-layer Cr(110) slab whose table moment is the bulk EOS's 0.001 μB, labelled with
    the ``eos`` and the ``floor-afm`` policies (real GPAW, cheap settings)."""
    root = tmp_path_factory.mktemp("initial-moments")
    atoms = slab(["Cr", "Cr"], 0.001)
    out = {}
    for policy in ("eos", "floor-afm"):
        meta = {"slab_id": f"cr-{policy}", "lattice": "bcc"}
        out[policy] = label_slab(atoms, meta, meta["slab_id"], gpaw_config(policy),
                                 root / policy)  # fmt: skip
    return atoms, out


@pytest.mark.slow  # 3 x (LCAO + plane-wave SCF) of a 2-atom cell; magnetic starts converge slowly
def test_gpaw_start_decides_the_cr_label_and_both_starts_are_recorded(cr_records):
    atoms, rec = cr_records
    for policy, r in rec.items():
        check_record(r, policy)
        assert r["status"] == "ok", r.get("reason")
        assert r["initial_moments"]["policy"] == policy
    eos, two = rec["eos"], rec["floor-afm"]
    # the study's start keeps no moment; the floor start finds the magnetic surface state
    assert eos["initial_moments"]["kept"] == "eos"
    np.testing.assert_allclose(eos["initial_magmoms"], [0.001, 0.001])
    assert max(eos["abs_magmoms"]) < 0.05
    starts = two["initial_moments"]["starts"]
    assert sorted(starts) == ["afm", "floor"]
    assert by_layer(atoms, starts["floor"]["initial_magmoms"]) == [3.0, 3.0]
    assert by_layer(atoms, starts["afm"]["initial_magmoms"]) == [-3.0, 3.0]
    for part in starts.values():
        assert part["status"] == "ok" and len(part["magmoms"]) == 2
    # at these settings: 0.23 μB per atom and 3.6 meV below the non-magnetic state
    assert min(np.abs(starts["floor"]["magmoms"])) > 0.1
    assert starts["floor"]["energy"] < eos["energy"] - 0.001
    # the lower-energy start is kept, and the record's labels are its labels
    kept = min(starts, key=lambda s: starts[s]["energy"])
    assert two["initial_moments"]["kept"] == kept
    assert two["energy"] == starts[kept]["energy"]
    assert two["magmoms"] == starts[kept]["magmoms"]
    assert two["initial_magmoms"] == starts[kept]["initial_magmoms"]
    assert two["wall_time"]["total"] > sum(
        v for k, v in two["wall_time"].items() if k != "total"
    )  # both starts' cost
