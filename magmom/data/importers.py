"""An existing labelled dataset → the dataset contract (rule ``import_dataset``).

``dataset.source`` names the file; its format follows from the suffix:

=================== ==========================================================================
``.h5`` ``.hdf5``   the study's layout: groups ``/<comp_id>/<variant>/`` holding datasets
                    ``magmoms``, ``atomic_numbers``, ``positions``, ``cell``, ``tags``, ``pbc``
                    and attributes ``energy``, ``work_function``, ``fermi_level``, ``spinpol``
``.db``             an ASE db; moments from ``row.data["magmoms"]``, else the row's
                    calculated ``magmoms``
``.extxyz`` ``.xyz`` extended XYZ with a per-atom ``magmoms`` column
=================== ==========================================================================

Required per record: moments, atomic numbers, positions and cell, all of matching lengths, every
moment finite. A record breaking this is reported with the file and the record (HDF5 group path,
db row id, extxyz frame number): an error by default, or — with ``dataset.on_bad_record: skip``
— left out and listed in ``{name}-failures.csv`` (status ``bad_record``).

Key-value pairs the source does not provide are derived (and documented here, since the study's
HDF5 stores none of them):

* ``composition_id``: the HDF5 group name; otherwise the source's ``composition_id``, else
  computed from the structure as the recipe does (sorted lower-case symbols with
  ``round(100·fraction)`` in three digits, ``ag012-au088``);
* ``comp_type``: the source's valid ``comp_type``, else the number of elements in the composition
  id: 1 pure, 2 binary, 3 ternary, 4 quaternary, 5 quinary, 6 senary. Dilute and prototype
  slabs therefore count as binary/ternary unless the source says otherwise;
* ``lattice``: the source's, else inferred from the geometry (:func:`infer_lattice`), else
  ``unknown``;
* ``placement``: the source's, else ``unknown``; ``variant``: the HDF5 group name / the
  source's ``variant`` / the record's rank among the records of its composition;
* ``slab_id``: the source's, else ``{composition_id}-{lattice}-{placement}-v{variant}`` (the
  recipe's pattern); ``labeller``: the source's when it is ``gpaw`` or ``chgnet`` (so re-imported
  surrogate labels stay marked), else ``imported``; ``spinpol``: the source's flag, else whether
  a spin-polarised element is present;
* ``energy``, ``fermi_level``, ``work_function``: copied when finite, omitted otherwise;
  ``start_comparison`` and ``parameters_sha256`` (a shipped GPAW label's, ``data/mini``): copied
  when present.
"""

from __future__ import annotations

import logging
import math
from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from magmom.elements import is_spin_polarised
from magmom.layout import COMPOSITION_TYPES, IMPORTED_LABELLER, LABELLERS
from magmom.slab_geometry import in_plane_distances, in_plane_image_distances, slab_layers

from .dataset import (
    OPTIONAL_STR_KEYS,
    DatasetError,
    LabelledSlab,
    keeping_previous,
    write_dataset_files,
)

log = logging.getLogger(__name__)

FORMATS = {".h5": "hdf5", ".hdf5": "hdf5", ".db": "ase-db", ".extxyz": "extxyz", ".xyz": "extxyz"}
TYPE_BY_ELEMENT_COUNT = {1: "pure", 2: "binary", 3: "ternary", 4: "quaternary", 5: "quinary",
                         6: "senary"}  # fmt: skip


class BadRecord(ValueError):
    """One record of the source cannot become a dataset row."""


@dataclass
class RawRecord:
    """What a reader found for one record, before derivation and checks."""

    name: str  # where in the file: "/ag012-au088/0", "row 3", "frame 7"
    numbers: object
    positions: object
    cell: object
    magmoms: object
    pbc: object = None
    tags: object = None
    info: Mapping | None = None


def source_format(path: str | Path) -> str:
    suffix = Path(path).suffix.lower()
    if suffix not in FORMATS:
        raise DatasetError(
            f"config key 'dataset.source': {path} has an unknown suffix {suffix!r}; "
            f"allowed: {', '.join(FORMATS)}"
        )
    return FORMATS[suffix]


# ---- readers -------------------------------------------------------------------------------
def _attr(value):
    if isinstance(value, bytes):
        return value.decode()
    if isinstance(value, np.generic):
        return value.item()
    return value


