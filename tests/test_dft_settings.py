"""The DFT stage's settings object: built once from the ``dft`` section, frozen, read by name, and
hashed exactly as the ``dft`` dict was.

The hashes of tests/data/dft_settings_sha256.json were computed through the dict path (commit
759281d, before :class:`magmom.dft.settings.DftSettings`) by the procedure of :func:`fingerprints`
for the study, demo, tiny and mini configs: the labeller's ``parameters_sha256`` (a spin-polarised
Fe and a non-magnetic Cu slab), the pre-relaxation and stage checkpoint keys, the surrogate's
parameters, the equal-settings key and common level, and the warm-start record's GPAW settings.
A shipped DFT record and DFT jobs running now depend on them; no GPAW runs here.
"""

from __future__ import annotations

import json
from dataclasses import FrozenInstanceError, replace
from pathlib import Path
from types import SimpleNamespace

import pytest
from ase.build import fcc111

from magmom.dft import equal_settings, label, surrogate
from magmom.dft import staged_relaxation as sr
from magmom.dft.gpaw_params import parameters_sha256
from magmom.dft.prerelax import PrerelaxResult
from magmom.dft.record import atoms_from_structure, structure_dict
from magmom.dft.scf_ladder import ladder_from_config
from magmom.dft.settings import DftSettings
from magmom.training.cli import load_config
from magmom.warm_start import scf as ws

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = {
    "study": [],
    "demo": ["presets/demo.yaml"],
    "tiny": ["presets/tiny.yaml"],
    "mini": ["presets/mini.yaml"],
}
STORED = json.loads((ROOT / "tests" / "data" / "dft_settings_sha256.json").read_text())
SHIPPED = ROOT / "data" / "mini" / "records"
FE_SLAB = ROOT / "tests" / "data" / "dft_settings_fe_slab.json"


def config(name: str) -> dict:
    return load_config(ROOT / "config.yaml", [ROOT / p for p in CONFIGS[name]])


def slabs() -> dict:
    fe = atoms_from_structure(json.loads(FE_SLAB.read_text())["structure"])
    fe.set_initial_magnetic_moments([2.2] * len(fe))
    cu = fcc111("Cu", (2, 2, 3), vacuum=6.0)
    cu.pbc = (True, True, False)
    return {"fe": (fe, True), "cu": (cu, False)}


def fingerprints(settings: DftSettings, tmp: Path, monkeypatch) -> dict:
    """Every settings hash of the DFT stage for two slabs (module docstring); GPAW and the ML
    pre-relaxation replaced by stand-ins that record what they were given."""
    keys: dict = {}

    def stage(name, atoms, base, smearing, ladder, relax, workdir, spinpol, work_function=False):
        keys[name] = sr._stage_key(name, atoms, base, smearing, ladder, relax, spinpol)
        keys[name + ".wf"] = bool(work_function)
        return SimpleNamespace(atoms=atoms.copy())

    def scf_run(atoms, moments, base, smearing, ladder, prefix):
        ladder = [lvl.describe() for lvl in ladder]
        return {"status": "failed", "layout": {}, "base": parameters_sha256(base),
                "smearing": smearing, "ladder": ladder}  # fmt: skip

    monkeypatch.setattr(
        sr, "prerelax", lambda a, cfg: PrerelaxResult(a.copy(), "chgnet", 0, True, 0.0, 0.0)
    )
    monkeypatch.setattr(sr, "relax_stage", stage)
    monkeypatch.setattr(ws, "_run_one", scf_run)
    out = {}
    for name, (atoms, spinpol) in slabs().items():
        keys.clear()
        record: dict = {}
        params = label._begin_gpaw_record(
            record, atoms, settings, settings.initial_moments, spinpol
        )
        out[f"{name}.parameters_sha256"] = record["parameters_sha256"]
        work = tmp / name
        res = sr.run_staged_relaxation(
            atoms, settings, work, spinpol, pw_magmoms=[3.0] * len(atoms)
        )
        out[f"{name}.stage_keys"] = parameters_sha256(keys)
        out[f"{name}.prerelax_key"] = json.loads((work / "prerelax.json").read_text())["key"]
        out[f"{name}.staged_parameters"] = parameters_sha256(res.parameters)
        base, smearing = params["planewave"]["gpaw"], settings.planewave.smearing
        ladder = ladder_from_config(settings.scf_ladder)
        common = equal_settings.common_level(ladder, base, smearing)
        out[f"{name}.common_level"] = parameters_sha256(common)
        out[f"{name}.equal_key"] = equal_settings._cache_key(
            atoms, [1.0] * len(atoms), base, smearing, ladder
        )
        for tag, experiment in {
            "plain": {},
            "override": {"planewave": {"ecut": 220.0}, "maxiter": 50},
        }.items():
            starts = {s: [1.0] * len(atoms) for s in ("eos", "model", "uniform", "converged")}
            entry = {"n_atoms": len(atoms), "formula": "x", "labeller": "gpaw",
                     "converged_source": "dft_label", "structure": structure_dict(atoms),
                     "starts": starts}  # fmt: skip
            rec = ws.run_slab("s", entry, settings, experiment, tmp / f"ws-{name}-{tag}")
            model = {
                k: v for k, v in rec["runs"]["model"].items() if k in ("base", "smearing", "ladder")
            }
            out[f"{name}.warm_start.{tag}"] = parameters_sha256(
                {"gpaw": rec["gpaw"], "scf_ladder": rec["scf_ladder"], "model_run": model}
            )
    params = surrogate.surrogate_parameters(settings)
    out["surrogate_parameters"] = parameters_sha256(
        {k: v for k, v in params.items() if k != "chgnet"}
    )
    return out


