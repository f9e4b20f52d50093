"""magmom.layout: model ids, the vocabulary against the schema, one results tree per config."""

from __future__ import annotations

import inspect
import json
import re
import subprocess
import sys
from dataclasses import astuple
from pathlib import Path, PurePosixPath

import pytest
from training_helpers import REPO

from magmom.config import load_schema
from magmom.dft.initial_moments import ELEMENT_GROUPS, POLICIES
from magmom.layout import (
    ARCHITECTURES,
    COMPOSITION_TYPES,
    DATASET_LATTICES,
    ELEMENTS,
    LABELLERS,
    LATTICES,
    NEIGHBOR_RULES,
    TARGETS,
    Layout,
    ModelId,
    ModelSpec,
    baseline_model_ids,
    format_model_id,
    gnn_model_id_pattern,
    gnn_model_ids,
    optional_seed,
    parse_model_id,
    seed_dependent_model_ids,
    with_seed,
)
from magmom.recipe import slab_index
from magmom.recipe.slab_settings import slab_family
from magmom.training.cli import load_config

SNAKEMAKE = str(Path(sys.executable).with_name("snakemake"))
SCHEMA = load_schema(REPO / "schemas" / "config.schema.yaml")
CONFIGS = {
    "study": [],
    "demo": [REPO / "presets" / "demo.yaml"],
    "tiny": [REPO / "presets" / "tiny.yaml"],
}


def config_of(name: str) -> dict:
    return load_config(REPO / "config.yaml", CONFIGS[name])


@pytest.mark.parametrize(
    ("model_id", "parsed"),
    [
        ("cgconv-r4-res", ("cgconv", 4.0, True)),
        ("dimenet-r3.5", ("dimenet", 3.5, False)),
        ("xgboost-r8", ("xgboost", 8.0, False)),
        ("element-mean", ("element-mean", None, False)),
        ("chgnet-finetuned", ("chgnet-finetuned", None, False)),
        ("chgnet-zeroshot", ("chgnet-zeroshot", None, False)),
        # seed replicates: the seed last, after the cutoff and -res
        ("cgconv-r6-res-s43", ("cgconv", 6.0, True, 43)),
        ("dimenet-r3.5-s0", ("dimenet", 3.5, False, 0)),
        ("chgnet-finetuned-s44", ("chgnet-finetuned", None, False, 44)),
    ],
)
def test_model_ids_parse_and_format_back(model_id, parsed):
    assert parse_model_id(model_id) == ModelId(*parsed)
    assert format_model_id(*parsed) == str(parse_model_id(model_id)) == model_id


def test_cutoff_token_drops_a_trailing_zero():
    assert format_model_id("cgconv", 6) == format_model_id("cgconv", 6.0) == "cgconv-r6"
    assert format_model_id("cgconv", "3.50", residual=True) == "cgconv-r3.5-res"


def test_model_spec_uses_the_same_ids():
    assert ModelSpec.from_model_id("gmmconv-r8-res") == ModelSpec("gmmconv", 8.0, True)
    # one name for the architecture, one home for both types
    assert parse_model_id("gmmconv-r8-res").architecture == "gmmconv"
    assert tuple(parse_model_id("gmmconv-r8-res"))[:3] == astuple(ModelSpec("gmmconv", 8.0, True))
    assert ModelSpec.__module__ == ModelId.__module__ == "magmom.layout"
    assert ModelSpec("dimenet", 3.5).model_id == "dimenet-r3.5"
    for baseline in ("element-mean", "chgnet-zeroshot"):
        with pytest.raises(ValueError, match="<architecture>-r<cutoff>"):
            ModelSpec.from_model_id(baseline)


def test_gnn_pattern_accepts_gnns_at_configured_cutoffs_only():
    pattern = re.compile(gnn_model_id_pattern([3, 4.0]))
    for ok in ("cgconv-r3", "dimenet-r4-res", "splineconv-r4", "cgconv-r4-res-s43", "cgconv-r3-s7"):
        assert pattern.fullmatch(ok), ok
    for bad in (
        "cgconv-r5", "linear-r4", "element-mean", "fooconv-r3", "cgconv-r4-res-res",
        "cgconv-r4-s43-res", "cgconv-r4-s", "cgconv-s43", "linear-r4-s43", "cgconv-r5-s43",
    ):  # fmt: skip
        assert not pattern.fullmatch(bad), bad


