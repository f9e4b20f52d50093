"""The magmom21 slab recipe: compositions, ordered prototypes, lattice table, geometry, manifest.

=================== =====================================================================
module              concept
=================== =====================================================================
``seeds``           randomness keyed by names (stable across runs and config edits)
``study_tables``    the study's published tables as the recipe (``recipe.source: study_tables``)
``table_files``     where those tables are, and the fingerprint of their bytes (light)
``compositions``    generator: random-alloy compositions, size filter, lattice vote, ids
``ordered``         generator: dilute / binary-prototype / Heusler rows; their decorations
``lattice_table``   the EOS lattice-constant + initial-moment table, loader and fallback
``slab_spec``       one manifest row (``SlabSpec``), slab ids, sizes, atom counts, canonical order
``manifest``        the recipe's slabs from either source, the per-type subset of presets, the CSV
``slabs``           slab geometry (``build_slab``) and the initial-structure ASE db
``index``           ``slab_index``: the cached slab-id list used at Snakefile parse time
``stage``           the work of rule ``slab_recipe`` (manifest CSV + initial-structure db)
=================== =====================================================================

Only ``index`` is imported eagerly (it is on the Snakefile's parse path); the other names load on
first use.
"""

from __future__ import annotations

from magmom.lazy import lazy_getattr

from .index import slab_index

_LAZY = {
    "composition_id": "compositions",
    "random_alloy_compositions": "compositions",
    "lattice_vote": "compositions",
    "COMPOSITION_TYPES": "compositions",
    "ordered_structures": "ordered",
    "load_lattice_table": "lattice_table",
    "reference_lattice_table": "lattice_table",
    "complete_lattice_table": "lattice_table",
    "write_lattice_table": "lattice_table",
    "DEFAULT_MAGMOM": "lattice_table",
    "study_table_slabs": "study_tables",
    "RecipeTableError": "table_files",
    "SlabSpec": "manifest",
    "enumerate_slabs": "manifest",
    "recipe_slabs": "manifest",
    "read_manifest": "manifest",
    "write_manifest": "manifest",
    "type_summary": "manifest",
    "build_slab": "slabs",
    "write_initial_slabs": "slabs",
    "required_lattice_entries": "stage",
    "run_slab_recipe": "stage",
}

__all__ = ["slab_index", *_LAZY]

__getattr__ = lazy_getattr(__name__, _LAZY)
