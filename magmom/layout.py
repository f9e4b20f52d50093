"""The workflow's names: vocabulary, model ids, cutoff tokens and every results path.

Everything that the Snakefile, the command line, the library and the tests must spell the same way
is defined here once. The module imports nothing heavy (the Snakefile imports it on every parse).

Vocabulary
    :data:`ELEMENTS` (the 21 metals), :data:`LATTICES`, :data:`LABELLERS`,
    :data:`DATASET_LABELLERS`, :data:`SURROGATE_LABELLERS`, :data:`ARCHITECTURES`,
    :data:`NUM_Z`. ``schemas/config.schema.yaml`` repeats ELEMENTS, ARCHITECTURES, LABELLERS in its
    enums (JSON schema cannot import); ``tests/test_layout.py`` ties them together.

Model ids
    A GNN is ``{architecture}-r{cutoff}`` plus ``-res`` for the residual variant (``cgconv-r4``,
    ``dimenet-r3.5``, ``cgconv-r6-res``); a tabular baseline is ``{kind}-r{cutoff}``
    (``linear-r4``, ``xgboost-r8``); the cutoff-free baselines are ``element-mean``,
    ``chgnet-zeroshot`` and ``chgnet-finetuned``. :func:`format_model_id` writes one,
    :func:`parse_model_id` reads one into a :class:`ModelId`; a GNN's is a :class:`ModelSpec`
    (what the trainer takes); the cutoff appears as :func:`cutoff_token` (``3.0 -> "3"``).
    A seed-dependent model (a GNN, ``chgnet-finetuned``: :func:`seed_dependent_model_ids`)
    trained again with another seed carries the seed last, ``-s{seed}`` (:data:`SEED_SUFFIX`:
    ``cgconv-r6-res-s43``, ``chgnet-finetuned-s43``): the same model and settings, only
    ``training.seed`` replaced (the report's seed replicates). An id without the suffix is
    trained with ``training.seed``.

Results tree
    :class:`Layout` gives every output path of one configuration. All of them live under the
    config's ``results_dir`` (rule logs under ``{results_dir}/logs``), so two configurations with
    different ``results_dir`` never read or overwrite each other's files (config.yaml:
    ``results/study``, presets/demo.yaml: ``results/demo``, presets/tiny.yaml: ``results/tiny``).
    A method given a Snakemake wildcard (``"{model_id}"``) returns the rule's pattern.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any, NamedTuple

# ---- vocabulary --------------------------------------------------------------------------------
ELEMENTS: tuple[str, ...] = (
    "Ag", "Al", "Au", "Co", "Cr", "Cu", "Fe", "Ir", "Mn", "Mo", "Ni",
    "Os", "Pd", "Pt", "Re", "Rh", "Ru", "Ti", "V", "W", "Zn",
)  # fmt: skip
"""The 21 metals of magmom21 (schema ``$defs.element``)."""

LATTICES: tuple[str, ...] = ("fcc", "hcp", "bcc")
"""The bulk lattices (EOS, lattice table, recipe), in the lattice vote's tie-break order."""

UNKNOWN_LATTICE = "unknown"
"""The dataset's lattice of an imported slab whose lattice the source does not give."""

DATASET_LATTICES: tuple[str, ...] = (*LATTICES, UNKNOWN_LATTICE)
"""Values of the dataset's ``lattice`` key."""

RANDOM_ALLOY_TYPES: tuple[str, ...] = (
    "pure", "binary", "ternary", "quaternary", "quinary", "senary",
)  # fmt: skip
"""Composition types of the random alloys (1 to 6 elements)."""
ORDERED_TYPES: tuple[str, ...] = ("dilute_1", "dilute_2", "binary_proto", "ternary_proto")
"""Composition types of the ordered structures."""
COMPOSITION_TYPES: tuple[str, ...] = RANDOM_ALLOY_TYPES + ORDERED_TYPES
"""Every composition type, in the recipe's canonical order: the manifest's and the split's
``type`` column and the dataset's ``comp_type`` key (the same value under the files' names)."""

TARGETS: tuple[str, ...] = ("abs", "signed")
"""What the models learn (config ``dataset.target``): :math:`|m|` (the study's) or the signed
moment."""

