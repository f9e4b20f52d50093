"""The recipe generator against the study's published composition tables, row for row.

Validation, not timing. Enumerates ``config.yaml``'s recipe twice, once from the study's tables
(``recipe.source: study_tables``) and once from the generator (``recipe.source: generator``), and
prints

1. the exact-match table per family: a row is the (type, composition, lattice, placement, slab size,
   elements in role order, atom counts) with its number of variants; a generator row matches when
   the tables hold the same row with the same variants. Deterministic families (pure, binary,
   dilute, binary and Heusler-type prototypes) must match 100 % with no extra rows.
2. for the random families (ternary ... senary, fresh draws by the generator): counts, element sets
   in common, lattice shares of the rows, the mean smallest fraction per composition (in 1/64), and
   the share of compositions holding each element, side by side.
3. with ``--scan-concentration``: the mean smallest fraction per family for a range of
   ``recipe.random_alloys.fraction_concentration`` (how the default 2.5 was chosen).

Usage: .venv/bin/python benchmarks/recipe_vs_study.py [--scan-concentration]
"""

from __future__ import annotations

import argparse
import copy
from collections import Counter
from pathlib import Path

import yaml

from magmom.layout import ELEMENTS, LATTICES
from magmom.recipe.compositions import RANDOM_ALLOY_TYPES, SAMPLED_TYPES, random_alloy_compositions
from magmom.recipe.manifest import enumerate_slabs, recipe_rows
from magmom.recipe.ordered import DILUTE_PLACEMENTS

ROOT = Path(__file__).resolve().parents[1]
DETERMINISTIC = ("pure", "binary", *DILUTE_PLACEMENTS, "binary_proto", "ternary_proto")


def recipes() -> tuple[dict, dict]:
    recipe = yaml.safe_load((ROOT / "config.yaml").read_text())["recipe"]
    tables, generator = copy.deepcopy(recipe), copy.deepcopy(recipe)
    tables["source"], generator["source"] = "study_tables", "generator"
    return tables, generator


def exact_match(study: dict, mine: dict) -> list[tuple]:
    out = []
    for family in (*RANDOM_ALLOY_TYPES, *DILUTE_PLACEMENTS, "binary_proto", "ternary_proto"):
        s = {r: v for r, v in study.items() if r.comp_type == family}
        m = {r: v for r, v in mine.items() if r.comp_type == family}
        same = sum(1 for r, v in m.items() if s.get(r) == v)
        out.append((family, len(s), same, len(m) - same, len(s) - same))
    return out


def fractions_of(row) -> list[int]:
    counts = [int(c) for c in row.counts.split()]
    n = sum(counts)
    return [round(64 * c / n) for c in counts]


def distributions(rows: dict, family: str) -> dict:
    fam = [r for r in rows if r.comp_type == family]
    comps = {r.composition_id: r for r in fam}
    lat = Counter(r.lattice for r in fam)
    holding = Counter(e for r in comps.values() for e in r.elements.split())
    return {
        "rows": len(fam),
        "compositions": len(comps),
        "sets": {r.elements for r in comps.values()},
        "lattice": {k: lat[k] / len(fam) for k in LATTICES},
        "min64": sum(min(fractions_of(r)) for r in comps.values()) / len(comps),
        "elements": {e: holding[e] / len(comps) for e in ELEMENTS},
    }


def print_exact(table: list[tuple]) -> None:
    print("## Exact match per family (generator vs the study's tables)\n")
    print("| family | rows in the study's tables | reproduced exactly | extra rows | missing |")
    print("|---|---:|---:|---:|---:|")
    for family, n_study, same, extra, missing in table:
        kind = "" if family in DETERMINISTIC else " (random)"
        pct = 100.0 * same / n_study if n_study else 0.0
        print(
            f"| {family}{kind} | {n_study:,} | {same:,} ({pct:.1f} %) | {extra:,} | {missing:,} |"
        )
    bad = [f for f, n, same, extra, _ in table if f in DETERMINISTIC and (same != n or extra)]
    print(f"\ndeterministic families exact with no extra rows: {'yes' if not bad else bad}\n")


