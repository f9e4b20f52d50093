"""Bad configurations stop the run with a message naming the key and the allowed values.

Each case is checked twice: through ``magmom.config.check`` and through ``snakemake -n`` on a
temporary ``--configfile`` layered over ``config.yaml`` (the run must stop at parse time, before
any job). The good configurations (``config.yaml`` and every preset) must dry-run cleanly.
"""

from __future__ import annotations

import copy
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from snakemake.utils import update_config

from magmom.config import ConfigError, check

ROOT = Path(__file__).resolve().parents[1]
SCHEMA = ROOT / "schemas" / "config.schema.yaml"
SNAKEMAKE = [sys.executable, "-m", "snakemake"]

ALL_ELEMENTS = "Ag, Al, Au, Co, Cr, Cu, Fe, Ir, Mn, Mo, Ni, Os, Pd, Pt, Re, Rh, Ru, Ti, V, W, Zn"
ARCHITECTURES = "cgconv, schnetconv, graphconv, sageconv, gatv2conv, gcnconv, transformerconv"

# (override layered over config.yaml, substrings the message must contain)
BAD_CONFIGS = {
    "unknown-element": (
        {"recipe": {"elements": ["Ag", "Xx"]}},
        ["recipe.elements[1]", "'Xx' is not allowed", ALL_ELEMENTS],
    ),
    "negative-graph-cutoff": (
        {"graphs": {"cutoffs": [-3, 4]}},
        ["graphs.cutoffs[0]", "-3", "exclusiveMinimum=0"],
    ),
    "negative-model-cutoff": (
        {"models": {"cutoffs": [-4]}},
        ["models.cutoffs[0]", "exclusiveMinimum=0"],
    ),
    "split-not-summing-to-one": (
        {"split": {"train": 0.7, "val": 0.1, "test": 0.1, "seed": 42}},
        ["config key 'split'", "must sum to 1", "train=0.7", "val=0.1", "test=0.1"],
    ),
    "unknown-architecture": (
        {"models": {"architectures": ["cgconv", "fooconv"]}},
        ["models.architectures[1]", "'fooconv' is not allowed", ARCHITECTURES, "dimenet"],
    ),
    "unknown-residual-operator": (
        {"models": {"residual": [{"architecture": "gcnconvv", "cutoff": 4}]}},
        ["models.residual[0].architecture", "'gcnconvv' is not allowed", ARCHITECTURES],
    ),
    "misspelt-key": (
        {"recipe": {"vaccum": 10.0}},
        ["config key 'recipe'", "unknown key(s) 'vaccum'", "allowed keys:", "vacuum"],
    ),
    "misspelt-top-level-key": (
        {"trainig": {"lr": 0.01}},
        ["unknown key(s) 'trainig'", "allowed keys:", "training"],
    ),
    "unknown-initial-moment-policy": (
        {"dft": {"initial_moments": "high"}},
        [
            "dft.initial_moments",
            "'high' is not allowed",
            "floor+eos, floor+eos+afm, eos, floor, floor-afm, floor+eos+inplane_afm, "
            "floor+inplane_afm",
            "',group=policy' overrides, groups fe-co-ni, cr, v, mn, mixed, none",
        ],
    ),
    "unknown-group-in-initial-moment-policy": (
        {"dft": {"initial_moments": "floor+eos,iron=eos"}},
        ["dft.initial_moments", "'floor+eos,iron=eos' is not allowed", "groups fe-co-ni, cr"],
    ),
    "signed-target-with-chgnet-baselines": (
        {"dataset": {"target": "signed"}},
        [
            "config key 'baselines.chgnet_zeroshot'",
            "config key 'baselines.chgnet_finetune.enabled'",
            "CHGNet predicts |m| only",
            "dataset.target: abs",
        ],
    ),
    "float-without-a-dot": (  # YAML 1.1 reads 5e-4 as text
        {"training": {"lr": "5e-4"}},
        ["training.lr", "'5e-4' is not of type 'number'", "write it as 0.0005", "5.0e-04"],
    ),
    "cutoff-without-graph-cache": (
        {"models": {"cutoffs": [3, 5]}},
        ["models.cutoffs", "cutoff 5 has no graph cache", "allowed values (graphs.cutoffs): 3, 4"],
    ),
}


def base_config() -> dict:
    return yaml.safe_load((ROOT / "config.yaml").read_text())


@pytest.mark.parametrize("case", sorted(BAD_CONFIGS))
def test_check_names_key_and_allowed_values(case):
    override, needles = BAD_CONFIGS[case]
    config = base_config()
    update_config(config, copy.deepcopy(override))
    with pytest.raises(ConfigError) as err:
        check(config, SCHEMA)
    for needle in needles:
        assert needle in str(err.value), f"{needle!r} missing from:\n{err.value}"


def test_signed_target_without_chgnet_baselines_is_accepted():
    config = base_config()
    update_config(
        config,
        {
            "dataset": {"target": "signed"},
            "baselines": {"chgnet_zeroshot": False, "chgnet_finetune": {"enabled": False}},
        },
    )
    check(config, SCHEMA)


def test_check_accepts_a_per_group_initial_moment_policy():
    config = base_config()
    update_config(config, {"dft": {"initial_moments": "floor+eos,fe-co-ni=eos,mn=floor"}})
    check(config, SCHEMA)


