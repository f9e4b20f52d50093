"""Which held-out slabs the warm-start experiment runs, and the start moments of each.

**Slabs.** The test split's magnetic slabs (at least one element of
:data:`magmom.elements.STRONGLY_MAGNETIC`: Co, Cr, Fe, Mn, Ni, V; in the others every start ends
in the same (near) non-magnetic state), smallest first, ties by slab id; the first
``warm_start.slabs`` of them. The
geometry is the labelled (final) structure of the dataset.

**Starts** (μB per atom, :data:`magmom.warm_start.STARTS`):

* ``eos_table``: the slab's initial moments in ``results/recipe/initial_slabs.db`` (per element
  and lattice from the EOS table: what the study's labeller started from);
* ``model``: the chosen GNN's prediction for the labelled structure
  (:class:`magmom.predict.MomentPredictor`);
* ``uniform``: ``warm_start.uniform_magmom`` on every atom;
* ``converged``: the slab's DFT-converged moments: its GPAW label when the labeller was GPAW,
  otherwise left empty (``null``) and obtained by a reference SCF the experiment runs itself
  (:mod:`magmom.warm_start.scf`) — never a surrogate's moments.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping

import numpy as np

from magmom.dft.record import structure_dict
from magmom.elements import STRONGLY_MAGNETIC

log = logging.getLogger(__name__)

DFT_LABELLERS = ("gpaw",)
STRONGLY_MAGNETIC_SET = frozenset(STRONGLY_MAGNETIC)


def select_slabs(dataset_db: str | os.PathLike, split_csv: str | os.PathLike, n: int) -> list:
    """The first ``n`` magnetic test slabs (smallest first) as ``LabelledSlab``s."""
    from magmom.data.dataset import iter_labelled_slabs
    from magmom.data.split import read_split

    split = read_split(split_csv)
    candidates = [
        slab
        for slab in iter_labelled_slabs(dataset_db)
        if split.get(slab.meta["slab_id"]) == "test"
        and STRONGLY_MAGNETIC_SET.intersection(slab.atoms.get_chemical_symbols())
    ]
    candidates.sort(key=lambda s: (len(s.atoms), s.meta["slab_id"]))
    if not candidates:
        raise ValueError(
            f"{split_csv}: the test split of {dataset_db} holds no slab with Co, Cr, Fe, Mn, "
            f"Ni or V; the warm-start experiment has nothing to compare (warm_start.slabs: 0)"
        )
    if len(candidates) < n:
        log.warning(
            "warm_start.slabs = %d but the test split holds only %d slabs with Co, Cr, Fe, Mn, "
            "Ni or V: using all of them",
            n,
            len(candidates),
        )
    return candidates[:n]


def eos_table_moments(initial_db: str | os.PathLike, slab_id: str, n_atoms: int) -> np.ndarray:
    """The slab's initial moments in the recipe's initial-structure db."""
    from ase.db import connect

    try:
        row = connect(str(initial_db), type="db").get(slab_id=slab_id)
    except KeyError:
        raise KeyError(f"{initial_db}: no slab with slab_id={slab_id!r}") from None
    moments = np.asarray(row.toatoms().get_initial_magnetic_moments(), dtype=np.float64)
    if moments.shape != (n_atoms,):
        raise ValueError(
            f"{initial_db}: slab {slab_id} has {moments.shape[0]} initial moments, the dataset "
            f"{n_atoms} atoms"
        )
    return moments


def warm_start_starts(
    dataset_db: str | os.PathLike,
    split_csv: str | os.PathLike,
    initial_db: str | os.PathLike,
    checkpoint: str | os.PathLike,
    settings: Mapping,
) -> dict:
    """The content of ``results/warm_start/{model_id}/starts.json`` (module docstring)."""
    from magmom.predict.predictor import MomentPredictor

    predictor = MomentPredictor(checkpoint)
    uniform = float(settings["uniform_magmom"])
    slabs = {}
    for slab in select_slabs(dataset_db, split_csv, int(settings["slabs"])):
        slab_id = str(slab.meta["slab_id"])
        n = len(slab.atoms)
        labeller = str(slab.meta.get("labeller", "imported"))
        converged = slab.magmoms.tolist() if labeller in DFT_LABELLERS else None
        slabs[slab_id] = {
            "n_atoms": n,
            "formula": slab.atoms.get_chemical_formula(),
            "labeller": labeller,
            "converged_source": "dft_label" if converged is not None else "reference_scf",
            "structure": structure_dict(slab.atoms),
            "starts": {
                "eos_table": eos_table_moments(initial_db, slab_id, n).tolist(),
                "model": predictor.predict_atoms(slab.atoms, slab_id).tolist(),
                "uniform": [uniform] * n,
                "converged": converged,
            },
        }
        log.info("%s (%d atoms, labeller %s): starts ready", slab_id, n, labeller)
    return {
        "model_id": predictor.model_id,
        "model_target": predictor.target,
        "uniform_magmom": uniform,
        "slabs": slabs,
    }
