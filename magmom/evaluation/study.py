"""The magmom21 study's published numbers: the one home of every number this project compares with.

Source: the study's slides, the project's seed document ``000_113e8306f374fd7d.txt`` (in the
team's ``shared/seeds/``): the appendices *Full ranking* (78 models, test MAE in μB on the study's
test split of 1,941 slabs and 113,712 atoms), *Baselines* and *Per-element error*, and the dataset
appendix for the DFT settings. Only numbers are taken from it.

* :data:`STUDY_ENTRIES`: the rows of the report's side-by-side table
  (:mod:`magmom.evaluation.report.study_table`): each baseline at its best cutoff, the best GNN,
  and the best model of three GNN families (DimeNet++, SchNet, CGConv: the study's deployment-cost
  backends). The study lists no interval.
* Per-element MAE: the study's per-element table is given for its best model, DimeNet++ r8 (the
  appendix quotes that model's full-set MAE, 0.0427, and R², 0.946, above the table); the baseline
  appendix adds Mn, Cr and V for CHGNet fine-tuned. No other row has per-element numbers.
* :data:`STUDY_CLAIMS`: the orderings the study concludes from these numbers ("A beats B": A's
  MAE below B's), which the side-by-side table checks at a run's scale.
* :data:`STUDY_DFT`: the DFT settings of the study's labels; labels made otherwise are "DFT labels
  at reduced settings" (:func:`magmom.evaluation.provenance.dft_label_settings`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

STUDY_SOURCE = (
    "magmom21 study slides (seed document 000_113e8306f374fd7d.txt): appendices Full ranking, "
    "Baselines, Per-element error"
)
STUDY_TEST_SLABS = 1941
STUDY_TEST_ATOMS = 113_712
COMPARED_ELEMENTS: tuple[str, ...] = ("V", "Cr", "Mn", "Fe", "Co", "Ni")
"""The elements whose MAE the side-by-side table shows (the magnetic 3d metals of the study)."""

DIMENET_R8_PER_ELEMENT = MappingProxyType(
    {"Mn": 0.406, "Cr": 0.153, "V": 0.068, "Fe": 0.079, "Co": 0.065, "Ni": 0.043}
)
"""Per-element test MAE (μB) of the study's best model, DimeNet++ r8 (appendix Per-element error;
also Pt 0.011, Cu 0.004, Al 0.003, not compared)."""


@dataclass(frozen=True)
class StudyEntry:
    """One row of the side-by-side table: which of a run's models it holds (``select``: a model
    id, ``best:<architecture>`` for the best cutoff of that architecture or baseline, or
    ``best:gnn`` for the run's best GNN) and the study's model and numbers for it."""

    row: str
    label: str
    select: str
    study_model: str
    study_mae: float
    study_per_element: Mapping[str, float] = field(default_factory=dict)


STUDY_ENTRIES: tuple[StudyEntry, ...] = (
    StudyEntry("element-mean", "per-element mean", "element-mean", "per-elem-mean", 0.1420),
    StudyEntry("linear", "linear (best cutoff)", "best:linear", "linear r6", 0.1474),
    StudyEntry("xgboost", "XGBoost (best cutoff)", "best:xgboost", "xgboost r4", 0.0690),
    StudyEntry(
        "chgnet-zeroshot", "CHGNet zero-shot", "chgnet-zeroshot", "CHGNet zero-shot", 0.1539
    ),
    StudyEntry(
        "chgnet-finetuned",
        "CHGNet fine-tuned",
        "chgnet-finetuned",
        "CHGNet fine-tuned",
        0.0446,
        MappingProxyType({"Mn": 0.377, "Cr": 0.157, "V": 0.065}),
    ),
    StudyEntry("best-gnn", "best GNN", "best:gnn", "dimenet r8", 0.0427, DIMENET_R8_PER_ELEMENT),
    StudyEntry(
        "best-dimenet",
        "best DimeNet++",
        "best:dimenet",
        "dimenet r8",
        0.0427,
        DIMENET_R8_PER_ELEMENT,
    ),
    StudyEntry("best-schnetconv", "best SchNet", "best:schnetconv", "schnetconv r6", 0.0438),
    StudyEntry("best-cgconv", "best CGConv", "best:cgconv", "cgconv r3", 0.0450),
)

STUDY_CLAIMS: tuple[tuple[str, str], ...] = (
    ("best-gnn", "chgnet-finetuned"),
    ("best-gnn", "xgboost"),
    ("chgnet-finetuned", "xgboost"),
    ("xgboost", "element-mean"),
    ("xgboost", "linear"),
    ("element-mean", "linear"),
    ("element-mean", "chgnet-zeroshot"),
    ("chgnet-finetuned", "chgnet-zeroshot"),
)
"""Pairs (A, B) of :data:`STUDY_ENTRIES` rows the study orders; the study's numbers say which is
ahead (A in each pair here). The study itself calls the first a near-tie (within 4 %)."""

STUDY_DFT = MappingProxyType({"ecut": 350.0, "kpt_density": 3.5, "xc": "RPBE", "relax_fmax": 0.2})
"""The DFT settings of the study's labels (dataset appendix): plane waves in eV, Monkhorst-Pack
k-point density in Å⁻¹, exchange-correlation functional, relaxation fmax in eV/Å."""


def study_entry(row: str) -> StudyEntry:
    """The :data:`STUDY_ENTRIES` row named ``row`` (KeyError naming the known rows)."""
    for entry in STUDY_ENTRIES:
        if entry.row == row:
            return entry
    raise KeyError(f"no study row {row!r}; rows: {', '.join(e.row for e in STUDY_ENTRIES)}")
