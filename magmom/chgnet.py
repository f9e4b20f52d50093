r"""CHGNet as every consumer of it uses it: the shipped model, its ASE calculator, crystal graphs
and batched :math:`|m|` prediction. (The dataset slabs the CHGNet baselines work on are read by
:mod:`magmom.baselines.chgnet_slabs`: this module sits below the data stage and imports none of
it.)

Consumers: the CHGNet baselines (:mod:`magmom.baselines.chgnet_zeroshot`,
:mod:`magmom.baselines.chgnet_finetune`), the surrogate labeller and pre-relaxation
(:mod:`magmom.dft.surrogate`, :mod:`magmom.dft.prerelax`), the CHGNet EOS (:mod:`magmom.dft.eos`)
and the deployment-cost benchmark. The weights ship in the ``chgnet`` wheel, so everything runs
offline.

CHGNet's magnetic-moment head reads the atom features after the second-to-last interaction block,
:math:`\hat m_i = |\mathbf{w}^\top \mathbf{h}_i^{(L-1)} + b|`: it predicts the magnitude of the
moment only, so a CHGNet baseline needs ``dataset.target: abs``
(:func:`magmom.baselines.chgnet_slabs.check_target`).
"""

from __future__ import annotations

import contextlib
import functools
import io
from collections.abc import Sequence

import numpy as np
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


# ---- graphs and batched prediction -----------------------------------------------------------
def crystal_graphs(model, slabs: Sequence, desc: str = "CHGNet graphs") -> list:
    """CHGNet crystal graphs of ``slabs`` (each with ``slab_id`` and ``atoms``, e.g.
    :class:`magmom.baselines.chgnet_slabs.Slab`; pymatgen structures with the slab's pbc)."""
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
