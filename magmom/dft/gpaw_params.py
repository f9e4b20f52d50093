"""GPAW parameter dictionaries of the study's DFT settings, and their hash.

Every number comes from the config (``dft.lcao``, ``dft.planewave`` as parts of
:class:`magmom.dft.settings.DftSettings`; ``eos`` as
:class:`~magmom.dft.settings.EosSettings`); this module only spells them the way GPAW 26.7
reads them:

============== ===========================================================================
stage          GPAW parameters
============== ===========================================================================
LCAO warm-up   ``mode='lcao'``, ``basis=dft.lcao.basis`` (sz(dzp)), grid spacing ``dft.lcao.h``
plane wave     ``mode={'name': 'pw', 'ecut': dft.planewave.ecut}`` (350 eV)
both           ``xc`` (RPBE), Monkhorst–Pack ``kpts`` from the k-point density (z = ``kpts_z``),
               smearing ``occupations`` (Marzari–Vanderbilt), ``spinpol`` (explicit, never
               inferred from the moments), dipole layer ``poissonsolver={'dipolelayer': 'xy'}``
bulk EOS       plane wave ``eos.ecut``, ``eos.kpt_density`` in all three directions, no dipole
============== ===========================================================================

The SCF settings (mixer, eigensolver, convergence, maxiter, the smearing width actually used)
are added per ladder level by :mod:`magmom.dft.scf_ladder`.
"""

from __future__ import annotations

import hashlib
import json

from .kpoints import gpaw_kpts
from .settings import EosSettings, Lcao, PlaneWave

SMEARING: dict[str, dict] = {
    "marzari-vanderbilt": {"name": "marzari-vanderbilt"},
    "fermi-dirac": {"name": "fermi-dirac"},
    # GPAW has no "gaussian" name: Gaussian smearing is Methfessel–Paxton of order 0.
    "gaussian": {"name": "methfessel-paxton", "order": 0},
}


def occupations(smearing: str, width: float) -> dict:
    """GPAW ``occupations`` for the config's smearing name and width (eV)."""
    if smearing not in SMEARING:
        raise ValueError(f"unknown smearing {smearing!r}; allowed: {', '.join(SMEARING)}")
    return {**SMEARING[smearing], "width": float(width)}


def _common(pw: PlaneWave, atoms, spinpol: bool) -> dict:
    params = {
        "xc": pw.xc,
        "kpts": gpaw_kpts(atoms, pw.kpt_density, pw.kpts_z),
        "occupations": occupations(pw.smearing, pw.smearing_width),
        "spinpol": bool(spinpol),
    }
    if pw.dipole_correction:
        params["poissonsolver"] = {"dipolelayer": "xy"}
    return params


def lcao_params(lcao: Lcao, pw: PlaneWave, atoms, spinpol: bool) -> dict:
    """Base parameters of the LCAO warm-up of a slab (before the ladder level is applied)."""
    return {"mode": "lcao", "basis": lcao.basis, "h": float(lcao.h)} | _common(pw, atoms, spinpol)


def planewave_params(pw: PlaneWave, atoms, spinpol: bool) -> dict:
    """Base parameters of the plane-wave relaxation of a slab."""
    return {"mode": {"name": "pw", "ecut": float(pw.ecut)}} | _common(pw, atoms, spinpol)


def bulk_params(eos: EosSettings, atoms, spinpol: bool) -> dict:
    """Base parameters of one bulk energy of the equation of state."""
    return {
        "mode": {"name": "pw", "ecut": float(eos.ecut)},
        "xc": eos.xc,
        "kpts": gpaw_kpts(atoms, eos.kpt_density),
        "occupations": occupations(eos.smearing, eos.smearing_width),
        "spinpol": bool(spinpol),
    }


def parameters_sha256(params) -> str:
    """SHA-256 of the canonical JSON of ``params`` (sorted keys; equal settings, equal hash)."""
    blob = json.dumps(params, sort_keys=True, separators=(",", ":"), default=_jsonable)
    return hashlib.sha256(blob.encode()).hexdigest()


def _jsonable(obj):
    if hasattr(obj, "tolist"):
        return obj.tolist()
    if isinstance(obj, tuple | set | frozenset):
        return list(obj)
    raise TypeError(f"cannot hash parameter value {obj!r} of type {type(obj).__name__}")
