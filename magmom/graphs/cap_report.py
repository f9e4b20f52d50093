"""What the neighbour rule did to the graph caches of a run, read from their headers alone.

:func:`cap_summary` merges the :class:`~magmom.graphs.cap_stats.CapStats` of several caches (e.g.
train + val + test of one cutoff), :func:`cap_summaries_by_cutoff` does so per cutoff, and
:func:`cap_markdown` writes the report's paragraph and table of nominal vs effective radius;
:func:`cap_note` does so with the neighbour rule and cap the headers record.
(Above both :mod:`~magmom.graphs.cache`, which stores the statistics, and
:mod:`~magmom.graphs.cap_stats`, which accumulates them.)
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping

from magmom.graphs.cache import CacheReader
from magmom.graphs.cap_stats import CapStats


def cap_summary(paths: Iterable[str | os.PathLike]) -> CapStats:
    """The cap summary of several caches (e.g. train/val/test of one cutoff), from their headers."""
    return _summaries(paths, by_cutoff=False)[None]


def cap_summaries_by_cutoff(paths: Iterable[str | os.PathLike]) -> dict[float, CapStats]:
    """``{cutoff: summary}`` of caches of any cutoffs (grouped by their headers' ``cutoff``)."""
    return dict(sorted(_summaries(paths, by_cutoff=True).items()))


def _summaries(paths, by_cutoff: bool) -> dict:
    out: dict = {} if by_cutoff else {None: CapStats()}
    for path in paths:
        reader = CacheReader(path)
        key = float(reader.header["cutoff"]) if by_cutoff else None
        out.setdefault(key, CapStats()).merge(reader.cap_stats)
    return out


def rule_phrase(rule: str, max_neighbors: int | None) -> str:
    """What each atom keeps under ``rule`` (:mod:`magmom.graphs.neighbours`), for reports."""
    if rule == "radius":
        return "every neighbour within the cutoff (no cap)"
    if rule == "shell_complete":
        return f"its {max_neighbors} nearest neighbours plus the rest of the last one's shell"
    return f"the {max_neighbors}·N shortest edges of its slab's graph (N atoms)"


def cap_markdown(by_cutoff: Mapping[float, CapStats], rule: str, max_neighbors: int | None) -> str:
    """A Markdown paragraph and table: per cutoff, the nominal radius next to the effective one
    (median and largest farthest-kept-neighbour distance), edges per atom and capped atoms."""
    if not by_cutoff:
        return ""

    def fmt(value, spec: str, unit: str = "") -> str:
        return "–" if value is None else format(value, spec) + unit

    rows = [
        f"| {cutoff:g} Å | {fmt(s.reach_median, '.2f', ' Å')} | {fmt(s.reach_max, '.2f', ' Å')} | "
        f"{fmt(s.edges_per_atom_mean, '.1f')} | {s.edges_per_atom_max} | "
        f"{fmt(s.capped_fraction, '.1%')} | {s.atoms:,} |"
        for cutoff, s in by_cutoff.items()
    ]
    return "\n".join(
        [
            f"*Nominal and effective radius* (graph caches, all splits; neighbour rule `{rule}`): "
            f"each atom keeps {rule_phrase(rule, max_neighbors)}. The effective radius is the "
            "distance of the farthest neighbour whose message an atom receives (median over atoms, "
            "and the largest); where a cap binds it falls short of the cutoff, and the sweep then "
            "measures the cap, not the radius.",
            "",
            "| cutoff (nominal) | effective radius, median | effective radius, max "
            "| edges per atom | max | capped atoms | atoms |",
            "|---|---|---|---|---|---|---|",
            *rows,
        ]
    )


def neighbor_rule_of(paths: Iterable[str | os.PathLike]) -> tuple[str, int | None]:
    """``(neighbor_rule, max_neighbors)`` the caches were built with, from their headers; caches
    built under different rules raise ``ValueError`` naming two of them."""
    seen: dict[tuple[str, int | None], str] = {}
    for path in paths:
        header = CacheReader(path).header
        seen.setdefault((header["neighbor_rule"], header["max_neighbors"]), str(path))
    if len(seen) > 1:
        (a, pa), (b, pb) = list(seen.items())[:2]
        raise ValueError(
            f"graph caches built under different neighbour rules: {pa} ({a[0]}, max_neighbors "
            f"{a[1]}) and {pb} ({b[0]}, max_neighbors {b[1]}); rebuild them with one config"
        )
    if not seen:
        raise ValueError("no graph cache given")
    return next(iter(seen))


def cap_note(paths: Iterable[str | os.PathLike]) -> str:
    """The report's paragraph and table (:func:`cap_markdown`) of the caches at ``paths``, with
    the neighbour rule and cap their headers record."""
    paths = list(paths)
    return cap_markdown(cap_summaries_by_cutoff(paths), *neighbor_rule_of(paths))
