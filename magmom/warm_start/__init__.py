"""The DFT warm-start experiment: does a model's moment prediction make GPAW converge faster?

On ``warm_start.slabs`` held-out test slabs the same GPAW single-point SCF (the project's
plane-wave settings and SCF ladder, :mod:`magmom.dft`) is run from each start of :data:`STARTS`;
every run records SCF iterations, wall time, final energy and moments, and whether it reached the
same DFT state as the run from the converged moments.

=============  ===========================================================================
module         concept
=============  ===========================================================================
``starts``     which slabs, and the start moments of each (reads the dataset; runs the model)
``scf``        the SCF runs of one slab from every start, and the same-state comparison
=============  ===========================================================================

The report page is :mod:`magmom.evaluation.report.warm_start`.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

from magmom.dft.initial_moments import EOS, FLOOR, MATERIALS_PROJECT, floored, materials_project

log = logging.getLogger(__name__)

STARTS = (EOS, FLOOR, MATERIALS_PROJECT, "uniform", "model", "converged")
"""The starts (issue 21 item 3; moments: :mod:`magmom.warm_start.starts`): the study's EOS-table
moments (what the labeller started from, the labeller's start
:data:`magmom.dft.initial_moments.EOS`), the labeller's ``floor`` start
(:data:`magmom.dft.initial_moments.FLOOR`), the Materials Project's default
(:data:`magmom.dft.initial_moments.MATERIALS_PROJECT`), ``warm_start.uniform_magmom`` on every
atom, the model's prediction, and the slab's DFT-converged moments. Files written before
``floor`` and ``materials_project`` were added hold the other four; they still read, and a rerun
of a slab runs only the starts its work directory does not keep
(:func:`magmom.warm_start.scf.run_slab`)."""

DERIVED_STARTS = (FLOOR, MATERIALS_PROJECT)
"""The starts computed from the slab's elements and its ``eos`` moments alone, so that an older
``starts.json`` without them is completed where it is read
(:func:`complete_starts`)."""

STATES = ("same", "lower", "higher", "degenerate")
"""Where a run ends against the run from the converged moments, both at the common level
(:func:`final_state`)."""

OLD_START_NAMES = {"eos_table": EOS}
"""Start names of files written before the EOS-table start took the labeller's name (``starts.json``
of the ``warm_start_starts`` checkpoint, the per-slab records, the runs kept in a slab's
``work/``): old name → name. Readers map them with :func:`current_start_names`."""


def current_start_names(by_start: Mapping, where: str) -> dict:
    """``by_start`` (a mapping keyed by start name, read from ``where``) with every old name of
    :data:`OLD_START_NAMES` replaced by its current one, order kept; a mapping that holds one
    start under both names is refused."""
    out = {}
    for name, value in by_start.items():
        new = OLD_START_NAMES.get(name, name)
        if new in out:
            raise ValueError(
                f"{where}: start {new!r} appears twice, once under an old name "
                f"({', '.join(k for k, v in OLD_START_NAMES.items() if v == new)})"
            )
        out[new] = value
    return out


def current_record(record: Mapping, where: str) -> dict:
    """A per-slab warm-start record (:mod:`magmom.warm_start.scf`, read from ``where``) with
    current start names in ``runs`` and ``parallel.layout`` (records of schema 2 call the
    EOS-table start ``eos_table``)."""
    out = dict(record)
    out["runs"] = current_start_names(record.get("runs", {}), where)
    parallel = record.get("parallel")
    if isinstance(parallel, Mapping) and "layout" in parallel:
        out["parallel"] = {**parallel, "layout": current_start_names(parallel["layout"], where)}
    return out


def current_starts_entry(entry: Mapping, where: str) -> dict:
    """One slab's entry of ``starts.json`` (read from ``where``) with current start names."""
    return {**entry, "starts": current_start_names(entry["starts"], where)}


def final_state(same_state: bool | None, de: float | None, max_abs_de: float) -> str | None:
    """The :data:`STATES` entry of a run: ``same`` (``same_state``), else by the energy at the
    common level against the converged run's, :math:`\\Delta E` = ``de`` (eV): ``lower`` below
    :math:`-\\delta_E` (``max_abs_de``), ``higher`` above :math:`+\\delta_E`, ``degenerate``
    within it (other moments at the same energy); None when there is no comparison."""
    if same_state is None or de is None:
        return None
    if same_state:
        return "same"
    if de < -max_abs_de:
        return "lower"
    return "higher" if de > max_abs_de else "degenerate"


def derived_starts(symbols, eos) -> dict[str, list[float]]:
    """The starts of :data:`magmom.warm_start.DERIVED_STARTS` of a slab of ``symbols`` whose
    ``eos`` start is ``eos`` (μB per atom)."""
    return {
        FLOOR: floored(symbols, eos).tolist(),
        MATERIALS_PROJECT: materials_project(symbols).tolist(),
    }


def complete_starts(entry: Mapping, where: str) -> dict:
    """One slab's ``starts.json`` entry (current start names, read from ``where``) with every
    start of :data:`magmom.warm_start.DERIVED_STARTS` it lacks computed from its structure's
    elements and ``eos`` moments (entries written before those starts existed)."""
    starts = dict(entry["starts"])
    missing = [name for name in DERIVED_STARTS if name not in starts]
    if not missing:
        return dict(entry)
    if starts.get(EOS) is None:
        raise ValueError(f"{where}: no {EOS!r} start to derive {', '.join(missing)} from")
    from ase.data import chemical_symbols

    symbols = [chemical_symbols[int(z)] for z in entry["structure"]["numbers"]]
    if len(symbols) != len(starts[EOS]):
        raise ValueError(f"{where}: {len(starts[EOS])} {EOS!r} moments for {len(symbols)} atoms")
    derived = derived_starts(symbols, starts[EOS])
    log.info("%s: %s computed from the %s start (not in the file)", where, ", ".join(missing), EOS)
    return {**entry, "starts": {**starts, **{name: derived[name] for name in missing}}}
