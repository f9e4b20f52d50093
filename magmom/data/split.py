"""Leakage-free train/val/test split, stratified by composition type and grouped by composition.

The unit of assignment is the **composition** (``composition_id``): every slab of one composition —
all its variants, lattices and placements — lands in the same split, so no test composition is
ever seen in training. Compositions are stratified by their composition type so each type appears
in every split in the configured proportions.

Algorithm, for fractions :math:`f = (f_\\text{train}, f_\\text{val}, f_\\text{test})` and seed
:math:`s`:

1. Group the slabs by ``composition_id``. The type of a slab is read from its own dataset row
   (``comp_type``); a missing type is an error naming the slab, never an "unknown" stratum. The
   stratum of a composition is its type, or ``"a+b"`` (sorted, joined by ``+``) in the rare case
   that one composition id occurs under several types (e.g. a random 50/50 binary and an L1_0
   prototype of the same two metals): such a composition still stays in one split.
2. In each stratum with :math:`n` compositions the split sizes are the largest-remainder
   (Hamilton) apportionment of :math:`n f`: :math:`\\lfloor n f_k \\rfloor` each, and the
   remaining compositions go to the largest remainders (ties: train, val, test).
3. **Tiny strata**: a stratum whose apportionment would leave a split with :math:`f_k > 0` empty
   (for 80/10/10 that is any stratum of fewer than 7 compositions, in particular every stratum with
   fewer compositions than splits) is not split on its own — all such strata are pooled into one
   stratum ``"(pooled)"`` that is apportioned as in 2, and then, if it holds at least as many
   compositions as there are non-empty fractions, each such split receives at least one
   composition (taken from the largest split). A small preset therefore still gets non-empty
   validation and test sets, and a large dataset is unaffected.
4. Within a stratum the compositions are sorted by id and shuffled with a generator seeded by
   ``sha256(f"{s}:{stratum}")``; the first :math:`n_\\text{train}` go to train, the next
   :math:`n_\\text{val}` to val, the rest to test. Seeding per stratum keeps a stratum's assignment
   independent of which other strata exist.

The output table has one row per slab (``slab_id, composition_id, type, split``) sorted by slab
id; the same dataset and seed give the same bytes.
"""

from __future__ import annotations

import csv
import hashlib
import io
import os
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from magmom.layout import SPLITS

POOLED = "(pooled)"
COLUMNS: tuple[str, ...] = ("slab_id", "composition_id", "type", "split")


class SplitError(ValueError):
    """The dataset or split table cannot be split/read; the message names the file and slab."""


@dataclass(frozen=True)
class SlabKey:
    """What the split needs to know about one slab."""

    slab_id: str
    composition_id: str
    comp_type: str


def apportion(n: int, fractions: Sequence[float]) -> list[int]:
    """Largest-remainder apportionment of ``n`` items to ``fractions`` (ties: earlier first)."""
    quotas = [n * f for f in fractions]
    counts = [int(np.floor(q + 1e-9)) for q in quotas]
    remainders = [q - c for q, c in zip(quotas, counts, strict=True)]
    order = sorted(range(len(fractions)), key=lambda k: (-round(remainders[k], 9), k))
    for k in order[: n - sum(counts)]:
        counts[k] += 1
    return counts


def _leaves_split_empty(counts: Sequence[int], fractions: Sequence[float]) -> bool:
    return any(c == 0 and f > 0 for c, f in zip(counts, fractions, strict=True))


def _ensure_one_each(counts: list[int], fractions: Sequence[float]) -> list[int]:
    """Give every split with a positive fraction at least one item, taken from the largest."""
    wanted = [k for k, f in enumerate(fractions) if f > 0]
    if sum(counts) < len(wanted):
        return counts
    counts = list(counts)
    for k in wanted:
        if counts[k] == 0:
            donor = max(range(len(counts)), key=lambda m: (counts[m], -m))
            counts[donor] -= 1
            counts[k] += 1
    return counts


def _stratum_rng(seed: int, stratum: str) -> np.random.Generator:
    digest = hashlib.sha256(f"{seed}:{stratum}".encode()).digest()
    return np.random.default_rng(int.from_bytes(digest[:8], "little"))


