"""The DFT stage of magmom21: equation of state, per-slab labelling, records.

===================== ===================================================================
module                concept
===================== ===================================================================
``kpoints``           Monkhorst–Pack grids from a k-point density (Å⁻¹)
``gpaw_params``       GPAW parameter dicts of the LCAO, plane-wave and bulk stages; their hash
``scf_ladder``        the 4-level SCF retry ladder and its GPAW 26.7 realisation
``moment_criterion``  the SCF convergence criterion on the magnetic moments (``magmoms``)
``prerelax``          CHGNet / UMA pre-relaxation (FixAtoms respected, pbc restored)
``staged_relaxation`` prerelax → LCAO warm-up → plane-wave LBFGS, checkpointed per stage
``surrogate``         the CHGNet surrogate labeller (``labeller: chgnet``)
``record``            the per-slab record ``<results_dir>/dft/{slab_id}.json``
``label``             one slab end to end: read the db row, label, write the record
``eos``               Birch–Murnaghan equation of state per element × lattice; lattice table
===================== ===================================================================

Names load on first use, so importing the package does not import GPAW or CHGNet.
"""

from __future__ import annotations

from magmom.lazy import lazy_getattr

_LAZY = {
    "monkhorst_pack_size": "kpoints",
    "gpaw_kpts": "kpoints",
    "lcao_params": "gpaw_params",
    "planewave_params": "gpaw_params",
    "bulk_params": "gpaw_params",
    "parameters_sha256": "gpaw_params",
    "LadderLevel": "scf_ladder",
    "ladder_from_config": "scf_ladder",
    "level_parameters": "scf_ladder",
    "prerelax": "prerelax",
    "relax_stage": "staged_relaxation",
    "run_staged_relaxation": "staged_relaxation",
    "LadderExhausted": "staged_relaxation",
    "label_with_chgnet": "surrogate",
    "read_record": "record",
    "write_record": "record",
    "atoms_from_structure": "record",
    "label_slab": "label",
    "label_slab_from_db": "label",
    "read_initial_slab": "label",
    "run_eos": "eos",
    "fit_birch_murnaghan": "eos",
    "lattice_table_from_eos": "eos",
}

__all__ = list(_LAZY)

__getattr__ = lazy_getattr(__name__, _LAZY)
