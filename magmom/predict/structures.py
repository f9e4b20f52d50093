r"""Users' structure files -> checked frames: what a trained model may be asked about.

Any file ASE reads (CIF, POSCAR, extxyz, ASE trajectory, multi-frame files) is read with
``ase.io.read(path, index=":")``; each frame gets the checks below. A failed check costs only its
frame (or, for an unreadable file, that file): the message names the file and the frame.

=============================  =========  ===================================================
problem                        decision   why
=============================  =========  ===================================================
unreadable or empty file       refuse     nothing to predict
no atoms                       refuse     nothing to predict
NaN / infinite positions       refuse     no neighbour list exists
element outside Z = 1..118     refuse     no embedding row (e.g. ASE's dummy ``X``)
no cell / not periodic in a,b  refuse     a molecule or cluster: the models only saw slabs
fully periodic bulk            refuse     every training graph had a surface; see below
element unseen in training     warn+flag  the rest of the structure is in domain; the rows of
                                          that element say ``unseen_element`` and the other
                                          atoms of the structure ``structure_has_unseen_element``
=============================  =========  ===================================================

**Slab or bulk.** CIF and POSCAR files cannot say that a cell is non-periodic along the surface
normal, so a slab written in them arrives with ``pbc = (T, T, T)``. A frame periodic along
:math:`\mathbf{c}` is accepted when its largest vacuum gap along the surface normal

.. math:: g = \max_k \big(h_{(k+1)} - h_{(k)}\big), \qquad
          h_a = (\mathbf{r}_a \cdot \hat{\mathbf n}) \bmod H, \quad
          \hat{\mathbf n} = \frac{\mathbf a \times \mathbf b}{|\mathbf a \times \mathbf b|},
          \quad H = \mathbf c \cdot \hat{\mathbf n}

(heights sorted, the wrap-around gap :math:`h_{(1)} + H - h_{(N)}` included) is at least the
model's cutoff: no edge then crosses the gap, and its graph is exactly the graph of the same slab
with ``pbc = (T, T, F)``. A smaller gap is bulk, which no training graph resembled: refused.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

FLAG_UNSEEN = "unseen_element"
FLAG_UNSEEN_NEIGHBOUR = "structure_has_unseen_element"


class StructureError(ValueError):
    """A frame cannot be given to the model; the message names the file and the frame."""


@dataclass
class Frame:
    """One structure of a user's file: ``atoms`` when it was read, else ``error``."""

    file: str
    frame: int | None  # None: the whole file failed (unreadable, empty)
    atoms: object | None = None
    error: str | None = None
    warnings: list[str] = field(default_factory=list)

    @property
    def where(self) -> str:
        return self.file if self.frame is None else f"{self.file} frame {self.frame}"


def read_frames(path: str | os.PathLike) -> list[Frame]:
    """Every frame of ``path``; an unreadable or empty file gives one failed :class:`Frame`."""
    import ase.io

    name = str(path)
    if not Path(path).is_file():
        return [Frame(name, None, error=f"{name}: no such file")]
    if Path(path).stat().st_size == 0:
        return [Frame(name, None, error=f"{name}: the file is empty")]
    try:
        images = ase.io.read(path, index=":")
    except Exception as err:  # ASE raises many types for unknown formats and broken files
        why = f"{type(err).__name__}: {err}"
        return [Frame(name, None, error=f"{name}: ASE cannot read it ({why})")]
    if not isinstance(images, list):
        images = [images]
    if not images:
        return [Frame(name, None, error=f"{name}: the file holds no structures")]
    return [Frame(name, k, atoms=atoms) for k, atoms in enumerate(images)]


def vacuum_gap(atoms) -> float:
    """Largest gap (Å) between atom heights along the surface normal, wrap-around included."""
    cell = np.asarray(atoms.cell[:], dtype=np.float64)
    normal = np.cross(cell[0], cell[1])
    normal /= np.linalg.norm(normal)
    height = float(abs(cell[2] @ normal))
    if height == 0.0:
        return float("inf")
    h = np.sort(np.mod(atoms.positions @ normal, height))
    gaps = np.append(np.diff(h), h[0] + height - h[-1])
    return float(gaps.max())


def check_frame(
    frame: Frame, cutoff: float, element_counts: np.ndarray | None
) -> tuple[object, list[str]]:
    """The frame's atoms ready for the graph builder, and per-atom flags ('' when fine).

    Raises :class:`StructureError` for a refused frame (module table); appends a warning to
    ``frame.warnings`` for elements the model never saw in training.
    """
    atoms = frame.atoms
    where = frame.where
    if atoms is None:
        raise StructureError(frame.error or f"{where}: not read")
    n = len(atoms)
    if n == 0:
        raise StructureError(f"{where}: the structure has no atoms")
    if not np.isfinite(atoms.positions).all():
        bad = int(np.flatnonzero(~np.isfinite(atoms.positions).all(axis=1))[0])
        raise StructureError(f"{where}: atom {bad} has a NaN or infinite position")
    numbers = np.asarray(atoms.numbers)
    if numbers.min() < 1 or numbers.max() > 118:
        bad = int(np.flatnonzero((numbers < 1) | (numbers > 118))[0])
        raise StructureError(
            f"{where}: atom {bad} has atomic number {numbers[bad]} (no element); "
            f"give real elements only"
        )
    cell = np.asarray(atoms.cell[:], dtype=np.float64)
    if not (atoms.pbc[0] and atoms.pbc[1]) or np.linalg.matrix_rank(cell[:2]) < 2:
        raise StructureError(
            f"{where}: no cell periodic along a and b (a molecule or cluster; pbc "
            f"{tuple(bool(p) for p in atoms.pbc)}); the models were trained on surface slabs "
            f"periodic in the surface plane"
        )
    atoms = atoms.copy()
    if np.linalg.norm(cell[2]) == 0.0:
        if atoms.pbc[2]:
            raise StructureError(f"{where}: periodic along c but the c vector is zero")
        normal = np.cross(cell[0], cell[1])
        extent = np.ptp(atoms.positions @ (normal / np.linalg.norm(normal)))
        atoms.cell[2] = normal / np.linalg.norm(normal) * (extent + 2 * cutoff + 1.0)
    if atoms.pbc[2]:
        gap = vacuum_gap(atoms)
        if gap < cutoff:
            raise StructureError(
                f"{where}: fully periodic bulk (largest vacuum gap along the surface normal "
                f"{gap:.2f} Å, below the model's {cutoff:g} Å cutoff); the models were trained "
                f"on surface slabs only: give a slab with vacuum or pbc (T, T, F)"
            )
    flags = [""] * n
    if element_counts is not None:
        unseen = element_counts[numbers] == 0
        if unseen.any():
            symbols = sorted(set(np.asarray(atoms.get_chemical_symbols())[unseen]))
            frame.warnings.append(
                f"{where}: element(s) {', '.join(symbols)} never occurred in the model's "
                f"training set; their rows are flagged {FLAG_UNSEEN!r}, the other atoms of "
                f"this structure {FLAG_UNSEEN_NEIGHBOUR!r}"
            )
            flags = [FLAG_UNSEEN if u else FLAG_UNSEEN_NEIGHBOUR for u in unseen]
    return atoms, flags