LABELLERS: tuple[str, ...] = ("gpaw", "chgnet")
"""Who labels the workflow's own slabs (config ``labeller``): GPAW DFT or the CHGNet surrogate."""

IMPORTED_LABELLER = "imported"
"""The dataset's labeller of an imported row that names no labeller of :data:`LABELLERS`."""

DATASET_LABELLERS: tuple[str, ...] = (*LABELLERS, IMPORTED_LABELLER)
"""Values of the dataset's ``labeller`` key."""

SURROGATE_LABELLERS = frozenset({"chgnet"})
"""Labellers that are machine-learned surrogates, not DFT."""

ARCHITECTURES: tuple[str, ...] = (
    "cgconv", "schnetconv", "graphconv", "sageconv", "gatv2conv", "gcnconv", "transformerconv",
    "gineconv", "nnconv", "genconv", "gmmconv", "resgatedgraphconv", "generalconv", "pdnconv",
    "splineconv", "dimenet",
)  # fmt: skip
"""The 16 GNN architectures: 15 MagmomGNN operators (:data:`magmom.models.operators.OPERATORS`,
same order) and ``dimenet`` (periodic DimeNet++)."""

NEIGHBOR_RULES: tuple[str, ...] = ("radius", "shell_complete", "study_global")
"""How a graph's edges are chosen within the cutoff (config ``graphs.neighbor_rule``; the rules'
definitions are in :mod:`magmom.graphs.neighbours`). The first is the default."""

NUM_Z = 119
"""Length of every per-atomic-number table (index = Z, 0 .. 118; row 0 is no element)."""

SPLITS: tuple[str, ...] = ("train", "val", "test")
"""The dataset splits, each with its own graph cache."""

# ---- model ids ---------------------------------------------------------------------------------
ELEMENT_MEAN = "element-mean"
CHGNET_ZEROSHOT = "chgnet-zeroshot"
CHGNET_FINETUNED = "chgnet-finetuned"
TABULAR_KINDS: tuple[str, ...] = ("linear", "xgboost")
"""The tabular baselines, one model per cutoff (``linear-r4``)."""

RESIDUAL_SUFFIX = "-res"
SEED_SUFFIX = "-s"
"""Ends a seed replicate's id, followed by the seed's digits (``cgconv-r4-s43``); no architecture,
baseline or cutoff token ends in ``-s`` and digits."""
SEED_DEPENDENT_BASELINES: tuple[str, ...] = (CHGNET_FINETUNED,)
"""The baselines whose result depends on ``training.seed`` (the deterministic ones, the per-element
mean, the linear fit, XGBoost without subsampling and CHGNet zero-shot, have no seed replicates)."""

BEST = "best.pt"
"""A trained model's checkpoint in its directory (the train rule's declared output)."""
LAST = "last.pt"
"""The resumable state beside it (undeclared: it survives a failed job)."""
HISTORY = "history.csv"
"""The per-epoch history beside it."""
_CUTOFF_PART = re.compile(r"^r(\d+(?:\.\d+)?)$")
_SEED_PART = re.compile(rf"^(.+){re.escape(SEED_SUFFIX)}(\d+)$")
SEED_PATTERN = rf"{re.escape(SEED_SUFFIX)}[0-9]+"
"""Regex of the seed suffix (for rules' wildcard constraints: :func:`optional_seed`)."""


def cutoff_token(cutoff: float | int | str) -> str:
    """The cutoff as it appears in model ids and file names: ``3 -> '3'``, ``3.5 -> '3.5'``."""
    return f"{float(cutoff):g}"


class ModelId(NamedTuple):
    """A parsed model id of any model: the architecture (a GNN's, or a baseline's kind:
    ``linear``, ``element-mean``, ...), the cutoff in Å (None for the cutoff-free baselines), the
    residual flag and the seed of a seed replicate (None: the model trained with
    ``training.seed``). A GNN's id without its seed is a :class:`ModelSpec`, what the trainer
    takes."""

    architecture: str
    cutoff: float | None
    residual: bool
    seed: int | None = None

    def __str__(self) -> str:
        return format_model_id(self.architecture, self.cutoff, self.residual, self.seed)