def test_a_seed_replicate_id_is_its_model_with_a_seed():
    """The seed suffix cannot be read as a cutoff or an architecture: a replicate parses to its
    model's fields plus the seed, the model's id back without it, the same ModelSpec."""
    assert with_seed("cgconv-r6-res", 43) == "cgconv-r6-res-s43"
    assert with_seed("cgconv-r6-res-s43", None) == "cgconv-r6-res"
    assert with_seed("chgnet-finetuned", 43) == "chgnet-finetuned-s43"
    assert parse_model_id("cgconv-r6-res-s43")._replace(seed=None) == parse_model_id(
        "cgconv-r6-res"
    )
    assert parse_model_id("cgconv-r6-res").seed is None
    assert ModelSpec.from_model_id("cgconv-r6-res-s43") == ModelSpec("cgconv", 6.0, True)
    # "-s" without digits or digits without "-s" is no seed
    assert parse_model_id("cgconv-r4-s").seed is None
    assert parse_model_id("schnetconv-r4").architecture == "schnetconv"
    for model_id in ("cgconv-r4-s43", "chgnet-finetuned-s1"):
        assert re.fullmatch(optional_seed(re.escape(with_seed(model_id, None))), model_id)


def test_seed_dependent_models_are_the_gnns_and_the_finetuned_chgnet():
    config = config_of("tiny")
    ids = seed_dependent_model_ids(config["models"], config["baselines"])
    assert ids == gnn_model_ids(config["models"]) + ["chgnet-finetuned"]
    config["baselines"]["chgnet_finetune"]["enabled"] = False
    assert seed_dependent_model_ids(config["models"], config["baselines"]) == gnn_model_ids(
        config["models"]
    )


def test_residual_target_makes_every_gnn_a_residual_variant():
    models = {"architectures": ["cgconv", "dimenet"], "cutoffs": [3, 6], "residual": []}
    assert gnn_model_ids(models) == ["cgconv-r3", "cgconv-r6", "dimenet-r3", "dimenet-r6"]
    models.update(residual_target=True, residual=[{"architecture": "cgconv", "cutoff": 3}])
    assert gnn_model_ids(models) == ["cgconv-r3-res", "cgconv-r6-res", "dimenet-r3-res",
                                     "dimenet-r6-res"]  # fmt: skip
    assert gnn_model_ids(config_of("demo")["models"])[0].endswith("-res")


def test_every_configured_id_round_trips():
    for name in CONFIGS:
        config = config_of(name)
        ids = gnn_model_ids(config["models"]) + baseline_model_ids(config["baselines"])
        assert len(ids) == len(set(ids)), name
        assert all(str(parse_model_id(i)) == i for i in ids)
        pattern = re.compile(gnn_model_id_pattern(config["graphs"]["cutoffs"]))
        assert [i for i in ids if pattern.fullmatch(i)] == gnn_model_ids(config["models"])


def test_schema_enums_are_the_module_lists():
    defs, props = SCHEMA["$defs"], SCHEMA["properties"]
    assert tuple(defs["element"]["enum"]) == ELEMENTS
    assert tuple(defs["architecture"]["enum"]) == ARCHITECTURES
    assert tuple(props["labeller"]["enum"]) == LABELLERS
    assert set(props["recipe"]["properties"]["facets"]["properties"]) == set(LATTICES)
    rule = props["graphs"]["properties"]["neighbor_rule"]
    assert tuple(rule["enum"]) == NEIGHBOR_RULES and rule["default"] == NEIGHBOR_RULES[0]
    assert tuple(props["dataset"]["properties"]["target"]["enum"]) == TARGETS
    policy = props["dft"]["properties"]["initial_moments"]["anyOf"]
    assert tuple(policy[0]["enum"]) == POLICIES
    pattern = re.compile(policy[1]["pattern"])  # the per-group form names the same lists
    for name in POLICIES:
        assert pattern.fullmatch(f"{POLICIES[0]},{next(iter(ELEMENT_GROUPS))}={name}")
    for group in ELEMENT_GROUPS:
        assert pattern.fullmatch(f"{POLICIES[0]},{group}={POLICIES[-1]}")
    assert not pattern.fullmatch(f"{POLICIES[0]},nogroup={POLICIES[0]}")


def test_composition_types_have_one_definition():
    """The recipe's types, the dataset's comp_type check and the importer's use one list."""
    import magmom.data.dataset as dataset
    import magmom.recipe.compositions as compositions

    assert compositions.COMPOSITION_TYPES is COMPOSITION_TYPES
    assert not hasattr(dataset, "COMP_TYPES")  # no second list under another name
    assert dataset.DATASET_LATTICES is DATASET_LATTICES and not hasattr(dataset, "LATTICES")


