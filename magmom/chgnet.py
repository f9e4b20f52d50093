r"""CHGNet as every consumer of it uses it: the shipped model, its ASE calculator, crystal graphs,
batched :math:`|m|` prediction and the dataset slabs the CHGNet baselines work on.

Consumers: the CHGNet baselines (:mod:`magmom.baselines.chgnet_zeroshot`,
:mod:`magmom.baselines.chgnet_finetune`), the surrogate labeller and pre-relaxation
(:mod:`magmom.dft.surrogate`, :mod:`magmom.dft.prerelax`), the CHGNet EOS (:mod:`magmom.dft.eos`)
and the deployment-cost benchmark. The weights ship in the ``chgnet`` wheel, so everything runs
offline.

CHGNet's magnetic-moment head reads the atom features after the second-to-last interaction block,
:math:`\hat m_i = |\mathbf{w}^\top \mathbf{h}_i^{(L-1)} + b|`: it predicts the magnitude of the
moment only, so a CHGNet baseline needs ``dataset.target: abs`` (:func:`check_target`).
"""

from __future__ import annotations

import contextlib
import functools
import io
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from tqdm import tqdm

PRETRAINED = "0.3.0"
"""CHGNet checkpoint name shipped in the chgnet wheel (the default of ``CHGNet.load``)."""


# ---- the model -------------------------------------------------------------------------------
def load_pretrained(device="cpu"):
    """A fresh copy of the pretrained CHGNet on ``device``, in eval mode (safe to fine-tune)."""
    from chgnet.model import CHGNet

    with contextlib.redirect_stdout(io.StringIO()):
        model = CHGNet.load(model_name=PRETRAINED, use_device=str(device), verbose=False)
    return model.eval()


@functools.cache
def shared_pretrained():
    """The pretrained CHGNet on the CPU, loaded once per process (read-only use: calculators,
    relaxations)."""
    return load_pretrained("cpu")


def calculator():
    """An ASE calculator around :func:`shared_pretrained` (energy, forces, stress, |m|)."""
    from chgnet.model.dynamics import CHGNetCalculator

    with contextlib.redirect_stdout(io.StringIO()):
        return CHGNetCalculator(model=shared_pretrained(), use_device="cpu")


def energy_and_magmoms(atoms) -> tuple[float, np.ndarray]:
    """CHGNet's (energy in eV, per-atom |m| in μB) of ``atoms``, evaluated on a copy with full
    pbc (a slab's vacuum keeps its periodic images beyond CHGNet's cutoffs)."""
    work = atoms.copy()
    work.pbc = True
    work.calc = calculator()
    energy = float(work.get_potential_energy())
    magmoms = np.abs(np.asarray(work.get_magnetic_moments(), dtype=float))
    return energy, magmoms


# ---- dataset slabs, graphs and batched prediction --------------------------------------------
@dataclass
class Slab:
    """One labelled slab: id, final structure and per-atom target (μB)."""

    slab_id: str
    atoms: object  # ase.Atoms
    y: np.ndarray  # float64 (n_atoms,) the configured target


def check_target(target: str, key: str = "baselines.chgnet_zeroshot") -> None:
    """Refuse any ``dataset.target`` but ``abs``: CHGNet predicts :math:`|m|` only.

    The config check stops such a run at parse time (:func:`magmom.config.chgnet_target_errors`);
    this guards direct library use. ``key`` is the config key that switched the baseline on.
    """
    from magmom.config import ConfigError, signed_target_message

    if target == "signed":
        raise ConfigError(signed_target_message(key))
    if target != "abs":
        raise ConfigError(
            f"config key 'dataset.target': {target!r} is not allowed; allowed values: abs, signed"
        )


def split_slabs(db_path, split_path, splits: Iterable[str], target: str = "abs") -> list[Slab]:
    """Slabs of ``db_path`` whose split (from ``split_path``) is in ``splits``, sorted by id,
    with :math:`|m|` as the target (``target`` must be ``abs``, see :func:`check_target`).

    Raises ``ValueError`` naming both files when a slab of the split file is missing from the
    dataset, so a stale split is caught instead of silently shrinking the test set.
    """
    from magmom.data.dataset import iter_labelled_slabs
    from magmom.data.split import read_split

    check_target(target)
    wanted = {s for s, sp in read_split(split_path).items() if sp in set(splits)}
    out = []
    for slab in iter_labelled_slabs(db_path):
        slab_id = str(slab.meta["slab_id"])
        if slab_id in wanted:
            out.append(Slab(slab_id, slab.atoms, np.abs(np.asarray(slab.magmoms, np.float64))))
    missing = wanted - {s.slab_id for s in out}
    if missing:
        raise ValueError(
            f"{len(missing)} slab(s) of split(s) {sorted(splits)} in {split_path} are not in "
            f"{db_path} (first: {sorted(missing)[0]}); rerun the split rule for this dataset"
        )
    return sorted(out, key=lambda s: s.slab_id)


def crystal_graphs(model, slabs: Sequence[Slab], desc: str = "CHGNet graphs") -> list:
    """CHGNet crystal graphs of ``slabs`` (pymatgen structures with the slab's pbc)."""
    from pymatgen.io.ase import AseAtomsAdaptor

    graphs = []
    for slab in tqdm(slabs, desc=desc, unit="slab", mininterval=5):
        structure = AseAtomsAdaptor.get_structure(slab.atoms)
        try:
            graphs.append(model.graph_converter(structure, graph_id=slab.slab_id))
        except (ValueError, RuntimeError) as exc:
            raise ValueError(f"slab {slab.slab_id}: CHGNet cannot build its graph ({exc})") from exc
    return graphs


def predict_magmoms(model, graphs: Sequence, batch_size: int = 16) -> list[np.ndarray]:
    """|m| per atom (μB) of every graph, batched, without gradients."""
    import torch

    device = next(model.parameters()).device
    model.eval()
    out: list[np.ndarray] = []
    with torch.no_grad():
        for start in tqdm(
            range(0, len(graphs), batch_size), desc="CHGNet predict", unit="batch", mininterval=5
        ):
            chunk = [g.to(device) for g in graphs[start : start + batch_size]]
            pred = model(chunk, task="em")
            out.extend(m.detach().cpu().numpy().astype(np.float64).ravel() for m in pred["m"])
    return out


def slab_predictions(slabs: Sequence[Slab], y_pred: Sequence[np.ndarray]) -> pd.DataFrame:
    """The predictions contract's frame (:func:`magmom.predictions.predictions_frame`) of
    ``slabs`` and their per-slab predictions."""
    from magmom.predictions import predictions_frame

    if not slabs:
        raise ValueError("no slabs to write predictions for")
    for slab, pred in zip(slabs, y_pred, strict=True):
        if len(pred) != len(slab.atoms):
            raise ValueError(
                f"slab {slab.slab_id}: {len(pred)} predictions for {len(slab.atoms)} atoms"
            )
    return predictions_frame(
        np.concatenate([[s.slab_id] * len(s.atoms) for s in slabs]),
        np.concatenate([np.arange(len(s.atoms)) for s in slabs]),
        np.concatenate([s.atoms.get_chemical_symbols() for s in slabs]),
        np.concatenate([s.y for s in slabs]),
        np.concatenate(list(y_pred)),
    )