def test_check_accepts_config_and_presets():
    check(base_config(), SCHEMA)
    for preset in sorted((ROOT / "presets").glob("*.yaml")):
        config = base_config()
        update_config(config, yaml.safe_load(preset.read_text()))
        check(config, SCHEMA)


def dry_run(workdir: Path, *configfiles: Path, timeout: int = 900) -> subprocess.CompletedProcess:
    """``snakemake -n`` of the repo's Snakefile run in ``workdir`` (nothing written to the repo)."""
    cmd = [
        *SNAKEMAKE, "-n",
        "--snakefile", str(ROOT / "Snakefile"), "--directory", str(workdir),
        "--configfile", str(ROOT / "config.yaml"), *map(str, configfiles),
    ]  # fmt: skip
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=workdir)


@pytest.mark.parametrize("case", sorted(BAD_CONFIGS))
def test_snakemake_stops_before_any_job(tmp_path, case):
    override, needles = BAD_CONFIGS[case]
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(override))
    proc = dry_run(tmp_path, bad, timeout=300)
    assert proc.returncode != 0
    output = proc.stdout + proc.stderr  # Snakemake 9 prints parse errors on stdout
    assert "invalid configuration" in output
    for needle in needles:
        assert needle in output, f"{needle!r} missing from the output:\n{output}"
    assert not (tmp_path / "results").exists()


@pytest.mark.parametrize("preset", ["tiny.yaml", "demo.yaml"])
def test_snakemake_dry_run_on_presets(tmp_path, preset):
    proc = dry_run(tmp_path, ROOT / "presets" / preset)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-3000:]
    assert "slab_recipe" in proc.stdout + proc.stderr
    # report.seed_replicates: the checkpoint that picks the replicated models is planned on
    # tiny (one seed) and not on the surrogate demo (seeds: [])
    planned = "checkpoint choose_seed_replicates:" in proc.stdout
    assert planned == (preset == "tiny.yaml")


def test_demo_dft_preset_plans_training_on_the_shipped_labels(tmp_path):
    """presets/demo-dft.yaml imports data/mini/mini.extxyz (relative to the run directory, here a
    link to the repository's data/): no recipe, EOS or DFT job, every architecture and baseline
    trained, the shipped records an input of the provenance (their settings mark the labels)."""
    (tmp_path / "data").symlink_to(ROOT / "data")
    proc = dry_run(tmp_path, ROOT / "presets" / "demo-dft.yaml")
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-3000:]
    stats = dict(
        line.split()[:2] for line in out.split("Job stats:")[1].splitlines()[3:] if line.strip()
    )
    assert {"slab_recipe", "eos", "dft_slab", "assemble_dataset"}.isdisjoint(stats), stats
    assert stats["import_dataset"] == "1" and stats["train"] == "32"  # 16 architectures x 2
    assert stats["baseline_tabular"] == "4" and stats["baseline_chgnet_finetune"] == "1"
    assert stats["baseline_chgnet_zeroshot"] == "1" and stats["baseline_element_mean"] == "1"
    assert stats["evaluate"] == "39"  # 32 GNNs + 7 baselines
    # seed replicates of the 5 best seed-dependent models: chosen by a checkpoint once the 33
    # (GNNs, fine-tuned CHGNet) are evaluated, so not yet in the plan
    assert stats["choose_seed_replicates"] == stats["seed_spread"] == "1"
    assert "input: data/mini/mini.extxyz" in out
    records = sorted((ROOT / "data" / "mini" / "records").glob("*.json"))
    provenance = out.split("rule label_provenance:")[1].split("output:")[0]
    assert records and all(f"data/mini/records/{p.name}" in provenance for p in records)


def test_the_dft_warm_start_layers_the_labels_settings_under_demo_dft():
    """`make demo-dft-warm-start` reads presets/mini.yaml, then presets/demo-dft.yaml: the DFT,
    EOS, labeller and recipe sections are the mini labels' (so the warm start runs at their own
    settings, and its EOS-table start is the one they started from), everything else is
    demo-dft's, so the models it starts from are those `make demo-dft` trained."""
    from magmom.training.cli import load_config

    config = ROOT / "config.yaml"
    mini, demo_dft = ROOT / "presets" / "mini.yaml", ROOT / "presets" / "demo-dft.yaml"
    layered = load_config(config, [mini, demo_dft])
    alone, labels = load_config(config, [demo_dft]), load_config(config, [mini])
    from_labels = {"dft", "eos", "labeller", "recipe"}
    changed = {k for k in layered if layered[k] != alone.get(k)}
    assert changed <= from_labels and {"dft", "eos"} <= changed, changed
    assert all(layered[k] == labels[k] for k in from_labels)
    make = subprocess.run(
        ["make", "-n", "demo-dft-warm-start"], capture_output=True, text=True, cwd=ROOT
    )
    assert "--configfile presets/mini.yaml presets/demo-dft.yaml" in make.stdout, make.stdout


@pytest.mark.slow
def test_snakemake_dry_run_on_full_config(tmp_path):
    proc = dry_run(tmp_path, timeout=1800)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-3000:]
    assert "slab_recipe" in proc.stdout + proc.stderr