def test_architectures_are_the_model_registry():
    from magmom.models import build_model
    from magmom.models.operators import OPERATORS

    assert ARCHITECTURES == (*OPERATORS, "dimenet")
    with pytest.raises(ValueError, match="allowed"):
        build_model("fooconv", 4.0)


def every_path(layout: Layout) -> list[str]:
    """The result of every path method of ``layout`` (placeholder arguments)."""
    out = []
    for name, method in inspect.getmembers(layout, inspect.ismethod):
        if name.startswith("_") or name == "of":
            continue
        n_args = len(inspect.signature(method).parameters)
        value = method(*(["4"] * n_args))
        out += list(value.values()) if isinstance(value, dict) else [value]
    return out


def test_every_path_is_under_results_dir():
    layout = Layout("results/x/", "x")
    paths = every_path(layout)
    assert len(paths) > 25
    assert all(PurePosixPath(p).is_relative_to("results/x") for p in paths), paths
    assert len(set(paths)) == len(paths)


def test_configs_have_disjoint_results_trees():
    roots = {name: PurePosixPath(Layout.of(config_of(name)).root) for name in CONFIGS}
    for a, root_a in roots.items():
        for b, root_b in roots.items():
            if a != b:
                assert not root_a.is_relative_to(root_b), (a, b, roots)


def dry_run(workdir: Path, name: str, *targets: str) -> dict[str, int]:
    run = subprocess.run(
        [SNAKEMAKE, "-s", str(REPO / "Snakefile"), "-d", str(workdir), "-n", *targets,
         "--configfile", str(REPO / "config.yaml"), *map(str, CONFIGS[name])],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    if "Nothing to be done" in run.stdout + run.stderr:
        return {}
    table = run.stdout.split("Job stats:")[1].split("\n\n")[0]
    counts = dict(re.findall(r"^(\w+)\s+(\d+)$", table, flags=re.M))
    counts.pop("total", None)
    return {rule: int(n) for rule, n in counts.items()}


def test_a_tiny_run_does_not_change_the_study_or_demo_plan(tmp_path):
    """Every output a finished tiny run leaves behind, then the study's and the demo's plans."""
    tiny = config_of("tiny")
    paths = Layout.of(tiny)
    ids = gnn_model_ids(tiny["models"]) + baseline_model_ids(tiny["baselines"])
    done = [paths.eos(el, lat) for el in ELEMENTS for lat in LATTICES]  # in the DAG's order
    done += [paths.lattice_table(), paths.recipe_manifest(), paths.initial_slabs()]
    slabs = slab_index(tiny, cache_dir=tmp_path / ".snakemake" / "magmom")
    done += sorted({paths.slab_settings(*slab_family(s)) for s in slabs})
    done += [paths.dft_record(s) for s in slabs]
    done += [paths.dataset_db(), paths.split_file(), paths.provenance()]
    done += [paths.graph_cache(c, s) for c in (3, 4, 6) for s in ("train", "val", "test")]
    done += [paths.checkpoint(m) for m in ids] + [paths.predictions(m) for m in ids]
    done += [paths.metrics(m) for m in ids]
    # the seed replicate of the tiny preset (report.seed_replicates: top 1, seeds [43])
    choice = {"models": [ids[0]], "replicates": [f"{ids[0]}-s43"], "original_seed": 42,
              "seeds": [43], "ranked_by": "test MAE", "candidates": ids}  # fmt: skip
    done += [paths.seed_replicates()]
    done += [f(f"{ids[0]}-s43") for f in (paths.checkpoint, paths.predictions, paths.metrics)]
    done += [paths.seed_spread()] + list(paths.report_outputs().values())
    for path in done:
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_text(
            json.dumps(choice) if path == paths.seed_replicates() else "from a tiny run\n"
        )
    assert dry_run(tmp_path, "tiny") == {}  # the tiny run is complete as far as its plan goes

    study = Layout.of(config_of("study"))
    n_eos = len(ELEMENTS) * len(LATTICES)
    assert dry_run(tmp_path, "study", study.lattice_table()) == {"eos": n_eos, "lattice_table": 1}
    demo = config_of("demo")
    counts = dry_run(tmp_path, "demo")
    assert counts["eos"] == n_eos and counts["report"] == 1
    assert counts["train"] == counts["predict"] == len(gnn_model_ids(demo["models"]))
    assert counts["evaluate"] == counts["train"] + len(baseline_model_ids(demo["baselines"]))
