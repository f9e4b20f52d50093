"""Binary record format: a set of named little-endian numpy arrays in one self-checking byte string.

Every value stored in a graph cache (graphs and the header) is one record. No pickle, no Python or
PyG class names: a record is plain bytes that any language can parse, and decoding one can only
ever produce numpy arrays of a small set of numeric dtypes.

Layout (all integers little-endian)::

    preamble   24 bytes   struct "<4sHHQII"
        magic      4s    b"MGR1"
        version    u16   FORMAT_VERSION (1)
        n_arrays   u16   number of arrays
        total_len  u64   length of the whole record in bytes
        crc32      u32   zlib.crc32 of bytes [24, total_len) (array table + payload)
        reserved   u32   0
    array table  n_arrays x 56 bytes   struct "<16s4sI4IQQ"
        name       16s   ASCII, NUL padded
        dtype      4s    numpy dtype string, NUL padded: |u1 |i1 <u2 <i2 <u4 <i4 <i8 <f4 <f8
        ndim       u32   0..4
        shape      4xu32 extents (unused trailing dims 0)
        offset     u64   byte offset of the array from the record start (multiple of 8)
        nbytes     u64   prod(shape) * itemsize
    payload    the arrays' C-order bytes, each starting on an 8-byte boundary, zero padding between

:func:`decode` checks the magic, version, length, checksum, every dtype against the whitelist and
every extent against the record length, and raises :class:`RecordError` on any mismatch, so a
truncated or corrupted value is reported instead of silently misread.
"""

from __future__ import annotations

import math
import struct
import zlib
from collections.abc import Mapping

import numpy as np

MAGIC = b"MGR1"
FORMAT_VERSION = 1
PREAMBLE = struct.Struct("<4sHHQII")
ENTRY = struct.Struct("<16s4sI4IQQ")
MAX_NDIM = 4
ALIGN = 8
DTYPES: frozenset[str] = frozenset(("|u1", "|i1", "<u2", "<i2", "<u4", "<i4", "<i8", "<f4", "<f8"))

_NUMPY_DTYPES = {name: np.dtype(name) for name in DTYPES}


class RecordError(ValueError):
    """A byte string is not a valid record (wrong magic/version, truncated, corrupted)."""


def _pad(n: int) -> int:
    return (-n) % ALIGN


def encode(arrays: Mapping[str, np.ndarray]) -> bytes:
    """Pack ``arrays`` (name -> array) into one record; names are ASCII, at most 16 bytes."""
    items = []
    for name, value in arrays.items():
        arr = np.asarray(value)
        arr = arr.astype(arr.dtype.newbyteorder("<"), copy=False)
        if arr.dtype.str not in DTYPES:
            raise TypeError(f"array {name!r}: dtype {arr.dtype.str} not allowed; allowed: {DTYPES}")
        if arr.ndim > MAX_NDIM:
            raise ValueError(f"array {name!r}: {arr.ndim} dimensions, at most {MAX_NDIM}")
        raw_name = name.encode("ascii")
        if not 0 < len(raw_name) <= 16:
            raise ValueError(f"array name {name!r} must be 1..16 ASCII bytes")
        items.append((raw_name, arr))
    table_end = PREAMBLE.size + ENTRY.size * len(items)
    offset = table_end + _pad(table_end)
    placed = []
    for raw_name, arr in items:
        placed.append((raw_name, arr, offset))
        offset += arr.nbytes + _pad(arr.nbytes)
    buf = bytearray(offset)
    for k, (raw_name, arr, start) in enumerate(placed):
        shape = list(arr.shape) + [0] * (MAX_NDIM - arr.ndim)
        ENTRY.pack_into(
            buf,
            PREAMBLE.size + ENTRY.size * k,
            raw_name,
            arr.dtype.str.encode(),
            arr.ndim,
            *shape,
            start,
            arr.nbytes,
        )
        if arr.nbytes:
            np.frombuffer(buf, dtype=arr.dtype, count=arr.size, offset=start).reshape(arr.shape)[
                ...
            ] = arr
    crc = zlib.crc32(memoryview(buf)[PREAMBLE.size :])
    PREAMBLE.pack_into(buf, 0, MAGIC, FORMAT_VERSION, len(items), offset, crc, 0)
    return bytes(buf)


def decode(buf: bytes | bytearray | memoryview) -> dict[str, np.ndarray]:
    """Unpack a record into ``{name: array}``; the arrays are views of ``buf``.

    Pass a ``bytearray`` to get writable arrays (no copy); ``bytes`` gives read-only views.
    """
    view = memoryview(buf)
    if len(view) < PREAMBLE.size:
        raise RecordError(f"record of {len(view)} bytes is shorter than its preamble")
    magic, version, n_arrays, total, crc, _ = PREAMBLE.unpack_from(view, 0)
    if magic != MAGIC:
        raise RecordError(f"bad magic {bytes(magic)!r} (expected {MAGIC!r}): not a magmom record")
    if version != FORMAT_VERSION:
        raise RecordError(f"record format version {version}, this code reads {FORMAT_VERSION}")
    if total != len(view):
        raise RecordError(f"record of {len(view)} bytes, its preamble says {total} (truncated?)")
    if zlib.crc32(view[PREAMBLE.size :]) != crc:
        raise RecordError("record checksum mismatch (corrupted data)")
    table_end = PREAMBLE.size + ENTRY.size * n_arrays
    if table_end > total:
        raise RecordError(f"array table of {n_arrays} entries runs past the record end")
    out = {}
    for k in range(n_arrays):
        raw_name, dtype, ndim, *rest = ENTRY.unpack_from(view, PREAMBLE.size + ENTRY.size * k)
        shape, (offset, nbytes) = rest[:MAX_NDIM], rest[MAX_NDIM:]
        name = raw_name.rstrip(b"\0").decode("ascii")
        dtype = dtype.rstrip(b"\0").decode("ascii")
        if dtype not in _NUMPY_DTYPES or ndim > MAX_NDIM:
            raise RecordError(f"array {name!r}: unsupported dtype {dtype!r} or ndim {ndim}")
        shape = tuple(shape[:ndim])
        dt = _NUMPY_DTYPES[dtype]
        if math.prod(shape) * dt.itemsize != nbytes:
            raise RecordError(f"array {name!r}: {nbytes} bytes do not fit shape {shape} {dtype}")
        if offset < table_end or offset + nbytes > total:
            raise RecordError(f"array {name!r}: bytes [{offset}, {offset + nbytes}) out of range")
        if nbytes == 0:
            out[name] = np.zeros(shape, dtype=dt)
        else:
            flat = np.frombuffer(view, dtype=dt, count=nbytes // dt.itemsize, offset=offset)
            out[name] = flat.reshape(shape)
    return out
