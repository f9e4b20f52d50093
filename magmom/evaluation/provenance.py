"""Where the labels come from and how many slabs/atoms each split holds.

Every metrics file, figure and report page states the labeller, because a ranking on CHGNet
surrogate labels (the demo and tiny presets) says nothing about DFT, and a CHGNet baseline scored
against CHGNet labels scores the labeller against itself.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from pathlib import Path

from magmom.layout import SURROGATE_LABELLERS


def label_provenance(
    db_path: str | Path,
    split_path: str | Path,
    *,
    imported: bool,
    labeller: str,
    target: str,
) -> dict:
    """Labellers of the dataset rows, whether they are surrogate labels, and counts per split.

    ``surrogate`` is true when any row's ``labeller`` key is a surrogate, when the db metadata
    says so, or when the workflow labels the slabs itself (``imported`` false: no
    ``dataset.source``) with the surrogate ``labeller`` (``chgnet``). ``target`` is
    ``dataset.target``.
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
    }


LABEL_ORIGINS = {"gpaw": "DFT (GPAW)", "chgnet": "CHGNet surrogate (not DFT)"}
"""What each labeller's labels are; any other labeller (``imported``, ``unknown``, a name from an
imported file) is an imported label of unknown origin."""

UNKNOWN_ORIGIN = "imported, origin unknown"


def label_origin(labellers: Mapping[str, int]) -> str:
    """What the labels are, for report pages and figure labels: one origin (``DFT (GPAW)``,
    ``CHGNet surrogate (not DFT)``, ``imported, origin unknown``), or each origin's share of the
    slabs when they are mixed (``DFT (GPAW) 90 %, imported, origin unknown 10 %``)."""
    shares: Counter[str] = Counter()
    for labeller, n in labellers.items():
        shares[LABEL_ORIGINS.get(labeller, UNKNOWN_ORIGIN)] += int(n)
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
