"""Which held-out slabs the warm-start experiment runs, and the start moments of each.

**Slabs.** The test split's magnetic slabs (at least one element of
:data:`magmom.elements.STRONGLY_MAGNETIC`: Co, Cr, Fe, Mn, Ni, V; in the others every start ends
in the same (near) non-magnetic state), smallest first, ties by slab id; the first
``warm_start.slabs`` of them. The
geometry is the labelled (final) structure of the dataset.

**Starts** (μB per atom, :data:`magmom.warm_start.STARTS`):

* ``eos`` (:data:`magmom.dft.initial_moments.EOS`, the labeller's name of this start): the
  EOS table's moment of each element on the slab's lattice (``results/eos/lattice_table.json``
  with the recipe's logged fallbacks, :func:`magmom.recipe.lattice_table.lattice_entry`):
  exactly the initial moments the recipe gives its slabs, so what the study's labeller started
  from; it also works for imported datasets whose rows name their lattice;
* ``model``: the chosen GNN's prediction for the labelled structure
  (:class:`magmom.predict.MomentPredictor`);
* ``uniform``: ``warm_start.uniform_magmom`` on every atom;
* ``converged``: the slab's DFT-converged moments: its GPAW label when the labeller was GPAW,
  otherwise left empty (``null``) and obtained by a reference SCF the experiment runs itself
  (:mod:`magmom.warm_start.scf`) — never a surrogate's moments.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from magmom.dft.initial_moments import EOS
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


def eos_moments(
    table: Mapping, symbols, lattice: str, default_magmom: float, where: str
) -> np.ndarray:
    """Per-atom moments of the lattice table for ``symbols`` on ``lattice`` (as the recipe)."""
    from magmom.recipe.lattice_table import lattice_entry

    if lattice not in ("fcc", "bcc", "hcp"):
        raise ValueError(
            f"{where}: lattice {lattice!r} is not fcc, bcc or hcp, so the EOS table has no "
            f"moments for it; the warm-start experiment needs slabs with a known lattice"
        )
    moment = {
        el: lattice_entry(table, el, lattice, default_magmom)["magmom"] for el in set(symbols)
    }
    return np.asarray([moment[s] for s in symbols], dtype=np.float64)


def warm_start_starts(
    dataset_db: str | os.PathLike,
    split_csv: str | os.PathLike,
    lattice_table: str | os.PathLike,
    checkpoint: str | os.PathLike,
    settings: Mapping,
    default_magmom: float = 1.0,
) -> dict:
    """The content of ``results/warm_start/{model_id}/starts.json`` (module docstring)."""
    from magmom.predict.predictor import MomentPredictor

    predictor = MomentPredictor(checkpoint)
    table = json.loads(Path(lattice_table).read_text())
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
                EOS: eos_moments(
                    table,
                    slab.atoms.get_chemical_symbols(),
                    str(slab.meta.get("lattice")),
                    default_magmom,
                    f"{dataset_db}: slab {slab_id}",
                ).tolist(),
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