@dataclass(frozen=True)
class ModelSpec:
    """Which model a run trains: operator, graph cutoff (Å) and the residual-target flag."""

    architecture: str
    cutoff: float
    residual: bool = False

    @property
    def cutoff_token(self) -> str:
        return cutoff_token(self.cutoff)

    @property
    def model_id(self) -> str:
        """``{architecture}-r{cutoff}`` plus ``-res`` for the residual variant
        (:func:`magmom.layout.format_model_id`)."""
        return format_model_id(self.architecture, self.cutoff, self.residual)

    @classmethod
    def from_model_id(cls, model_id: str) -> ModelSpec:
        """Inverse of :attr:`model_id`: ``cgconv-r4-res`` -> ``ModelSpec("cgconv", 4.0, True)``;
        a seed replicate's id gives its model (``cgconv-r4-s43`` -> ``ModelSpec("cgconv", 4.0)``:
        the seed is a training setting)."""
        parsed = parse_model_id(model_id)
        if parsed.cutoff is None or "-" in parsed.architecture:
            raise ValueError(
                f"model id {model_id!r} is not of the form <architecture>-r<cutoff>[-res][-s<seed>]"
            )
        return cls(parsed.architecture, parsed.cutoff, parsed.residual)


def format_model_id(
    name: str, cutoff: float | None = None, residual: bool = False, seed: int | None = None
) -> str:
    """``('cgconv', 4.0, True) -> 'cgconv-r4-res'``; ``('element-mean',) -> 'element-mean'``;
    ``('cgconv', 6, True, 43) -> 'cgconv-r6-res-s43'``."""
    out = name if cutoff is None else f"{name}-r{cutoff_token(cutoff)}"
    out += RESIDUAL_SUFFIX if residual else ""
    return out if seed is None else f"{out}{SEED_SUFFIX}{int(seed)}"


def parse_model_id(model_id: str) -> ModelId:
    """Inverse of :func:`format_model_id`: ``'cgconv-r4-res' -> ModelId('cgconv', 4.0, True)``,
    ``'element-mean' -> ModelId('element-mean', None, False)``,
    ``'cgconv-r4-s43' -> ModelId('cgconv', 4.0, False, 43)``."""
    seeded = _SEED_PART.match(model_id)
    seed = int(seeded.group(2)) if seeded else None
    stem = seeded.group(1) if seeded else model_id
    residual = stem.endswith(RESIDUAL_SUFFIX)
    stem = stem[: -len(RESIDUAL_SUFFIX)] if residual else stem
    name, _, last = stem.rpartition("-")
    match = _CUTOFF_PART.match(last)
    if name and match:
        return ModelId(name, float(match.group(1)), residual, seed)
    return ModelId(stem, None, residual, seed)


def with_seed(model_id: str, seed: int | None) -> str:
    """The id of ``model_id`` trained with ``seed`` (None: with ``training.seed``):
    ``('cgconv-r4-res', 43) -> 'cgconv-r4-res-s43'``, ``('cgconv-r4-s43', None) -> 'cgconv-r4'``."""
    return str(parse_model_id(model_id)._replace(seed=seed))


def optional_seed(pattern: str) -> str:
    """Regex ``pattern`` (model ids) followed by an optional seed suffix (:data:`SEED_PATTERN`)."""
    return f"(?:{pattern})(?:{SEED_PATTERN})?"


def gnn_model_ids(models: Mapping[str, Any]) -> list[str]:
    """The GNN ids of a config's ``models`` section: architectures x cutoffs (all residual-target
    variants when ``residual_target`` is true), then the extra ``residual`` variants."""
    every = bool(models.get("residual_target", False))
    ids = [format_model_id(a, c, every) for a in models["architectures"] for c in models["cutoffs"]]
    extra = [format_model_id(r["architecture"], r["cutoff"], True) for r in models["residual"]]
    return ids + [m for m in extra if m not in ids]