def read_hdf5(path: str | Path) -> Iterator[RawRecord]:
    import h5py

    def order(key):
        return (0, int(key), key) if key.isdigit() else (1, 0, key)

    with h5py.File(path, "r") as fh:
        for comp_id in sorted(fh.keys()):
            comp = fh[comp_id]
            if not isinstance(comp, h5py.Group):
                raise DatasetError(
                    f"{path}: /{comp_id} is not a group (expected /<comp_id>/<variant>/)"
                )
            for variant in sorted(comp.keys(), key=order):
                grp = comp[variant]
                name = f"/{comp_id}/{variant}"
                if not isinstance(grp, h5py.Group):
                    raise DatasetError(
                        f"{path}: {name} is not a group (expected /<comp_id>/<variant>/)"
                    )
                data = {k: grp[k][()] for k in grp.keys() if isinstance(grp[k], h5py.Dataset)}
                info = {k: _attr(v) for k, v in grp.attrs.items()}
                info.setdefault("composition_id", comp_id)
                if variant.isdigit():
                    info.setdefault("variant", int(variant))
                yield RawRecord(
                    name=name,
                    numbers=data.get("atomic_numbers"),
                    positions=data.get("positions"),
                    cell=data.get("cell"),
                    magmoms=data.get("magmoms"),
                    pbc=data.get("pbc"),
                    tags=data.get("tags"),
                    info=info,
                )


def read_ase_db(path: str | Path) -> Iterator[RawRecord]:
    from ase.db import connect

    db = connect(str(path), type="db")
    for row in db.select(sort="id"):
        magmoms = None
        data = row.get("data") or {}
        if "magmoms" in data:
            magmoms = data["magmoms"]
        elif row.get("magmoms") is not None:
            magmoms = row.magmoms
        info = dict(row.key_value_pairs)
        if row.get("energy") is not None:
            info["energy"] = row.energy
        yield RawRecord(
            name=f"row {row.id}",
            numbers=row.numbers,
            positions=row.positions,
            cell=row.cell,
            magmoms=magmoms,
            pbc=row.pbc,
            tags=row.get("tags"),
            info=info,
        )


def read_extxyz(path: str | Path) -> Iterator[RawRecord]:
    from ase.io import iread

    for k, atoms in enumerate(iread(str(path), index=":", format="extxyz")):
        results = getattr(atoms.calc, "results", {}) if atoms.calc is not None else {}
        magmoms = atoms.arrays.get("magmoms", results.get("magmoms"))
        info = dict(atoms.info)
        if "energy" in results:
            info.setdefault("energy", results["energy"])
        yield RawRecord(
            name=f"frame {k}",
            numbers=atoms.numbers,
            positions=atoms.positions,
            cell=np.asarray(atoms.cell),
            magmoms=magmoms,
            pbc=atoms.pbc,
            tags=atoms.get_tags(),
            info=info,
        )


READERS = {"hdf5": read_hdf5, "ase-db": read_ase_db, "extxyz": read_extxyz}


# ---- geometry: which lattice? ----------------------------------------------------------------
def infer_lattice(atoms, tol: float = 1.08) -> str:
    """``fcc``/``bcc``/``hcp`` of a (111)/(110)/(0001) slab from its geometry, else ``unknown``.

    In-plane pattern of a middle layer: close-packed layers have 6 nearest in-plane neighbours at
    one distance :math:`d` (next shell :math:`\\sqrt3 d`); bcc(110) has 4 at :math:`a\\sqrt3/2`,
    then 2 at :math:`a` (15 % farther). Neighbours within ``tol`` · nearest are counted.
    Close-packed stacking: layer :math:`i+2` directly above layer :math:`i` (ABAB) is hcp,
    shifted (ABC) is fcc; that needs three layers.
    """
    if len(atoms) < 2 or not all(atoms.pbc[:2]):
        return "unknown"
    layers = slab_layers(atoms)
    if len(layers) < 2:
        return "unknown"
    ref = layers[len(layers) // 2]
    r = in_plane_image_distances(atoms, ref)
    nearest = float(r[r > 1e-6].min())
    coordination = int(np.median(((r > 1e-6) & (r <= tol * nearest)).sum(axis=1)))
    if coordination == 4:
        return "bcc"
    if coordination != 6 or len(layers) < 3:
        return "unknown"
    lateral = in_plane_distances(atoms, layers[0], layers[2]).min(axis=1)
    return "hcp" if float(np.median(lateral)) < 0.3 * nearest else "fcc"


# ---- derivation and checks -----------------------------------------------------------------
def composition_id_of(symbols) -> str:
    """The recipe's composition id of a structure (``ag012-au088``)."""
    from magmom.recipe.compositions import composition_id

    counts = Counter(symbols)
    n = sum(counts.values())
    els = sorted(counts)
    return composition_id(els, [counts[e] / n for e in els])


def comp_type_of(composition_id: str) -> str:
    n = len([t for t in composition_id.split("-") if t])
    if n not in TYPE_BY_ELEMENT_COUNT:
        raise BadRecord(f"composition id {composition_id!r} has {n} elements (1–6 supported)")
    return TYPE_BY_ELEMENT_COUNT[n]


def _finite_or_none(value) -> float | None:
    try:
        value = float(value)
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) else None


