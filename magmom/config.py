"""Configuration checks with messages a user can act on.

Snakemake's ``validate()`` reports the first JSON-schema violation in schema terms. :func:`check`
runs first and names the offending key as a dotted path together with what is allowed there, then
adds the cross-key rules a schema cannot state (split fractions summing to 1, model cutoffs that
have a graph cache).
"""

from __future__ import annotations

import math
import os
import shlex
from collections.abc import Callable, Mapping
from pathlib import Path

import yaml
from jsonschema import Draft202012Validator

from magmom.layout import parse_model_id

# The user's --configfile options, as the workflow was started with them (set by rules/common.smk,
# inherited by every job): suggested commands repeat them, so they work as printed.
CONFIG_ARGS_ENV = "MAGMOM_CONFIG_ARGS"


def config_args(configfiles) -> str:
    """``--configfile a.yaml b.yaml`` for ``configfiles`` (relative to the working directory
    where possible, shell-quoted), or '' when there are none."""
    paths = []
    for f in configfiles:
        path = Path(f)
        try:
            path = path.resolve().relative_to(Path.cwd())
        except ValueError:
            pass
        paths.append(shlex.quote(str(path)))
    return "--configfile " + " ".join(paths) if paths else ""


REPO = Path(__file__).resolve().parents[1]
"""The repository: ``config.yaml`` (the study) and the presets in ``presets/``."""

DEMO_PRESET = "presets/demo.yaml"
"""The preset of the README's ``make demo``: listed first among the presets, as what a user has
most likely run."""


def known_configs() -> dict[str, list[str]]:
    """``{results_dir: [--configfile arguments]}`` of this repository's configurations: the
    study (``config.yaml``, Snakemake's default config file: no argument), :data:`DEMO_PRESET`,
    then the other presets by name."""
    out = {}
    study = yaml.safe_load((REPO / "config.yaml").read_text())
    out[str(study["results_dir"])] = []
    presets = sorted((REPO / "presets").glob("*.yaml"))
    for preset in sorted(presets, key=lambda p: p.relative_to(REPO).as_posix() != DEMO_PRESET):
        results_dir = (yaml.safe_load(preset.read_text()) or {}).get("results_dir")
        if results_dir:
            out[str(results_dir)] = [str(preset.relative_to(REPO))]
    return out


def config_files_for(path: str | os.PathLike) -> list[str] | None:
    """The ``--configfile`` arguments of the configuration whose ``results_dir`` holds ``path``
    (relative to the working directory), or None when no configuration of this repository
    writes there."""
    parts = Path(os.path.relpath(Path(path).absolute(), Path.cwd())).parts
    for results_dir, files in known_configs().items():
        root = Path(results_dir).parts
        if parts[: len(root)] == root:
            return files
    return None


def snakemake_command(*args: str) -> str:
    """``snakemake <args> --configfile ...``: a command to suggest in a message, carrying the
    config files of the running workflow; outside the workflow, those of the configuration whose
    results tree holds a path among ``args`` (none for the study's ``config.yaml``)."""
    extra = os.environ.get(CONFIG_ARGS_ENV)
    if extra is None:
        found = (config_files_for(a) for a in args if not a.startswith("-"))
        files = next((f for f in found if f is not None), [])
        extra = config_args(files) if files else ""
    return " ".join(["snakemake", *args, *([extra] if extra else [])])


class ConfigError(ValueError):
    """The configuration is invalid; the message names the key and the allowed values."""


def _typed(value):
    if isinstance(value, str):
        try:
            return yaml.safe_load(value)
        except yaml.YAMLError:
            return value
    if isinstance(value, list):
        return [_typed(v) for v in value]
    if isinstance(value, dict):
        return {k: _typed(v) for k, v in value.items()}
    return value


def type_overrides(config: dict, overrides: Mapping) -> None:
    """Give the nested values of ``--config`` overrides their YAML types, in ``config``.

    Snakemake reads ``--config 'training={max_epochs: 2}'`` with YAML's base loader, so every
    nested scalar arrives as a string (``'2'``); a config file would have given ``2``. Each nested
    value of ``overrides`` (Snakemake's ``--config`` dict) is re-read as YAML and written into
    ``config`` at the same key; top-level values, already typed by Snakemake, are left alone.
    """
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(config.get(key), dict):
            _type_into(config[key], value)


