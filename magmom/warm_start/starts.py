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
* ``floor`` (:data:`magmom.dft.initial_moments.FLOOR`): the labeller's floor start from those
  table moments, :math:`\\max(|m_i^\\mathrm{table}|, f_{X_i})` for an element with a floor
  (:func:`magmom.dft.initial_moments.floored`), the table's moment for the others;
* ``materials_project`` (:data:`magmom.dft.initial_moments.MATERIALS_PROJECT`): the Materials
  Project's default, 5 μB on Cr, Fe, Mn, Mo, Ni, V and W, 0.6 μB on Co and on every other element
  (:data:`magmom.dft.initial_moments.MP_DEFAULT_MAGMOM`, pymatgen's ``MPRelaxSet``);
* ``uniform``: ``warm_start.uniform_magmom`` on every atom (1 μB in ``config.yaml``);
* ``model``: the chosen GNN's prediction for the labelled structure
  (:class:`magmom.predict.MomentPredictor`); the time it took (graph and forward pass, per slab)
  is the entry's ``start_time.model`` (s), which the experiment adds to the model start's wall
  time; loading the model once is ``model_load_time`` of the file;
* ``converged``: the slab's DFT-converged moments: its GPAW label when the labeller was GPAW,
  otherwise left empty (``null``) and obtained by a reference SCF the experiment runs itself
  (:mod:`magmom.warm_start.scf`) — never a surrogate's moments. A GPAW label's settings hash
  (the dataset row's ``parameters_sha256``) goes with it as ``label_parameters_sha256``, so that
  the experiment can say whether it runs at the label's own settings.

``floor`` and ``materials_project`` follow from the elements and the ``eos`` moments alone: an
entry written before they existed is completed where it is read
(:func:`magmom.warm_start.complete_starts`).
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from magmom.dft.initial_moments import EOS
from magmom.dft.record import structure_dict
from magmom.elements import STRONGLY_MAGNETIC
from magmom.warm_start import derived_starts

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

    t0 = time.perf_counter()
    predictor = MomentPredictor(checkpoint)
    load_time = time.perf_counter() - t0
    table = json.loads(Path(lattice_table).read_text())
    uniform = float(settings["uniform_magmom"])
    slabs = {}
    for slab in select_slabs(dataset_db, split_csv, int(settings["slabs"])):
        slab_id = str(slab.meta["slab_id"])
        n = len(slab.atoms)
        labeller = str(slab.meta.get("labeller", "imported"))
        converged = slab.magmoms.tolist() if labeller in DFT_LABELLERS else None
        symbols = slab.atoms.get_chemical_symbols()
        eos = eos_moments(
            table, symbols, str(slab.meta.get("lattice")), default_magmom,
            f"{dataset_db}: slab {slab_id}",
        )  # fmt: skip
        t0 = time.perf_counter()
        model = predictor.predict_atoms(slab.atoms, slab_id).tolist()
        model_time = time.perf_counter() - t0
        slabs[slab_id] = {
            "n_atoms": n,
            "formula": slab.atoms.get_chemical_formula(),
            "labeller": labeller,
            "converged_source": "dft_label" if converged is not None else "reference_scf",
            "label_parameters_sha256": (
                slab.meta.get("parameters_sha256") if converged is not None else None
            ),
            "structure": structure_dict(slab.atoms),
            "starts": {
                EOS: eos.tolist(),
                **derived_starts(symbols, eos),
                "uniform": [uniform] * n,
                "model": model,
                "converged": converged,
            },
            "start_time": {"model": model_time},
        }
        log.info("%s (%d atoms, labeller %s): starts ready", slab_id, n, labeller)
    return {
        "model_id": predictor.model_id,
        "model_target": predictor.target,
        "model_load_time": load_time,
        "uniform_magmom": uniform,
        "slabs": slabs,
    }
