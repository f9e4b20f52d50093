"""The labelled dataset: its contract, its assembly from DFT records, imports, and the split.

============= ===========================================================================
module        concept
============= ===========================================================================
``dataset``   the dataset contract (ASE db): :class:`LabelledSlab`, the reader
              :func:`iter_labelled_slabs`, the writer, the failures table and summary
``assemble``  per-slab DFT records (``<results_dir>/dft/*.json``) → the dataset
``importers`` an existing dataset (study HDF5, ASE db, extxyz) → the dataset
``split``     the leakage-free train/val/test assignment
``shipped``   finished records copied into ``data/{name}/`` (JSON + extxyz), checksums
============= ===========================================================================

Submodules are imported explicitly (``from magmom.data.dataset import ...``); importing the
package itself loads nothing.
"""