def assign_splits(
    slabs: Iterable[SlabKey],
    fractions: Sequence[float] = (0.8, 0.1, 0.1),
    seed: int = 42,
) -> dict[str, str]:
    """Map every composition id to ``"train"``, ``"val"`` or ``"test"`` (see module docstring)."""
    fractions = tuple(float(f) for f in fractions)
    if len(fractions) != len(SPLITS) or not np.isclose(sum(fractions), 1.0) or min(fractions) < 0:
        raise SplitError(f"split fractions {fractions} must be 3 non-negative numbers summing to 1")
    types: dict[str, set[str]] = defaultdict(set)
    for slab in slabs:
        types[slab.composition_id].add(slab.comp_type)
    strata: dict[str, list[str]] = defaultdict(list)
    for comp, comp_types in types.items():
        strata["+".join(sorted(comp_types))].append(comp)

    plan: dict[str, tuple[list[str], list[int]]] = {}
    pooled: list[str] = []
    for stratum, comps in strata.items():
        counts = apportion(len(comps), fractions)
        if _leaves_split_empty(counts, fractions):
            pooled.extend(comps)
        else:
            plan[stratum] = (comps, counts)
    if pooled:
        counts = _ensure_one_each(apportion(len(pooled), fractions), fractions)
        plan[POOLED] = (pooled, counts)

    assignment: dict[str, str] = {}
    for stratum in sorted(plan):
        comps, counts = plan[stratum]
        ordered = sorted(comps)
        shuffled = [ordered[k] for k in _stratum_rng(seed, stratum).permutation(len(ordered))]
        bounds = np.cumsum(counts)
        for rank, comp in enumerate(shuffled):
            assignment[comp] = SPLITS[int(np.searchsorted(bounds, rank, side="right"))]
    return assignment


def split_table(
    slabs: Iterable[SlabKey], fractions: Sequence[float] = (0.8, 0.1, 0.1), seed: int = 42
) -> list[dict[str, str]]:
    """One row per slab (``slab_id, composition_id, type, split``), sorted by slab id."""
    slabs = list(slabs)
    seen: dict[str, SlabKey] = {}
    for slab in slabs:
        if slab.slab_id in seen:
            raise SplitError(f"slab id {slab.slab_id!r} occurs twice in the dataset")
        seen[slab.slab_id] = slab
    assignment = assign_splits(slabs, fractions, seed)
    return [
        {
            "slab_id": s.slab_id,
            "composition_id": s.composition_id,
            "type": s.comp_type,
            "split": assignment[s.composition_id],
        }
        for s in sorted(slabs, key=lambda s: s.slab_id)
    ]


def slab_keys_from_dataset(path: str | os.PathLike) -> list[SlabKey]:
    """Slab id, composition id and composition type of every row of a labelled dataset (ASE db).

    Raises :class:`SplitError` naming the file and the slab when a row lacks one of them.
    """
    from magmom.data.dataset import iter_labelled_slabs

    keys = []
    for index, slab in enumerate(iter_labelled_slabs(path)):
        meta = slab.meta
        slab_id = meta.get("slab_id")
        if not slab_id:
            raise SplitError(f"{path}: row {index + 1} has no 'slab_id' key-value pair")
        for key in ("composition_id", "comp_type"):
            if not meta.get(key):
                raise SplitError(
                    f"{path}: slab {slab_id!r} has no {key!r} key-value pair; the dataset "
                    f"contract (docs/architecture.md) requires it, so the split cannot place it"
                )
        keys.append(SlabKey(str(slab_id), str(meta["composition_id"]), str(meta["comp_type"])))
    if not keys:
        raise SplitError(f"{path}: the dataset holds no slabs to split")
    return keys


def format_split_csv(rows: Iterable[Mapping[str, str]]) -> str:
    """The split table as CSV text with ``\\n`` line ends (stable bytes)."""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({c: row[c] for c in COLUMNS})
    return buf.getvalue()


def read_split(path: str | os.PathLike) -> dict[str, str]:
    """``{slab_id: split}`` from a split file, checked for columns, split names and duplicates."""
    out: dict[str, str] = {}
    with open(path, newline="") as fh:
        reader = csv.DictReader(fh)
        missing = set(COLUMNS) - set(reader.fieldnames or ())
        if missing:
            raise SplitError(f"{path}: missing column(s) {sorted(missing)}; expected {COLUMNS}")
        for line, row in enumerate(reader, start=2):
            if row["split"] not in SPLITS:
                raise SplitError(
                    f"{path}:{line}: slab {row['slab_id']!r} has split {row['split']!r}; "
                    f"allowed: {', '.join(SPLITS)}"
                )
            if row["slab_id"] in out:
                raise SplitError(f"{path}:{line}: slab {row['slab_id']!r} listed twice")
            out[row["slab_id"]] = row["split"]
    return out


def summarise(rows: Sequence[Mapping[str, str]]) -> str:
    """Counts of slabs and compositions per type and split, as a text table for the log."""
    slabs = Counter((r["type"], r["split"]) for r in rows)
    comps: Counter = Counter()
    for t, s, _ in {(r["type"], r["split"], r["composition_id"]) for r in rows}:
        comps[(t, s)] += 1
    lines = [f"{'type':<16}" + "".join(f"{s:>16}" for s in SPLITS) + "   (slabs / compositions)"]
    for t in sorted({t for t, _ in slabs}):
        lines.append(
            f"{t:<16}" + "".join(f"{slabs[(t, s)]:>9} / {comps[(t, s)]:<4}" for s in SPLITS)
        )
    total = Counter(r["split"] for r in rows)
    n = max(len(rows), 1)
    lines.append(f"{'all':<16}" + "".join(f"{total[s]:>8} ({total[s] / n:5.1%})" for s in SPLITS))
    return "\n".join(lines)