def baseline_model_ids(baselines: Mapping[str, Any]) -> list[str]:
    """The baseline ids a config's ``baselines`` section enables."""
    ids = [ELEMENT_MEAN] if baselines["element_mean"] else []
    for cutoff in baselines["tabular_cutoffs"]:
        if baselines["linear"]:
            ids.append(format_model_id("linear", cutoff))
        if baselines["xgboost"]["enabled"]:
            ids.append(format_model_id("xgboost", cutoff))
    if baselines["chgnet_zeroshot"]:
        ids.append(CHGNET_ZEROSHOT)
    if baselines["chgnet_finetune"]["enabled"]:
        ids.append(CHGNET_FINETUNED)
    return ids


def seed_dependent_model_ids(models: Mapping[str, Any], baselines: Mapping[str, Any]) -> list[str]:
    """The ids of a config whose result depends on ``training.seed``: every GNN and the enabled
    :data:`SEED_DEPENDENT_BASELINES` (the candidates for seed replicates)."""
    return gnn_model_ids(models) + [
        m for m in baseline_model_ids(baselines) if m in SEED_DEPENDENT_BASELINES
    ]


def gnn_model_id_pattern(cutoffs) -> str:
    """Regex of the GNN ids buildable at ``cutoffs`` (a rule's wildcard constraint): a known
    architecture, one of the cutoffs, optional ``-res``, optional seed (``-s43``). Baseline ids
    never match."""
    tokens = sorted({cutoff_token(c) for c in cutoffs}, key=float)
    return optional_seed(
        "(?:{})-r(?:{})(?:{})?".format(
            "|".join(ARCHITECTURES), "|".join(map(re.escape, tokens)), re.escape(RESIDUAL_SUFFIX)
        )
    )


# ---- results tree ------------------------------------------------------------------------------
REPORT_OUTPUTS: dict[str, str] = {
    "ranking_csv": "ranking.csv",
    "ranking_md": "ranking.md",
    "ranking_plot": "ranking.png",
    "cutoff_sweep": "cutoff_sweep.png",
    "per_element_csv": "per_element.csv",
    "heatmap": "per_element_heatmap.png",
    "cost_csv": "deployment_cost.csv",
    "cost_md": "deployment_cost.md",
    "study_csv": "study_comparison.csv",
    "study_claims_csv": "study_claims.csv",
    "study_md": "study_comparison.md",
}
"""The report rule's outputs (key -> file name under ``{results_dir}/report``)."""

WARM_START_OUTPUTS: dict[str, str] = {
    "csv": "warm_start.csv",
    "md": "warm_start.md",
    "figure": "warm_start.png",
}
"""The warm-start page (key -> file name under ``{results_dir}/report``)."""