def to_labelled_slab(raw: RawRecord, variant_rank: Counter) -> LabelledSlab:
    """Check ``raw`` and derive the missing key-value pairs (raises :class:`BadRecord`)."""
    from ase import Atoms

    missing = [
        k
        for k, v in (
            ("magmoms", raw.magmoms),
            ("atomic_numbers", raw.numbers),
            ("positions", raw.positions),
            ("cell", raw.cell),
        )  # fmt: skip
        if v is None
    ]
    if missing:
        raise BadRecord(f"missing field(s) {', '.join(missing)}")
    numbers = np.asarray(raw.numbers).astype(int).ravel()
    positions = np.asarray(raw.positions, dtype=float)
    magmoms = np.asarray(raw.magmoms, dtype=float).ravel()
    cell = np.asarray(raw.cell, dtype=float)
    n = len(numbers)
    if n == 0:
        raise BadRecord("no atoms")
    if positions.shape != (n, 3):
        raise BadRecord(f"{n} atomic numbers but positions of shape {positions.shape}")
    if magmoms.shape != (n,):
        raise BadRecord(f"{n} atomic numbers but {magmoms.size} magnetic moments")
    if cell.shape != (3, 3):
        raise BadRecord(f"cell of shape {cell.shape}, expected (3, 3)")
    bad = np.flatnonzero(~np.isfinite(magmoms))
    if bad.size:
        raise BadRecord(f"non-finite magnetic moment(s) at atom(s) {bad.tolist()}")
    if not np.all(np.isfinite(positions)) or not np.all(np.isfinite(cell)):
        raise BadRecord("non-finite positions or cell")
    if raw.tags is not None and np.asarray(raw.tags).size not in (0, n):
        raise BadRecord(f"{n} atomic numbers but {np.asarray(raw.tags).size} tags")
    tags = None if raw.tags is None or np.asarray(raw.tags).size == 0 else np.asarray(raw.tags)
    try:
        atoms = Atoms(numbers=numbers, positions=positions, cell=cell, pbc=(True, True, False))
    except Exception as err:  # unknown atomic numbers and the like
        raise BadRecord(f"not a valid structure ({err})") from err
    if tags is not None:
        atoms.set_tags(tags.astype(int))
    if raw.pbc is not None and tuple(bool(p) for p in np.asarray(raw.pbc).ravel()) != (
        True, True, False,
    ):  # fmt: skip
        log.info("%s: pbc %s stored as (True, True, False)", raw.name, np.asarray(raw.pbc).tolist())

    info = dict(raw.info or {})
    comp = str(info.get("composition_id") or composition_id_of(atoms.get_chemical_symbols()))
    comp_type = info.get("comp_type")
    if comp_type not in COMPOSITION_TYPES:
        comp_type = comp_type_of(comp)
    lattice = info.get("lattice")
    if lattice not in ("fcc", "bcc", "hcp"):
        lattice = infer_lattice(atoms)
    placement = str(info.get("placement") or "unknown")
    if info.get("variant") is not None:
        variant = int(info["variant"])
    else:
        variant = variant_rank[comp]
    variant_rank[comp] += 1
    slab_id = str(info.get("slab_id") or f"{comp}-{lattice}-{placement}-v{variant}")
    # a row labelled by gpaw or chgnet keeps it (surrogate labels stay marked as such)
    labeller = info.get("labeller") if info.get("labeller") in LABELLERS else IMPORTED_LABELLER
    spin = info.get("spinpol")
    spinpol = bool(spin) if spin is not None else is_spin_polarised(atoms.get_chemical_symbols())
    meta = {
        "slab_id": slab_id,
        "composition_id": comp,
        "comp_type": comp_type,
        "lattice": lattice,
        "placement": placement,
        "variant": variant,
        "labeller": labeller,
        "spinpol": spinpol,
    }
    for key in ("energy", "fermi_level", "work_function"):
        value = _finite_or_none(info.get(key))
        if value is not None:
            meta[key] = value
    for key in OPTIONAL_STR_KEYS:
        if info.get(key) is not None:
            meta[key] = str(info[key])
    return LabelledSlab(atoms=atoms, magmoms=magmoms, meta=meta)


