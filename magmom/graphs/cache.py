"""LMDB graph caches: an atomic writer and a checked, fork-safe reader.

File format
-----------
One LMDB environment in a single file (``subdir=False``), one unnamed database:

* keys ``b"0000000000"``, ``b"0000000001"``, ... (ten decimal digits, so byte order = index
  order): graph ``k`` of the cache, a :mod:`~magmom.graphs.record_format` record of plain arrays;
* key ``b"__header__"``: a record with the arrays ``meta`` (UTF-8 JSON, keys sorted: schema
  version, cutoff, neighbor_rule, max_neighbors, count, target, dataset/split hashes, what the
  neighbour rule did under ``"cap"``, ...), the per-element statistics of ``y``, ``stat_count``,
  ``stat_sum``, ``stat_sumsq`` (float64, 119 entries indexed by Z), and the histogram
  ``cap_reach_hist`` of the farthest kept neighbour's distance (:mod:`~magmom.graphs.cap_stats`),
  all accumulated while writing so that nobody needs a second pass over the graphs.

Nothing in the file is pickled; every value is checked by its own CRC-32 on read.

Writing is atomic: the environment is built at a temporary path beside the target and renamed onto
it after the last commit and ``fsync``; a killed build leaves no file at the target (Snakemake then
reruns it). The builder is the only user of its private temporary file, so it opens LMDB with
``lock=False``: **no ``-lock`` file is created**, neither while building nor afterwards.

Readers open the file ``readonly=True, lock=False`` (an immutable file needs no reader table, and
the cache can live on a read-only file system); a cache is never modified in place, only replaced.
The environment is opened lazily, on first use in a process, and each process keeps one handle per
file shared by all its readers (LMDB forbids opening a file twice in one process). A handle
inherited through ``fork`` is never used: the first read in a ``DataLoader`` worker closes the
inherited copy and opens the worker's own, and a pickled reader (spawn) carries no handle. On
opening, the reader checks the file size against the last page LMDB committed (reading past the end
of a truncated file would otherwise kill the process with SIGBUS), then the header's presence,
schema version and entry count and any expected header values, and raises :class:`CacheError`
naming the file and how to rebuild it.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from collections.abc import Mapping
from pathlib import Path

import lmdb
import numpy as np

from magmom.errors import FileRemedyError
from magmom.graphs.cap_stats import HEADER_ARRAY as CAP_HEADER_ARRAY
from magmom.graphs.cap_stats import AtomEdgeCounts, CapStats
from magmom.graphs.element_stats import ElementStats
from magmom.graphs.record_format import RecordError, decode, encode
from magmom.io import atomic_path

SCHEMA_VERSION = 3
"""Version of the cache schema (fields, dtypes, header keys, neighbour rules); readers reject
other versions. 2: shell-complete cap (an atom may keep more than ``max_neighbors`` edges), cap
summary in the header. 3: the header's ``neighbor_rule`` names the rule that chose the edges
(:data:`magmom.layout.NEIGHBOR_RULES`; default ``radius``, no cap). It is a param of rule
``graph_cache`` (``rules/graphs.smk``): a bump makes the next run rebuild every cache. A new
record format (:mod:`magmom.graphs.record_format`) is a new schema too."""
HEADER_KEY = b"__header__"
_INITIAL_MAP_SIZE = 1 << 30
_BATCH_BYTES = 64 << 20


class CacheError(FileRemedyError):
    """A graph cache is missing, truncated, corrupted or built for other settings.

    ``path`` is the cache, ``remedy`` ``"build"`` (it does not exist), ``"rebuild"`` (delete it
    and build it again) or None (the caller's settings, not the file, must change).
    """


def entry_key(index: int) -> bytes:
    return b"%010d" % index


def _missing(path) -> CacheError:
    return CacheError(f"graph cache {path} not found; build it", path, "build")


def _rebuild(message: str, path) -> CacheError:
    """``message`` (naming the cache) and the remedy: delete the file and build it again."""
    return CacheError(f"{message}; delete it and rebuild it", path, "rebuild")


class CacheWriter:
    """Write graph records to a new cache at ``path``; the file appears only on :meth:`close`.

    Records are appended (index = number written so far) or put at an explicit index, in any
    order; :meth:`close` checks that the indices are exactly ``0 .. count-1``. Use as a context
    manager: an exception inside the block removes the temporary file and leaves ``path``
    untouched. ``meta`` becomes the header (``count``, ``schema_version``, the cap summary
    ``cap`` and ``graphs_sha256`` are added: sha256 over the records' own sha256 digests in index
    order, a content hash that does not depend on how the dataset file was written).
    """

    def __init__(self, path: str | os.PathLike, meta: Mapping):
        self.path = Path(path)
        self.meta = dict(meta)
        self.stats = ElementStats()
        self.cap = CapStats()
        self._indices: set[int] = set()
        self._digests: dict[int, bytes] = {}  # index -> sha256 of the record (graphs_sha256)
        self._atomic = atomic_path(self.path, suffix=".lmdb")
        self._tmp = self._atomic.__enter__()
        self._map_size = _INITIAL_MAP_SIZE
        # no fsync per commit (a failed build discards the file anyway); one sync in close()
        self._env = lmdb.open(
            str(self._tmp),
            subdir=False,
            lock=False,
            map_size=self._map_size,
            sync=False,
            metasync=False,
        )
        self._batch: list[tuple[bytes, bytes]] = []
        self._batch_bytes = 0
        self._last_key = b""

    @property
    def count(self) -> int:
        return len(self._indices)

    def add(
        self,
        arrays: Mapping[str, np.ndarray],
        index: int | None = None,
        counts: AtomEdgeCounts | None = None,
    ) -> None:
        """Add one graph (arrays as produced by :func:`magmom.graphs.builder.graph_arrays`)."""
        self.add_record(encode(arrays), arrays["z"], arrays["y"], index, counts)

    def add_record(
        self,
        record: bytes,
        z: np.ndarray,
        y: np.ndarray,
        index: int | None = None,
        counts: AtomEdgeCounts | None = None,
    ) -> None:
        """Add an encoded record at ``index`` (default: the next); ``z``, ``y`` feed the element
        statistics, ``counts`` the cap summary (without them the kept edges are read back from the
        record and the number of capped atoms becomes unknown)."""
        index = self.count if index is None else int(index)
        if index < 0 or index in self._indices:
            raise ValueError(f"{self.path}: graph index {index} written twice or negative")
        self._indices.add(index)
        self._digests[index] = hashlib.sha256(record).digest()
        self.stats.add(z, y)
        self.cap.add(AtomEdgeCounts.from_arrays(decode(record)) if counts is None else counts)
        self._batch.append((entry_key(index), record))
        self._batch_bytes += len(record)
        if self._batch_bytes >= _BATCH_BYTES:
            self._flush()

    def _flush(self, extra: tuple[bytes, bytes] | None = None) -> None:
        items = sorted(self._batch) + ([extra] if extra else [])
        # LMDB's append mode (compact pages, no searches) needs keys beyond every key written
        append = bool(self._batch) and items[0][0] > self._last_key
        while True:
            try:
                with self._env.begin(write=True) as txn:
                    for key, value in items:
                        txn.put(key, value, append=append and key != HEADER_KEY)
                break
            except lmdb.MapFullError:
                self._map_size *= 2
                self._env.set_mapsize(self._map_size)
        if self._batch:
            self._last_key = max(self._last_key, items[len(self._batch) - 1][0])
        self._batch, self._batch_bytes = [], 0

    def header(self) -> dict:
        return {
            **self.meta,
            "count": self.count,
            "schema_version": SCHEMA_VERSION,
            "cap": self.cap.header_meta(),
            "graphs_sha256": hashlib.sha256(
                b"".join(self._digests[k] for k in sorted(self._digests))
            ).hexdigest(),
        }

    def close(self) -> None:
        """Write the header, sync, close and move the file into place."""
        if self._indices and max(self._indices) != self.count - 1:
            missing = min(set(range(self.count)) - self._indices)
            raise CacheError(f"{self.path}: graph {missing} of 0..{max(self._indices)} not written")
        meta = json.dumps(self.header(), sort_keys=True, allow_nan=False).encode()
        header = encode(
            {
                "meta": np.frombuffer(meta, dtype=np.uint8),
                "stat_count": self.stats.count,
                "stat_sum": self.stats.sum,
                "stat_sumsq": self.stats.sumsq,
                CAP_HEADER_ARRAY: self.cap.reach_hist,
            }
        )
        self._flush(extra=(HEADER_KEY, header))
        self._env.sync(True)
        self._env.close()
        self._atomic.__exit__(None, None, None)

    def abort(self, exc_info=None) -> None:
        """Discard the temporary file; ``path`` is left as it was."""
        self._env.close()
        if not exc_info or exc_info[0] is None:
            err = RuntimeError(f"build of {self.path} aborted")
            exc_info = (RuntimeError, err, None)
        try:
            self._atomic.__exit__(*exc_info)
        except BaseException:
            pass

    def __enter__(self) -> CacheWriter:
        return self

    def __exit__(self, *exc_info) -> None:
        if exc_info[0] is not None:
            self.abort(exc_info)
            return
        try:
            self.close()
        except BaseException as err:
            self.abort((type(err), err, err.__traceback__))
            raise


def _matches(expected, actual) -> bool:
    """Header comparison; numbers compare by value (``cutoff="8"`` matches 8.0)."""
    if isinstance(actual, int | float) and not isinstance(actual, bool):
        try:
            return math.isclose(float(expected), float(actual), rel_tol=0, abs_tol=1e-9)
        except (TypeError, ValueError):
            return False
    return expected == actual


def _open_checked(path: Path):
    """Open ``path`` read-only after checking that it is a complete LMDB file."""
    if not path.is_file():
        raise _missing(path)
    size = path.stat().st_size
    try:
        env = lmdb.open(
            str(path),
            subdir=False,
            readonly=True,
            lock=False,
            readahead=False,
            max_readers=1,
            meminit=False,
        )
    except lmdb.Error as err:
        raise _rebuild(
            f"graph cache {path} ({size} bytes) is not a valid LMDB file ({err}): truncated or "
            "corrupted",
            path,
        ) from err
    needed = (env.info()["last_pgno"] + 1) * env.stat()["psize"]
    if size < needed:
        env.close()
        raise _rebuild(
            f"graph cache {path} is truncated: {size} bytes on disk, its last committed page ends "
            f"at byte {needed}",
            path,
        )
    return env


# One read-only handle per file and process. LMDB (and py-lmdb) forbid opening one file twice in a
# process, so several readers of the same cache share a handle; a handle inherited through fork is
# never used: the first reader in the child closes the inherited copies (which only unmaps the
# child's mapping; read-only with lock=False shares no lock table) and opens its own.
_HANDLES: dict[tuple[int, int], tuple[tuple[int, int], object]] = {}
_HANDLES_PID = os.getpid()


def _shared_env(path: Path):
    global _HANDLES_PID
    if _HANDLES_PID != os.getpid():
        for _, env in _HANDLES.values():
            env.close()
        _HANDLES.clear()
        _HANDLES_PID = os.getpid()
    try:
        st = path.stat()
    except OSError as err:
        raise _missing(path) from err
    key, version = (st.st_dev, st.st_ino), (st.st_size, st.st_mtime_ns)
    known = _HANDLES.get(key)
    if known is not None and known[0] == version:
        return known[1]
    if known is not None:  # the file changed in place since it was opened
        known[1].close()
        del _HANDLES[key]
    env = _open_checked(path)
    _HANDLES[key] = (version, env)
    return env


class CacheReader:
    """Checked read access to a graph cache; safe to hand to ``DataLoader`` worker processes.

    ``expect`` holds header values the caller relies on (e.g. ``cutoff=8.0, target="abs"``); any
    difference raises :class:`CacheError` naming the file, the key and both values.
    """

    def __init__(self, path: str | os.PathLike, **expect):
        self.path = Path(path)
        self._env = None
        self._pid = None
        try:
            with self._environment().begin() as txn:
                raw = txn.get(HEADER_KEY)
                entries = txn.stat()["entries"]
        except lmdb.Error as err:
            raise _rebuild(
                f"graph cache {self.path}: unreadable ({err})",
                self.path,
            ) from err
        if raw is None:
            raise _rebuild(
                f"graph cache {self.path} has no header record: not a magmom graph cache or an "
                "interrupted build",
                self.path,
            )
        try:
            arrays = decode(raw)
            self.header = json.loads(arrays["meta"].tobytes().decode())
            self.stats = ElementStats(
                arrays["stat_count"], arrays["stat_sum"], arrays["stat_sumsq"]
            )
            version = self.header.get("schema_version")
            if version == SCHEMA_VERSION:
                self.cap_stats = CapStats.from_header(self.header["cap"], arrays[CAP_HEADER_ARRAY])
        except (RecordError, KeyError, ValueError, TypeError) as err:
            raise _rebuild(
                f"graph cache {self.path}: corrupted header ({err})",
                self.path,
            ) from err
        if version != SCHEMA_VERSION:
            raise _rebuild(
                f"graph cache {self.path} has schema version {version}, this code reads version "
                f"{SCHEMA_VERSION}",
                self.path,
            )
        if entries != self.header["count"] + 1:
            raise _rebuild(
                f"graph cache {self.path}: header says {self.header['count']} graphs but the file "
                f"holds {entries - 1}",
                self.path,
            )
        for key, value in expect.items():
            if key not in self.header:
                raise CacheError(f"graph cache {self.path}: header has no key {key!r}")
            if not _matches(value, self.header[key]):
                raise CacheError(
                    f"graph cache {self.path} was built with {key}={self.header[key]!r}, "
                    f"expected {key}={value!r}; rebuild it or fix the configuration"
                )

    def _environment(self):
        if self._env is None or self._pid != os.getpid():
            self._env = _shared_env(self.path)
            self._pid = os.getpid()
        return self._env

    def __len__(self) -> int:
        return int(self.header["count"])

    def raw(self, index: int) -> bytes:
        if not 0 <= index < len(self):
            raise IndexError(f"graph {index} out of range for {self.path} ({len(self)} graphs)")
        with self._environment().begin() as txn:
            value = txn.get(entry_key(index))
        if value is None:
            raise _rebuild(
                f"graph cache {self.path}: graph {index} is missing",
                self.path,
            )
        return value

    def arrays(self, index: int) -> dict[str, np.ndarray]:
        """Graph ``index`` as ``{name: writable numpy array}`` in its stored dtypes."""
        try:
            return decode(bytearray(self.raw(index)))
        except RecordError as err:
            raise _rebuild(
                f"graph cache {self.path}: graph {index} is corrupted ({err})",
                self.path,
            ) from err

    def raw_items(self):
        """Every stored ``(key, value)`` pair, header included, in key order (for audits)."""
        with self._environment().begin() as txn:
            yield from ((bytes(k), bytes(v)) for k, v in txn.cursor())

    def __getstate__(self):
        state = dict(self.__dict__)
        state["_env"] = None
        state["_pid"] = None
        return state