def print_distributions(study: dict, mine: dict) -> None:
    print("## Random families: study's tables (S) vs generator (G)\n")
    print("| family | rows S / G | element sets in common | fcc S / G | hcp S / G | bcc S / G "
          "| mean smallest fraction (/64) S / G |")  # fmt: skip
    print("|---|---|---|---|---|---|---|")
    for family in SAMPLED_TYPES:
        s, m = distributions(study, family), distributions(mine, family)
        lat = " | ".join(
            f"{100 * s['lattice'][k]:.1f} / {100 * m['lattice'][k]:.1f} %" for k in LATTICES
        )
        print(
            f"| {family} | {s['rows']:,} / {m['rows']:,} | {len(s['sets'] & m['sets'])} of "
            f"{len(s['sets'])} | {lat} | {s['min64']:.2f} / {m['min64']:.2f} |"
        )
    print("\nShare of compositions holding each element, % (S / G):\n")
    print("| element | " + " | ".join(SAMPLED_TYPES) + " |")
    print("|---|" + "---|" * len(SAMPLED_TYPES))
    dists = {f: (distributions(study, f), distributions(mine, f)) for f in SAMPLED_TYPES}
    for el in ELEMENTS:
        cells = [
            f"{100 * s['elements'][el]:.1f} / {100 * m['elements'][el]:.1f}"
            for s, m in dists.values()
        ]
        print(f"| {el} | " + " | ".join(cells) + " |")
    tvd = {
        f: 0.5 * sum(abs(s["elements"][e] - m["elements"][e]) for e in ELEMENTS) / (i + 3)
        for i, (f, (s, m)) in enumerate(dists.items())
    }
    print(
        "\ntotal-variation distance of the element shares (normalised per family): "
        + ", ".join(f"{f} {v:.3f}" for f, v in tvd.items())
    )


def scan_concentration(generator: dict, study: dict) -> None:
    print("\n## Mean smallest fraction (/64) per family vs fraction_concentration\n")
    target = {f: distributions(study, f)["min64"] for f in SAMPLED_TYPES}
    print("| alpha | " + " | ".join(SAMPLED_TYPES) + " | sum of squared relative errors |")
    print("|---|" + "---|" * (len(SAMPLED_TYPES) + 1))
    print("| study | " + " | ".join(f"{target[f]:.2f}" for f in SAMPLED_TYPES) + " | |")
    for alpha in (1.0, 1.5, 2.0, 2.5, 3.0, 3.5):
        recipe = copy.deepcopy(generator)
        recipe["random_alloys"]["fraction_concentration"] = alpha
        got: dict[str, list[int]] = {}
        for comp in random_alloy_compositions(recipe):
            if comp.comp_type in SAMPLED_TYPES:
                smallest = min(round(64 * x) for x in comp.fractions)
                got.setdefault(comp.comp_type, []).append(smallest)
        means = {f: sum(v) / len(v) for f, v in got.items()}
        err = sum(((means[f] - target[f]) / target[f]) ** 2 for f in SAMPLED_TYPES)
        print(
            f"| {alpha:g} | " + " | ".join(f"{means[f]:.2f}" for f in SAMPLED_TYPES)
            + f" | {err:.4f} |"
        )  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scan-concentration", action="store_true")
    args = parser.parse_args()
    tables, generator = recipes()
    study = recipe_rows(enumerate_slabs(tables))
    mine = recipe_rows(enumerate_slabs(generator))
    print_exact(exact_match(study, mine))
    print_distributions(study, mine)
    print(
        f"\nslabs: study's tables {sum(study.values()):,}, generator {sum(mine.values()):,}; "
        f"rows: {len(study):,} / {len(mine):,}"
    )
    if args.scan_concentration:
        scan_concentration(generator, study)


if __name__ == "__main__":
    main()