def read_source(
    path: str | Path, on_bad_record: str = "error"
) -> tuple[list[LabelledSlab], list[dict]]:
    """``(slabs, failures)`` of the dataset file ``path`` (see the module docstring)."""
    from tqdm import tqdm

    if on_bad_record not in ("error", "skip"):
        raise ValueError(
            f"config key 'dataset.on_bad_record': {on_bad_record!r} is not allowed; "
            "allowed values: error, skip"
        )
    path = Path(path)
    if not path.is_file():
        raise DatasetError(f"config key 'dataset.source': {path} does not exist")
    fmt = source_format(path)
    slabs: list[LabelledSlab] = []
    failures: list[dict] = []
    ids: set[str] = set()
    rank: Counter = Counter()
    try:
        records = list(READERS[fmt](path))
    except DatasetError:
        raise
    except Exception as err:
        raise DatasetError(
            f"{path}: cannot read it as {fmt} ({type(err).__name__}: {err})"
        ) from err
    if not records:
        raise DatasetError(f"{path} holds no records (an empty or truncated {fmt} file?)")
    for raw in tqdm(records, desc=f"importing {path.name}", unit="record"):
        try:
            slab = to_labelled_slab(raw, rank)
            if slab.meta["slab_id"] in ids:
                raise BadRecord(f"slab id {slab.meta['slab_id']!r} occurs twice")
        except BadRecord as err:
            message = f"{path}: record {raw.name}: {err}"
            if on_bad_record == "error":
                raise DatasetError(
                    message + " (set dataset.on_bad_record: skip to leave such records out)"
                ) from None
            log.warning("skipping %s", message)
            info = raw.info or {}
            failures.append(
                {
                    "slab_id": info.get("slab_id") or raw.name,
                    "composition_id": info.get("composition_id"),
                    "comp_type": info.get("comp_type"),
                    "lattice": info.get("lattice"),
                    "status": "bad_record",
                    "labeller": "imported",
                    "source": f"{path}:{raw.name}",
                    "reason": str(err),
                }
            )
            continue
        ids.add(slab.meta["slab_id"])
        slabs.append(slab)
    lattices = Counter(s.meta["lattice"] for s in slabs)
    log.info(
        "%s (%s): %d records, %d imported, %d skipped; lattices %s",
        path, fmt, len(records), len(slabs), len(failures), dict(sorted(lattices.items())),
    )  # fmt: skip
    return slabs, failures


def import_dataset(
    source: str | Path,
    outputs: Mapping[str, str | Path],
    name: str,
    on_bad_record: str = "error",
    previous: str | Path | None = None,
) -> dict:
    """Write the dataset files (``outputs``: db, failures, summary) from ``source``. On any
    error the files written before stay in place, and the message names the source, its config
    key and the state of ``previous`` (the dataset in use; default ``outputs["db"]``)."""
    previous = outputs["db"] if previous is None else previous
    with keeping_previous(previous, f"config key 'dataset.source' ({source})"):
        slabs, failures = read_source(source, on_bad_record)
        extra = {"source": str(source), "format": source_format(source)}
        return write_dataset_files(outputs, slabs, failures, name, extra)
