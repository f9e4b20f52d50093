"""What a shipped DFT dataset holds and what it cost, as a Markdown block of its README.

The mini-study's labels (``data/mini/``, :mod:`magmom.data.shipped`) grow by a few slabs per
labelling session. Their counts and costs are computed here from the shipped records alone, so
the README never states a stale number: :func:`status_markdown` renders them,
:func:`write_status` puts the block between :data:`BEGIN` and :data:`END` of the dataset's
README (:func:`update_readme`: the labelling script does this whenever it ships a record), and
the shipped-labels test fails when the README's block is not the one the records give.

The block holds:

* the number of slabs labelled (``status: ok``) and their atomic moments, and the failed records;
* slabs per family × facet (with atoms and the slabs holding Cr, V or Mn), per element and per
  element group of the initial-moment policy (:data:`magmom.dft.initial_moments.ELEMENT_GROUPS`);
* which start was kept and how the starts were compared (complete, partial, single);
* the cost per slab: the record's wall time (every start; the machine's load included) and the
  SCF iterations of every start with failed ladder levels counted
  (:attr:`magmom.dft.cost_check.StartCost.scf_total`): median, 90th percentile (linear
  interpolation) and sum, and the dearest slabs.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
from ase.data import chemical_symbols

from magmom.data.shipped import README, RECORDS
from magmom.dft.cost_check import start_costs
from magmom.dft.initial_moments import ELEMENT_GROUPS, WEAK_GROUP_ELEMENTS, element_group
from magmom.dft.record import read_records
from magmom.elements import FACET
from magmom.io import write_text
from magmom.layout import COMPOSITION_TYPES, ELEMENTS

BEGIN = "<!-- shipped-status:begin (written by magmom.data.shipped_status; do not edit) -->"
END = "<!-- shipped-status:end -->"
DEAREST = 10
"""Slabs listed in the table of the dearest ones."""


def _symbols(record: Mapping) -> list[str]:
    return [chemical_symbols[z] for z in record["structure"]["numbers"]]


def slab_cost(record: Mapping) -> tuple[float, int]:
    """(wall time in s, SCF iterations) of one record: the record's total wall time and the SCF
    iterations of every start that ran, failed ladder levels included (a record without starts:
    its own ladder attempts)."""
    wall = float((record.get("wall_time") or {}).get("total") or 0.0)
    if (record.get("initial_moments") or {}).get("starts"):
        return wall, sum(c.scf_total for c in start_costs(record))
    iterations = (record.get("scf_iterations") or {}).values()
    return wall, int(sum(int(n or 0) for n in iterations))


def _n(x: float) -> str:
    return f"{x:,.0f}"


def _table(header: Sequence[str], rows: Sequence[Sequence], align: str = "") -> list[str]:
    """A Markdown table; ``align`` holds ``l`` or ``r`` per column (default: the first column
    left, the others right)."""
    align = align or "l" + "r" * (len(header) - 1)
    lines = ["| " + " | ".join(header) + " |"]
    lines.append("|" + "".join("---|" if a == "l" else "---:|" for a in align))
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return lines


def _family_table(ok: Sequence[Mapping]) -> list[str]:
    lattices = ("fcc", "bcc", "hcp")  # the column order of the README's table of planned slabs
    by_facet: Counter = Counter()
    slabs: Counter = Counter()
    atoms: Counter = Counter()
    weak: Counter = Counter()
    for r in ok:
        meta = r.get("meta") or {}
        family = meta.get("comp_type", "?")
        symbols = _symbols(r)
        by_facet[family, meta.get("lattice", "?")] += 1
        slabs[family] += 1
        atoms[family] += len(symbols)
        weak[family] += bool(set(symbols) & set(WEAK_GROUP_ELEMENTS))
    families = [f for f in COMPOSITION_TYPES if slabs[f]]
    families += sorted(f for f in slabs if f not in families)
    rows = [
        [f, *(by_facet[f, lat] for lat in lattices), slabs[f], atoms[f], weak[f]] for f in families
    ]
    total = [sum(by_facet[f, lat] for f in families) for lat in lattices]
    rows.append(["**total**", *total, len(ok), sum(atoms.values()), sum(weak.values())])
    header = ["family", *(f"{lat}({FACET[lat]})" for lat in lattices)]
    return _table([*header, "slabs", "atoms", "with Cr/V/Mn"], rows)


def _element_table(ok: Sequence[Mapping]) -> list[str]:
    slabs: Counter = Counter()
    atoms: Counter = Counter()
    for r in ok:
        symbols = _symbols(r)
        atoms.update(symbols)
        slabs.update(set(symbols))
    elements = [e for e in ELEMENTS if slabs[e]]
    missing = [e for e in ELEMENTS if not slabs[e]]
    lines = _table(
        ["element", *elements],
        [["slabs", *(slabs[e] for e in elements)], ["atoms", *(atoms[e] for e in elements)]],
    )
    if missing:
        lines += ["", f"No label yet holds {', '.join(missing)}."]
    return lines


def _group_table(ok: Sequence[Mapping]) -> list[str]:
    groups = Counter(element_group(_symbols(r)) for r in ok)
    complete = Counter(
        element_group(_symbols(r))
        for r in ok
        if (r.get("initial_moments") or {}).get("comparison") == "complete"
    )
    return _table(
        ["element group", *ELEMENT_GROUPS],
        [
            ["slabs", *(groups[g] for g in ELEMENT_GROUPS)],
            ["complete comparisons", *(complete[g] for g in ELEMENT_GROUPS)],
        ],
    )


def _counts(counter: Counter) -> str:
    return ", ".join(f"`{k}` {v}" for k, v in sorted(counter.items(), key=lambda kv: -kv[1]))


def _dearest(ok: Sequence[Mapping], costs: Mapping[str, tuple[float, int]]) -> list[str]:
    rows = []
    for r in sorted(ok, key=lambda r: -costs[r["slab_id"]][0])[:DEAREST]:
        im = r.get("initial_moments") or {}
        parts = (im.get("starts") or {}).values()
        n_starts = sum(part.get("status") != "skipped" for part in parts)
        gap = im.get("energy_gap")
        wall, iterations = costs[r["slab_id"]]
        rows.append(
            [
                f"`{r['slab_id']}`",
                len(r["structure"]["numbers"]),
                n_starts or 1,
                iterations,
                im.get("comparison", "single"),
                f"`{im.get('kept', 'none')}`",
                "–" if gap is None else _n(1000 * gap),
                _n(wall),
            ]
        )
    header = ["slab", "atoms", "starts", "SCF iterations", "comparison", "kept"]
    header += ["gap to the next start (meV)", "wall time (s)"]
    return _table(header, rows, align="lrrrllrr")


def status_markdown(records: Sequence[Mapping]) -> str:
    """The README block of the shipped ``records`` (module docstring), without the markers."""
    ok = [r for r in records if r.get("status") == "ok"]
    failed = sorted(r["slab_id"] for r in records if r.get("status") != "ok")
    n_atoms = sum(len(r["structure"]["numbers"]) for r in ok)
    lines = [
        f"**{len(ok)} slab{'' if len(ok) == 1 else 's'} labelled, {_n(n_atoms)} atomic moments**"
        + (f"; {len(failed)} failed record(s): {', '.join(failed)}." if failed else "."),
    ]
    if not ok:
        return "\n".join(lines) + "\n"
    costs = {r["slab_id"]: slab_cost(r) for r in ok}
    walls = np.array([c[0] for c in costs.values()])
    iters = np.array([c[1] for c in costs.values()])
    ims = [r.get("initial_moments") or {} for r in ok]
    kept = Counter(im.get("kept", "none") for im in ims)
    compared = Counter(im.get("comparison", "single") for im in ims)
    lines += [
        "",
        "Per family and facet:",
        "",
        *_family_table(ok),
        "",
        "Per element (slabs holding it, its atoms):",
        "",
        *_element_table(ok),
        "",
        "Per element group of the initial-moment policy (the start evidence needs 30 complete "
        "comparisons per group):",
        "",
        *_group_table(ok),
        "",
        f"Start kept: {_counts(kept)}. Comparison of the starts: {_counts(compared)}.",
        "",
        "Cost per slab (the record's wall time over all its starts, as measured on the machine "
        "that ran it; SCF iterations of every start, failed ladder levels included): median "
        f"{_n(np.median(walls))} s and {_n(np.median(iters))} iterations, 90th percentile "
        f"{_n(np.percentile(walls, 90))} s and {_n(np.percentile(iters, 90))} iterations; "
        f"{walls.sum() / 3600:.1f} wall-hours and {_n(iters.sum())} SCF iterations in all.",
        "",
        f"The {min(DEAREST, len(ok))} dearest slabs:",
        "",
        *_dearest(ok, costs),
    ]
    return "\n".join(lines) + "\n"


def _block_span(text: str, where: str) -> tuple[int, int]:
    """(first character after :data:`BEGIN` and its newline, index of :data:`END`) in ``text``."""
    start, end = text.find(BEGIN), text.find(END)
    if start < 0 or end < start:
        raise ValueError(f"{where}: no {BEGIN!r} ... {END!r} block for the status")
    return start + len(BEGIN) + 1, end


def replace_block(text: str, block: str, where: str = "README") -> str:
    """``text`` with what lies between :data:`BEGIN` and :data:`END` replaced by ``block``."""
    start, end = _block_span(text, where)
    return text[: start - 1] + "\n" + block + text[end:]


def read_block(text: str, where: str = "README") -> str:
    """What lies between :data:`BEGIN` and :data:`END` of ``text`` (the rendered block)."""
    start, end = _block_span(text, where)
    return text[start:end]


def write_status(readme: str | Path, records: Sequence[Mapping]) -> bool:
    """Write the status block of ``records`` into ``readme`` (atomic); True when it changed."""
    readme = Path(readme)
    text = readme.read_text()
    new = replace_block(text, status_markdown(records), str(readme))
    if new != text:
        write_text(readme, new)
    return new != text


def update_readme(root: str | Path) -> Path | None:
    """Rewrite the status block of ``{root}/README.md`` from the records shipped under ``root``;
    the README's path when it changed, None when it is current (or ``root`` has no README, or
    a README without the block: the labelling goes on)."""
    root = Path(root)
    readme = root / README
    if not readme.is_file() or BEGIN not in readme.read_text():
        return None
    records = read_records([root / RECORDS]) if (root / RECORDS).is_dir() else []
    return readme if write_status(readme, records) else None
