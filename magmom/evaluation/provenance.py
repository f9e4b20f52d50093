"""Where the labels come from and how many slabs/atoms each split holds.

Every metrics file, figure and report page states the labeller, because a ranking on CHGNet
surrogate labels (the demo and tiny presets) says nothing about DFT, and a CHGNet baseline scored
against CHGNet labels scores the labeller against itself.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path

from magmom.evaluation.study import STUDY_DFT
from magmom.layout import SURROGATE_LABELLERS


def label_provenance(
    db_path: str | Path,
    split_path: str | Path,
    *,
    imported: bool,
    labeller: str,
    target: str,
    dft_settings: Sequence[Mapping] = (),
    dft_settings_source: str = "",
) -> dict:
    """Labellers of the dataset rows, whether they are surrogate labels, and counts per split.

    ``surrogate`` is true when any row's ``labeller`` key is a surrogate, when the db metadata
    says so, or when the workflow labels the slabs itself (``imported`` false: no
    ``dataset.source``) with the surrogate ``labeller`` (``chgnet``). ``target`` is
    ``dataset.target``. ``dft_settings``: the GPAW settings the DFT labels were made with
    (:func:`record_dft_settings` of each shipped record, or :func:`config_dft_settings` when
    the workflow labels the slabs), summarised by :func:`dft_label_settings` as
    ``dft_settings``.
    """
    from magmom.data.dataset import iter_labelled_slabs, read_metadata
    from magmom.data.split import read_split

    split_of = read_split(split_path)
    labellers: Counter[str] = Counter()
    slabs: Counter[str] = Counter()
    atoms: Counter[str] = Counter()
    for slab in iter_labelled_slabs(db_path):
        labellers[str(slab.meta.get("labeller", "unknown"))] += 1
        split = split_of.get(str(slab.meta["slab_id"]), "unassigned")
        slabs[split] += 1
        atoms[split] += len(slab.atoms)
    own_labels = not imported
    surrogate = (
        bool(SURROGATE_LABELLERS & set(labellers))
        or bool(read_metadata(db_path).get("surrogate"))
        or (own_labels and labeller in SURROGATE_LABELLERS)
    )
    return {
        "dataset": str(db_path),
        "labellers": dict(sorted(labellers.items())),
        "surrogate": surrogate,
        "surrogate_labeller": "chgnet" if surrogate else None,
        "target": target,
        "n_slabs": dict(sorted(slabs.items())),
        "n_atoms": dict(sorted(atoms.items())),
        "dft_settings": (
            dft_label_settings(dft_settings, dft_settings_source) if labellers.get("gpaw") else None
        ),
    }


def record_dft_settings(record: Mapping) -> dict:
    """The compared DFT settings of one per-slab DFT record (``magmom/dft/record.py``:
    ``parameters``); the k-point density is not stored there (only the k-point grid)."""
    params = record.get("parameters") or {}
    pw = (params.get("planewave") or {}).get("gpaw") or {}
    mode = pw.get("mode") or {}
    return {
        "ecut": mode.get("ecut") if isinstance(mode, Mapping) else None,
        "xc": pw.get("xc"),
        "relax_fmax": (params.get("relax") or {}).get("fmax"),
    }


def config_dft_settings(dft: Mapping) -> dict:
    """The compared DFT settings of a configuration's ``dft`` section (labels made by this run)."""
    pw, relax = dft.get("planewave", {}), dft.get("relax", {})
    return {
        "ecut": pw.get("ecut"),
        "kpt_density": pw.get("kpt_density"),
        "xc": pw.get("xc"),
        "relax_fmax": relax.get("fmax"),
    }


REDUCED_WHEN = {"ecut": "lower", "kpt_density": "lower", "relax_fmax": "higher", "xc": "other"}
"""How a setting differs from the study's (:data:`magmom.evaluation.study.STUDY_DFT`) when it makes
the labels reduced: a lower cutoff or k-point density, a looser relaxation, another functional."""
UNITS = {"ecut": " eV", "kpt_density": " Å⁻¹", "relax_fmax": " eV/Å", "xc": ""}


