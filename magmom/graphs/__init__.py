"""Graphs of labelled slabs: neighbour lists, binary record format, LMDB caches, PyG dataset.

Modules: :mod:`~magmom.graphs.neighbours` (periodic neighbour lists with the per-atom cap),
:mod:`~magmom.graphs.record_format` (pickle-free binary records), :mod:`~magmom.graphs.builder`
(slab -> graph arrays, parallel cache build), :mod:`~magmom.graphs.cache` (LMDB writer/reader with
header), :mod:`~magmom.graphs.element_stats` (per-element statistics and mean) and
:mod:`~magmom.graphs.dataset` (``GraphCache`` and ``make_loader``; imports torch).
"""

from magmom.graphs.cache import SCHEMA_VERSION, CacheError, CacheReader, CacheWriter
from magmom.graphs.element_stats import ElementStats
from magmom.graphs.neighbours import Edges, neighbor_edges
from magmom.lazy import lazy_getattr

# torch is imported only when the PyG view is asked for, so builders stay light
__getattr__ = lazy_getattr(
    __name__, {"GraphCache": "dataset", "make_loader": "dataset", "arrays_to_data": "dataset"}
)

__all__ = [
    "SCHEMA_VERSION",
    "CacheError",
    "CacheReader",
    "CacheWriter",
    "Edges",
    "ElementStats",
    "GraphCache",
    "arrays_to_data",
    "make_loader",
    "neighbor_edges",
]
