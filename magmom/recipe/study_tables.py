"""The study's published composition tables as the recipe (``recipe.source: study_tables``).

The two files keep the study's layout (``data/study-recipe/``, see its README for provenance):

``compositions.csv`` (random alloys)
    ``index, type, lattice_type, n_variants``, then one column per element (lower-case symbol)
    holding its mole fraction; ``type`` is pure, binary, ternary, quaternary, quinary or senary.
``ordered-compositions.csv`` (ordered structures)
    ``index, type, lattice_type, placement, nx, ny, nz, n_variants``, then the element columns;
    ``type`` is dilute_1, dilute_2, binary_proto or ternary_proto.

Each row becomes ``n_variants`` slabs with the same ids the generator gives the same row
(:func:`magmom.recipe.slab_spec.make_slab_id`), so the two sources are interchangeable row for row.
Random-alloy rows take their slab size from ``recipe.random_alloys.size`` (the table has none);
ordered rows carry theirs (``nx ny nz``). Role order of the elements is read from the fractions:
dilute host = the majority element; binary prototypes A, B alphabetical (``a3b``: A holds 3/4);
Heusler X = the element at 1/2, then Y, Z alphabetical. Rows holding an element outside
``recipe.elements`` are left out (all 21 metals: none).

Every row is checked when the tables are read (the Snakefile's parse, before any job): a header
that is not the layout, an unknown element column, a type, lattice or placement outside the
vocabulary, non-integer sizes, fractions that are not numbers in [0, 1], do not sum to 1, hold the
wrong number of elements, or do not give the placement's whole atom counts, and duplicate rows
raise :class:`RecipeTableError` naming the file, the line (and the row's ``index``) and the column.

Relative paths in ``recipe.study_tables`` are resolved against the repository (the directory
holding the Snakefile), where the study's tables ship; absolute paths are used as they are.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from magmom.layout import ELEMENTS, LATTICES

from .compositions import N_COMPONENTS, RANDOM_ALLOY_TYPES, composition_id
from .ordered import (
    BINARY_PROTOTYPES,
    DILUTE_PLACEMENTS,
    TERNARY_PROTO_LATTICE,
    TERNARY_PROTOTYPES,
    OrderedStructure,
)
from .slab_spec import (
    SlabSpec,
    canonical_order,
    make_slab_id,
    ordered_spec,
    random_alloy_spec,
    size_label,
)
from .table_files import RecipeTableError, table_paths

TABLES: dict[str, tuple[str, ...]] = {
    "compositions": ("index", "type", "lattice_type", "n_variants"),
    "ordered": ("index", "type", "lattice_type", "placement", "nx", "ny", "nz", "n_variants"),
}
"""The two tables (keys of ``recipe.study_tables``) and their leading columns, in order."""

PLACEMENTS: dict[str, tuple[str, ...]] = {
    **DILUTE_PLACEMENTS,
    "binary_proto": tuple(BINARY_PROTOTYPES),
    "ternary_proto": TERNARY_PROTOTYPES,
}
ORDERED_N_ELEMENTS = {"dilute_1": 2, "dilute_2": 2, "binary_proto": 2, "ternary_proto": 3}
_SYMBOL = {el.lower(): el for el in ELEMENTS}
_SUM_TOLERANCE = 1e-5  # six printed decimals on up to 21 columns
_COUNT_TOLERANCE = 1e-3  # atoms
_MAX_REPORTED = 20


@dataclass(frozen=True)
class TableRow:
    """One validated table row; ``elements`` alphabetical, ``fractions`` in the same order."""

    path: str
    line: int
    index: int
    comp_type: str  # the table's column ``type``
    lattice: str
    placement: str
    size: tuple[int, int, int] | None
    variants: int
    elements: tuple[str, ...]
    fractions: tuple[float, ...]


class _Problems:
    def __init__(self, path: Path):
        self.path = path
        self.messages: list[str] = []

    def add(self, line: int, index: str | None, column: str | None, what: str) -> None:
        where = f"line {line}" + (f" (index {index})" if index not in (None, "") else "")
        if column is not None:
            where += f", column '{column}'"
        self.messages.append(f"{where}: {what}")

    def raise_if_any(self) -> None:
        if not self.messages:
            return
        shown = self.messages[:_MAX_REPORTED]
        more = len(self.messages) - len(shown)
        raise RecipeTableError(
            f"recipe table {self.path}: {len(self.messages)} problem(s)\n  "
            + "\n  ".join(shown)
            + (f"\n  ... and {more} more" if more else "")
        )


def _positive_int(text: str) -> int | None:
    try:
        value = int(text)
    except ValueError:
        return None
    return value if value >= 1 else None


def _check_header(header: Sequence[str], lead: Sequence[str], problems: _Problems) -> list[str]:
    """The element symbols of the element columns (problems recorded on line 1)."""
    header = [h.strip() for h in header]
    for i, expected in enumerate(lead):
        got = header[i] if i < len(header) else None
        if got != expected:
            problems.add(
                1, None, got if got is not None else f"#{i + 1}",
                f"column {i + 1} must be {expected!r} (layout: {', '.join(lead)}, then one "
                "column per element)",
            )  # fmt: skip
    symbols = []
    for name in header[len(lead) :]:
        if name not in _SYMBOL:
            problems.add(
                1, None, name,
                f"not an element column; allowed: {', '.join(sorted(_SYMBOL))}",
            )  # fmt: skip
        elif _SYMBOL[name] in symbols:
            problems.add(1, None, name, "element column repeated")
        symbols.append(_SYMBOL.get(name, name))
    if len(header) == len(lead):
        problems.add(1, None, None, "no element columns")
    return symbols


def _role_problem(row: TableRow, n_atoms: int) -> tuple[str, str] | None:
    """(column, message) when the counts do not fit the row's ordered placement."""
    counts = [x * n_atoms for x in row.fractions]
    if any(abs(c - round(c)) > _COUNT_TOLERANCE for c in counts):
        shown = ", ".join(f"{e} {c:.3f}" for e, c in zip(row.elements, counts, strict=True))
        return "nx/ny/nz", f"fractions give non-integer atom counts on {n_atoms} atoms ({shown})"
    counts = sorted(round(c) for c in counts)
    if row.comp_type in DILUTE_PLACEMENTS:
        k = 1 if row.comp_type == "dilute_1" else 2
        if counts[0] != k:
            return (
                "placement",
                f"{row.comp_type} needs {k} solute atom(s), the fractions give {counts}",
            )
    elif row.comp_type == "binary_proto":
        first = round(row.fractions[0] * n_atoms)
        want = {"a3b": 3 * n_atoms / 4, "ab3": n_atoms / 4}.get(row.placement.rsplit("_", 1)[1])
        want = n_atoms / 2 if want is None else want
        if first != want:
            return (
                "placement",
                f"{row.placement} needs {want:g} of {n_atoms} atoms of {row.elements[0]} "
                f"(alphabetically first), the fractions give {first}",
            )
    elif row.comp_type == "ternary_proto" and counts != [n_atoms // 4, n_atoms // 4, n_atoms // 2]:
        return "placement", f"X2YZ needs 1/2, 1/4, 1/4 of {n_atoms} atoms, got {counts}"
    return None


class _RowParser:
    """Checks one data line of a table; every problem is recorded with its line and column."""

    def __init__(self, path: Path, key: str, header: list[str], symbols: list[str], problems):
        self.path, self.key, self.header, self.symbols = path, key, header, symbols
        self.lead = TABLES[key]
        self.ordered = key == "ordered"
        self.types = tuple(PLACEMENTS) if self.ordered else RANDOM_ALLOY_TYPES
        self.problems = problems

    def parse(self, line: int, fields: list[str]) -> TableRow | None:
        index = fields[0].strip()
        before = len(self.problems.messages)

        def bad(column: str | None, what: str) -> None:
            self.problems.add(line, index, column, what)

        if len(fields) != len(self.header):
            bad(None, f"{len(fields)} fields, the header has {len(self.header)}")
            return None
        rec = dict(zip(self.lead, (f.strip() for f in fields[: len(self.lead)]), strict=True))
        try:
            int(index)
        except ValueError:
            bad("index", f"{index!r} is not an integer")
        comp_type, lattice = rec["type"], rec["lattice_type"]
        if comp_type not in self.types:
            bad("type", f"{comp_type!r} is not allowed; allowed: {', '.join(self.types)}")
        if lattice not in LATTICES:
            bad("lattice_type", f"{lattice!r} is not allowed; allowed: {', '.join(LATTICES)}")
        placement, size = ("pure" if comp_type == "pure" else "random"), None
        if self.ordered:
            placement = rec["placement"]
            allowed = PLACEMENTS.get(comp_type)
            if allowed is not None and placement not in allowed:
                bad(
                    "placement",
                    f"{placement!r} is not a {comp_type} placement; allowed: {', '.join(allowed)}",
                )
            want = BINARY_PROTOTYPES.get(placement) or (
                TERNARY_PROTO_LATTICE if placement in TERNARY_PROTOTYPES else None
            )
            if want and lattice in LATTICES and lattice != want:
                bad("lattice_type", f"{placement} is built on {want}, not {lattice}")
            dims = [_positive_int(rec[col]) for col in ("nx", "ny", "nz")]
            for col, v in zip(("nx", "ny", "nz"), dims, strict=True):
                if v is None:
                    bad(col, f"{rec[col]!r} is not a positive integer")
            size = tuple(v or 1 for v in dims)
        variants = _positive_int(rec["n_variants"])
        if variants is None:
            bad("n_variants", f"{rec['n_variants']!r} is not a positive integer")
        elements, fractions = [], []
        n_lead = len(self.lead)
        for col, sym, text in zip(self.header[n_lead:], self.symbols, fields[n_lead:], strict=True):
            try:
                x = float(text)
            except ValueError:
                bad(col.strip(), f"{text!r} is not a number")
                continue
            if not (0.0 <= x <= 1.0) or math.isnan(x):
                bad(col.strip(), f"fraction {text} outside [0, 1]")
            elif x > 0.0:
                elements.append(sym)
                fractions.append(x)
        if len(self.problems.messages) > before:
            return None
        cols = ", ".join(e.lower() for e in elements) or "none"
        total = sum(fractions)
        if abs(total - 1.0) > _SUM_TOLERANCE:
            bad(cols, f"fractions sum to {total:.6f}, must sum to 1")
            return None
        need = ORDERED_N_ELEMENTS[comp_type] if self.ordered else N_COMPONENTS[comp_type]
        if len(elements) != need:
            bad(
                cols,
                f"{len(elements)} element(s) with a non-zero fraction; {comp_type} needs {need}",
            )
            return None
        order = sorted(range(len(elements)), key=lambda i: elements[i])
        row = TableRow(
            str(self.path), line, int(index), comp_type, lattice, placement, size, variants,
            tuple(elements[i] for i in order), tuple(fractions[i] for i in order),
        )  # fmt: skip
        if self.ordered:
            issue = _role_problem(row, size[0] * size[1] * size[2])
            if issue:
                bad(*issue)
                return None
        return row


def read_table(path: str | Path, key: str) -> list[TableRow]:
    """The validated rows of one table (``key``: ``compositions`` or ``ordered``)."""
    path = Path(path)
    problems = _Problems(path)
    try:
        fh = open(path, newline="", encoding="utf-8")
    except FileNotFoundError:
        raise RecipeTableError(
            f"config key 'recipe.study_tables.{key}': file not found: {path}"
        ) from None
    rows: list[TableRow] = []
    seen: dict[tuple, int] = {}
    with fh:
        reader = csv.reader(fh)
        header = next(reader, None)
        if header is None:
            problems.add(1, None, None, "empty file (expected the header line)")
            problems.raise_if_any()
        symbols = _check_header(header, TABLES[key], problems)
        problems.raise_if_any()
        parser = _RowParser(path, key, header, symbols, problems)
        for line, fields in enumerate(reader, start=2):
            if not fields:
                continue
            row = parser.parse(line, fields)
            if row is None:
                continue
            ident = (row.comp_type, row.lattice, row.placement, row.size, row.elements,
                     tuple(round(x, 5) for x in row.fractions))  # fmt: skip
            if ident in seen:
                problems.add(line, str(row.index), None, f"repeats the row on line {seen[ident]}")
                continue
            seen[ident] = line
            rows.append(row)
    problems.raise_if_any()
    return rows


def ordered_roles(row: TableRow, n_atoms: int) -> OrderedStructure:
    """The row as an :class:`OrderedStructure`, elements in role order (host first, X first)."""
    counts = {e: round(x * n_atoms) for e, x in zip(row.elements, row.fractions, strict=True)}
    if row.comp_type in DILUTE_PLACEMENTS:
        roles = tuple(sorted(row.elements, key=lambda e: (-counts[e], e)))
    elif row.comp_type == "ternary_proto":
        x = max(row.elements, key=lambda e: (counts[e], e))
        roles = (x, *sorted(e for e in row.elements if e != x))
    else:
        roles = row.elements
    return OrderedStructure(
        row.comp_type, row.placement, row.lattice, roles, tuple(counts[e] for e in roles)
    )


def table_rows(recipe: Mapping) -> dict[str, list[TableRow]]:
    """Both tables' validated rows, keyed like ``recipe.study_tables``."""
    return {key: read_table(path, key) for key, path in table_paths(recipe).items()}


def study_table_slabs(recipe: Mapping) -> list[SlabSpec]:
    """Every slab of the study's tables whose elements are all in ``recipe.elements``."""
    allowed = set(recipe["elements"])
    ra_size, ra_n = size_label(recipe["random_alloys"]["size"])
    rows = table_rows(recipe)
    specs: list[SlabSpec] = []
    origin: dict[str, TableRow] = {}

    def add(spec: SlabSpec, row: TableRow) -> None:
        first = origin.setdefault(spec.slab_id, row)
        if first is not row:
            raise RecipeTableError(
                f"recipe table {row.path}: line {row.line} (index {row.index}) gives slab id "
                f"{spec.slab_id}, as does line {first.line} of {first.path} (index {first.index})"
            )
        specs.append(spec)

    for row in rows["compositions"]:
        if not allowed.issuperset(row.elements):
            continue
        comp_id = composition_id(row.elements, row.fractions)
        for v in range(row.variants):
            spec = random_alloy_spec(
                comp_id, row.comp_type, row.lattice, v, ra_size, ra_n, row.elements, row.fractions
            )
            add(spec, row)
    for row in rows["ordered"]:
        if not allowed.issuperset(row.elements):
            continue
        size, n = size_label(row.size)
        spec = ordered_spec(ordered_roles(row, n), size)
        for v in range(row.variants):
            add(spec if v == 0 else _with_variant(spec, v), row)
    return canonical_order(specs)


def _with_variant(spec: SlabSpec, variant: int) -> SlabSpec:
    return spec._replace(
        slab_id=make_slab_id(spec.composition_id, spec.lattice, spec.placement, variant),
        variant=variant,
    )