@pytest.mark.parametrize("name", list(CONFIGS))
def test_every_settings_hash_is_the_one_the_dft_dict_gave(name, tmp_path, monkeypatch):
    settings = DftSettings.from_config(config(name)["dft"])
    assert fingerprints(settings, tmp_path, monkeypatch) == STORED[name]


def test_every_shipped_record_was_labelled_with_the_mini_settings():
    """data/mini holds one dataset: every shipped GPAW record's settings are the preset's
    (a settings change relabels, it does not mix; scripts/label_in_chunks.py refuses stale ones)."""
    settings = DftSettings.from_config(config("mini")["dft"])
    records = sorted(SHIPPED.glob("*.json"))
    assert records, f"{SHIPPED}: no shipped record"
    stale = [
        p.stem for p in records if not label.labelled_with(json.loads(p.read_text()), settings)
    ]
    assert not stale, f"labelled with other settings than presets/mini.yaml: {stale}"
    record = json.loads(records[0].read_text())
    params = label.gpaw_record_parameters(
        atoms_from_structure(record["structure"]), settings, "floor+eos", record["spinpol"]
    )
    assert params == record["parameters"]
    # and the check can fail: the study's settings are not the preset's
    assert not label.labelled_with(record, DftSettings.from_config(config("study")["dft"]))
    # a record that failed before its geometry was read cannot show its settings
    no_geometry = {k: v for k, v in record.items() if k != "structure"}
    assert not label.labelled_with(no_geometry, settings)


def test_a_policy_override_for_another_group_keeps_a_record_current():
    """The record hashes the start policy as it applies to its slab: adding starts for Cr slabs
    leaves a pure Fe record labelled with the preset's settings; changing Fe's policy does not."""
    fe = json.loads((SHIPPED / "fe100-bcc-pure-v0.json").read_text())
    settings = DftSettings.from_config(config("mini")["dft"])
    assert fe["parameters"]["initial_moments"] == "floor+eos"
    assert label.labelled_with(fe, replace(settings, initial_moments="floor+eos"))
    assert label.labelled_with(fe, replace(settings, initial_moments="floor+eos,cr=floor"))
    assert not label.labelled_with(fe, replace(settings, initial_moments="floor+eos,fe-co-ni=eos"))
    cr = atoms_from_structure(fe["structure"])
    cr.set_chemical_symbols(["Cr"] * len(cr))
    policy = "floor+eos,cr=floor"
    assert label.gpaw_record_parameters(cr, settings, policy, True)["initial_moments"] == "floor"


@pytest.mark.parametrize("name", list(CONFIGS))
def test_the_settings_give_the_section_back_key_for_key(name):
    dft = config(name)["dft"]
    settings = DftSettings.from_config(dft)
    section = {k: v for k, v in dft.items() if k != "resources"}
    assert json.dumps(settings.config()) == json.dumps(section)  # same keys, order and values
    assert DftSettings.from_config(settings.config()) == settings
    assert (
        settings.planewave.ecut == dft["planewave"]["ecut"]
        and settings.relax.fmax == dft["relax"]["fmax"]
    )
    ladder = ladder_from_config(settings.scf_ladder)
    assert [lvl.maxiter for lvl in ladder] == [lvl["maxiter"] for lvl in dft["scf_ladder"]]


def test_settings_are_frozen_and_name_a_missing_or_unknown_key():
    dft = config("tiny")["dft"]
    settings = DftSettings.from_config(dft)
    with pytest.raises(FrozenInstanceError):
        settings.relax.fmax = 1.0
    with pytest.raises(TypeError):
        settings.scf_ladder[0]["maxiter"] = 1  # read-only levels
    broken = json.loads(json.dumps(dft))
    del broken["planewave"]["kpts_z"]
    broken["relax"]["fmaxx"] = 0.1
    with pytest.raises(ValueError, match=r"config key 'dft.planewave': missing kpts_z"):
        DftSettings.from_config(broken)
    broken["planewave"]["kpts_z"] = 1
    with pytest.raises(ValueError, match=r"config key 'dft.relax': unknown fmaxx"):
        DftSettings.from_config(broken)
    with pytest.raises(ValueError, match=r"config key 'dft': missing scf_ladder"):
        DftSettings.from_config({k: v for k, v in dft.items() if k != "scf_ladder"})