class Layout:
    """Every path of one configuration's results tree (strings, relative to the workflow
    directory unless ``results_dir`` is absolute).

    ``Layout.of(config)`` reads ``results_dir`` and ``dataset_name`` from a config.
    """

    def __init__(self, results_dir: str, dataset_name: str):
        self.root = str(PurePosixPath(results_dir))
        self.name = dataset_name

    @classmethod
    def of(cls, config: Mapping[str, Any]) -> Layout:
        return cls(config["results_dir"], config["dataset_name"])

    def __repr__(self) -> str:
        return f"Layout({self.root!r}, {self.name!r})"

    def _path(self, *parts: str) -> str:
        return "/".join((self.root, *parts))

    def log(self, stage: str, name: str) -> str:
        """The log file of one job: ``{results_dir}/logs/{stage}/{name}.log``."""
        return self._path("logs", stage, f"{name}.log")

    # recipe and EOS
    def eos(self, element: str, lattice: str) -> str:
        return self._path("eos", f"{element}-{lattice}.json")

    def eos_workdir(self, element: str, lattice: str) -> str:
        return self._path("eos", "work", f"{element}-{lattice}")

    def lattice_table(self) -> str:
        return self._path("eos", "lattice_table.json")

    def recipe_manifest(self) -> str:
        return self._path("recipe", "slabs.csv")

    def initial_slabs(self) -> str:
        return self._path("recipe", "initial_slabs.db")

    def slab_settings(self, lattice: str, family: str) -> str:
        """The settings that shape the slabs of one lattice x family (rule ``slab_settings``)."""
        return self._path("recipe", "slab_settings", f"{lattice}-{family}.json")

    # DFT and dataset
    def dft_record(self, slab_id: str) -> str:
        return self._path("dft", f"{slab_id}.json")

    def dft_workdir(self, slab_id: str) -> str:
        return self._path("dft", "work", slab_id)

    def dataset_db(self) -> str:
        return self.dataset_files()["db"]

    def dataset_failures(self) -> str:
        return self.dataset_files()["failures"]

    def dataset_summary(self) -> str:
        return self.dataset_files()["summary"]

    def dataset_files(self, staged: bool = False) -> dict[str, str]:
        """The dataset's db, failures table and summary; ``staged``: where an import or
        assembly writes them (``dataset/staged/``) before publish_dataset moves them into place."""
        folder = ("dataset", "staged") if staged else ("dataset",)
        return {
            "db": self._path(*folder, f"{self.name}.db"),
            "failures": self._path(*folder, f"{self.name}-failures.csv"),
            "summary": self._path(*folder, f"{self.name}-summary.json"),
        }

    def split_file(self) -> str:
        return self._path("split", f"{self.name}-split.csv")

    def graph_cache(self, cutoff: float | str, split: str) -> str:
        """``cutoff`` is a number or a wildcard (``"{cutoff}"``)."""
        token = (
            cutoff if isinstance(cutoff, str) and cutoff.startswith("{") else cutoff_token(cutoff)
        )
        return self._path("graphs", f"graphs-r{token}-{self.name}-{split}.lmdb")

    # models and their evaluation
    def model_dir(self, model_id: str) -> str:
        return self._path("models", model_id)

    def model_file(self, model_id: str, filename: str) -> str:
        """A file of a model's directory: ``best.pt``, ``history.csv``, ``model.json``, ..."""
        return self._path("models", model_id, filename)

    def checkpoint(self, model_id: str) -> str:
        return self.model_file(model_id, BEST)

    def predictions(self, model_id: str) -> str:
        return self._path("predictions", f"{model_id}.csv")

    def metrics(self, model_id: str) -> str:
        return self._path("metrics", f"{model_id}.json")

    def model_figure(self, model_id: str, figure: str) -> str:
        return self._path("figures", model_id, f"{figure}.png")

    def deployment_benchmark(self) -> str:
        return self._path("benchmark", "deployment_cost.csv")

    def seed_replicates(self) -> str:
        """The seed-dependent models chosen for seed replicates and their ids (checkpoint
        ``choose_seed_replicates``; format: :mod:`magmom.evaluation.seeds`)."""
        return self._path("report", "seed_replicates.json")

    def seed_spread(self) -> str:
        """Test MAE per seed of every replicated model, mean, std, range against the rank gaps
        (rule ``seed_spread``)."""
        return self._path("report", "seed_spread.csv")

    # report
    def report_dir(self) -> str:
        return self._path("report")

    def provenance(self) -> str:
        return self._path("report", "provenance.json")

    def report_outputs(self) -> dict[str, str]:
        return {key: self._path("report", name) for key, name in REPORT_OUTPUTS.items()}

    # users' structures (config predict) and the DFT warm start (config warm_start)
    def predicted_structures(self, model_id: str, name: str) -> dict[str, str]:
        """Outputs of one structure file ``name`` (its path without suffix) and one model."""
        base = self._path("predict", model_id, name)
        return {
            "moments": f"{base}.csv",
            "failures": f"{base}-failures.csv",
            "structures": f"{base}.extxyz",
        }

    def warm_start_starts(self, model_id: str) -> str:
        return self._path("warm_start", model_id, "starts.json")

    def warm_start_slab(self, model_id: str, slab_id: str) -> str:
        return self._path("warm_start", model_id, "slabs", f"{slab_id}.json")

    def warm_start_workdir(self, model_id: str, slab_id: str) -> str:
        return self._path("warm_start", model_id, "work", slab_id)

    def warm_start_outputs(self) -> dict[str, str]:
        return {key: self._path("report", name) for key, name in WARM_START_OUTPUTS.items()}

    def report_html(self) -> str:
        return self._path("report", "report.html")