def _type_into(config: dict, overrides: Mapping) -> None:
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(config.get(key), dict):
            _type_into(config[key], value)
        elif key in config and config[key] == value:
            config[key] = _typed(value)


def _key_path(path) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "<top level>"


def _resolve(schema: Mapping, node: Mapping) -> Mapping:
    while "$ref" in node:
        ref = node["$ref"]
        target = schema
        for part in ref.lstrip("#/").split("/"):
            target = target[part]
        node = target
    return node


def _describe(error, schema: Mapping) -> str:
    key = _key_path(error.absolute_path)
    sub = _resolve(schema, error.schema)
    if error.validator == "additionalProperties":
        allowed = sorted(sub.get("properties", {}))
        extra = sorted(set(error.instance) - set(allowed))
        return (
            f"config key '{key}': unknown key(s) {', '.join(map(repr, extra))}; "
            f"allowed keys: {', '.join(allowed)}"
        )
    if error.validator == "enum":
        return (
            f"config key '{key}': {error.instance!r} is not allowed; "
            f"allowed values: {', '.join(map(str, error.validator_value))}"
        )
    if error.validator == "required":
        return f"config key '{key}': {error.message}"
    bounds = {
        k: sub[k]
        for k in ("type", "minimum", "exclusiveMinimum", "maximum", "exclusiveMaximum", "pattern")
        if k in sub
    }
    allowed = ", ".join(f"{k}={v}" for k, v in bounds.items())
    message = f"config key '{key}': {error.message}" + (f" (allowed: {allowed})" if allowed else "")
    return message + _number_hint(error)


def _number_hint(error) -> str:
    """Why a number was read as text: YAML 1.1 (PyYAML, Snakemake) takes ``5e-4`` for a string;
    a float needs a dot in its mantissa (``5.0e-4``) or no exponent (``0.0005``)."""
    wanted = error.validator_value if error.validator == "type" else None
    wanted = {wanted} if isinstance(wanted, str) else set(wanted or ())
    if not (wanted & {"number", "integer"}) or not isinstance(error.instance, str):
        return ""
    try:
        value = float(error.instance)
    except ValueError:
        return ""
    return (
        f"; YAML reads {error.instance!r} as text: write it as {value!r} "
        f"(a float needs a dot before the exponent, e.g. {value:.1e})"
    )


# models.* keys that shape one model (what :func:`magmom.models.build_model` reads); the other
# keys (architectures, cutoffs, residual) say which models exist.
GNN_MODEL_KEYS = ("hidden", "layers", "readout_hidden_layers")
DIMENET_MODEL_KEYS = ("readout_hidden_layers", "dimenet")


# training.* keys the CHGNet fine-tuning baseline shares with the GNNs (FinetuneSettings)
FINETUNE_TRAINING_KEYS = ("huber_delta", "weight_decay", "grad_clip", "seed")


def seeded_training(training: Mapping, model_id: str) -> dict:
    """The ``training`` settings one model id trains with: those given, ``seed`` replaced by the
    id's seed when it is a seed replicate (``cgconv-r4-s43``: seed 43; :func:`magmom.layout.\
parse_model_id`), so a replicate differs from its original in the seed alone."""
    seed = parse_model_id(model_id).seed
    return dict(training) if seed is None else {**training, "seed": seed}


def model_settings(architecture: str, models: Mapping) -> dict:
    """The ``models`` settings one architecture is built from: a change to any other key (say
    ``models.dimenet`` for a cgconv model) leaves that model's training job alone."""
    keys = DIMENET_MODEL_KEYS if architecture == "dimenet" else GNN_MODEL_KEYS
    return {k: models[k] for k in keys if k in models}


def schema_errors(config: Mapping, schema: Mapping) -> list[str]:
    """All schema violations of ``config``, one readable line each (empty when valid)."""
    validator = Draft202012Validator(schema)
    errors = sorted(validator.iter_errors(config), key=lambda e: list(map(str, e.absolute_path)))
    messages = []
    for err in errors:
        # report the most specific cause of a oneOf/anyOf/$ref failure
        leaf = min(err.context, key=lambda e: len(e.schema_path)) if err.context else err
        message = _describe(leaf, schema)
        if leaf is not err and err.validator == "anyOf" and "description" in err.schema:
            message += f"; {' '.join(err.schema['description'].split())}"  # the other forms
        messages.append(message)
    return messages