def dft_label_settings(settings: Sequence[Mapping], source: str = "") -> dict:
    """``{"source", "values", "differences", "reduced"}``: ``source`` (where ``settings`` come
    from, for the reader), for each compared setting the set of values in ``settings`` (one
    mapping per record or per configuration), the settings that differ from the study's in the
    direction :data:`REDUCED_WHEN` names (``"ecut 250.0 eV (study 350.0 eV)"``), and whether any
    does. No settings (an imported file without records): ``reduced`` None."""
    values: dict[str, list] = {}
    for one in settings:
        for key, value in one.items():
            if value is not None and value not in values.setdefault(key, []):
                values[key].append(value)
    differences = []
    for key, how in REDUCED_WHEN.items():
        study = STUDY_DFT[key]
        for value in values.get(key, []):
            off = (
                (how == "lower" and float(value) < study)
                or (how == "higher" and float(value) > study)
                or (how == "other" and str(value) != study)
            )
            if off:
                unit = UNITS[key]
                differences.append(f"{key} {value}{unit} (study {study}{unit})")
    return {
        "source": source or f"{len(settings)} settings",
        "values": {k: sorted(v, key=str) for k, v in sorted(values.items())},
        "differences": differences,
        "reduced": bool(differences) if settings else None,
    }


LABEL_ORIGINS = {"gpaw": "DFT (GPAW)", "chgnet": "CHGNet surrogate (not DFT)"}
"""What each labeller's labels are; any other labeller (``imported``, ``unknown``, a name from an
imported file) is an imported label of unknown origin."""

UNKNOWN_ORIGIN = "imported, origin unknown"


REDUCED_DFT_ORIGIN = "DFT labels at reduced settings (GPAW)"
"""The origin of GPAW labels whose settings are below the study's (:func:`dft_label_settings`)."""


def label_origin(labellers: Mapping[str, int], dft_settings: Mapping | None = None) -> str:
    """What the labels are, for report pages and figure labels: one origin (``DFT (GPAW)``,
    :data:`REDUCED_DFT_ORIGIN` when ``dft_settings`` (provenance's) says ``reduced``, ``CHGNet
    surrogate (not DFT)``, ``imported, origin unknown``), or each origin's share of the slabs
    when they are mixed (``DFT (GPAW) 90 %, imported, origin unknown 10 %``)."""
    origins = dict(LABEL_ORIGINS)
    if dft_settings and dft_settings.get("reduced"):
        origins["gpaw"] = REDUCED_DFT_ORIGIN
    shares: Counter[str] = Counter()
    for labeller, n in labellers.items():
        shares[origins.get(labeller, UNKNOWN_ORIGIN)] += int(n)
    if not shares:
        return UNKNOWN_ORIGIN
    if len(shares) == 1:
        return next(iter(shares))
    total = sum(shares.values())
    return ", ".join(f"{origin} {100 * n / total:.0f} %" for origin, n in shares.most_common())


def surrogate_note(provenance: Mapping) -> str | None:
    """One sentence for every page when the labels are surrogate labels, else None."""
    if not provenance.get("surrogate"):
        return None
    return (
        "Labels come from the CHGNet surrogate labeller (pretrained CHGNet magnetic moments), "
        "not from DFT: the numbers rehearse the workflow and say nothing about DFT accuracy. "
        "The chgnet-zeroshot baseline is scored against its own predictions and is not "
        "meaningful; chgnet-finetuned starts from the labeller's own weights (a head start no "
        "other model has)."
    )


def reduced_settings_note(provenance: Mapping) -> str | None:
    """One sentence for every page when the labels are DFT labels at reduced settings, else None."""
    settings = provenance.get("dft_settings") or {}
    if not settings.get("reduced"):
        return None
    return (
        "Labels come from GPAW DFT at settings below the study's: "
        + "; ".join(settings["differences"])
        + f" (read from {settings['source']}). The numbers test the workflow and the models "
        "against DFT, not at the study's accuracy."
    )