CHGNET_BASELINE_KEYS = ("baselines.chgnet_zeroshot", "baselines.chgnet_finetune.enabled")
"""Config keys that switch on a CHGNet baseline (CHGNet predicts |m| only)."""


def signed_target_message(key: str) -> str:
    """Why a CHGNet baseline (switched on by config ``key``) cannot run on signed targets."""
    return (
        f"config key '{key}': CHGNet predicts |m| only, but dataset.target is 'signed' "
        f"(its scores would compare |m| with signed moments); set {key}: false or "
        "dataset.target: abs"
    )


def chgnet_target_errors(config: Mapping) -> list[str]:
    """One message per CHGNet baseline switched on while ``dataset.target`` is ``signed``."""
    if config.get("dataset", {}).get("target") != "signed":
        return []
    baselines = config.get("baselines", {})
    enabled = {
        "baselines.chgnet_zeroshot": baselines.get("chgnet_zeroshot"),
        "baselines.chgnet_finetune.enabled": baselines.get("chgnet_finetune", {}).get("enabled"),
    }
    return [signed_target_message(key) for key in CHGNET_BASELINE_KEYS if enabled[key]]


def semantic_errors(config: Mapping) -> list[str]:
    """Cross-key rules that JSON schema cannot express."""
    messages = chgnet_target_errors(config)
    split = config.get("split", {})
    fractions = [split.get(k) for k in ("train", "val", "test")]
    if all(isinstance(f, int | float) for f in fractions) and not math.isclose(
        sum(fractions), 1.0, abs_tol=1e-9
    ):
        messages.append(
            f"config key 'split': train + val + test = {sum(fractions):g}, must sum to 1 "
            f"(got train={fractions[0]}, val={fractions[1]}, test={fractions[2]})"
        )
    graph_cutoffs = {float(c) for c in config.get("graphs", {}).get("cutoffs", [])}
    needs = [("models.cutoffs", c) for c in config.get("models", {}).get("cutoffs", [])]
    needs += [
        ("models.residual[].cutoff", r.get("cutoff"))
        for r in config.get("models", {}).get("residual", [])
    ]
    needs += [
        ("baselines.tabular_cutoffs", c)
        for c in config.get("baselines", {}).get("tabular_cutoffs", [])
    ]
    for key, cutoff in needs:
        if isinstance(cutoff, int | float) and float(cutoff) not in graph_cutoffs:
            messages.append(
                f"config key '{key}': cutoff {cutoff} has no graph cache; "
                "allowed values (graphs.cutoffs): "
                + ", ".join(f"{c:g}" for c in sorted(graph_cutoffs))
            )
    messages += seed_replicate_errors(config)
    return messages


def seed_replicate_errors(config: Mapping) -> list[str]:
    """``report.seed_replicates.seeds`` lists the extra seeds: ``training.seed`` (the original
    run's) among them would train the same model twice under two names."""
    seeds = config.get("report", {}).get("seed_replicates", {}).get("seeds", [])
    original = config.get("training", {}).get("seed")
    if original in seeds:
        return [
            f"config key 'report.seed_replicates.seeds': {original} is training.seed, the seed "
            f"every model is trained with already; list only the extra seeds (got {seeds})"
        ]
    return []


def load_schema(schema_path: str | Path) -> dict:
    # libyaml's loader when present: 6x faster, and the Snakefile (so every Slurm job) loads it
    with open(schema_path) as fh:
        return yaml.load(fh, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))


def check(config: Mapping, schema_path: str | Path, validate: Callable | None = None) -> None:
    """Raise :class:`ConfigError` listing every problem of ``config``; then run ``validate``.

    ``validate`` is Snakemake's ``snakemake.utils.validate`` when called from the Snakefile (it also
    fills schema defaults); tests may call this without it.
    """
    schema = load_schema(schema_path)
    problems = schema_errors(config, schema)
    if not problems:
        problems = semantic_errors(config)
    if problems:
        raise ConfigError(
            "invalid configuration (config.yaml and any --configfile/--config overrides):\n  "
            + "\n  ".join(problems)
        )
    if validate is not None:
        validate(config, str(schema_path))
