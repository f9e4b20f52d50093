"""Random-alloy compositions of the magmom21 recipe and the lattice each one is built on.

The rules are the study's, recovered from its published composition lists
(``data/study-recipe/``; ``benchmarks/recipe_vs_study.py`` checks them row by row):

* ``pure``: every element on its natural lattice.
* ``binary``: every **size-filtered** pair of elements (172 of the 210 pairs of the 21 metals), at
  each configured fraction :math:`x` of the alphabetically first element (0.125, 0.25, 0.5, 0.75,
  0.875).
* ``ternary`` … ``senary``: ``combinations`` element sets sampled (seed, by name) among the sets
  that pass the size-mismatch filter

  .. math::
      \\frac{\\max_i r_i - \\min_i r_i}{\\min_i r_i} \\le 0.18

  on the study's covalent radii (:data:`magmom.elements.COVALENT_RADIUS_PM`), with
  ``compositions_per_combination`` distinct compositions per set. Every fraction is a multiple of
  :math:`1/D` (:math:`D` = ``fraction_denominator`` = 64) and at least :math:`m/D`
  (:math:`m` = ``fraction_min_parts`` = 3). A composition reserves :math:`m` parts per element and
  shares the :math:`F = D - km` free parts by a symmetric Dirichlet draw,

  .. math::
      (w_1, \\dots, w_k) \\sim \\mathrm{Dir}(\\alpha, \\dots, \\alpha), \\qquad
      n_i = m + \\mathrm{LR}_i(F\\,w),

  where :math:`\\mathrm{LR}` is largest-remainder rounding to integers summing to :math:`F`. The
  study's draws are not published; :math:`\\alpha` = ``fraction_concentration`` = 2.5 is fitted to
  its tables (mean smallest fraction per composition, ``benchmarks/recipe_vs_study.py``).

Lattice vote: each element adds its mole fraction to its natural lattice,
:math:`v_L = \\sum_{i:\\,L(i)=L} x_i`; every lattice with :math:`v_L \\ge \\max v - 0.10` is kept,
listed fcc, hcp, bcc, so one composition may give an fcc *and* an hcp row.

Composition id: the symbols sorted alphabetically, lower case, each followed by
``round(100 x)`` as three digits (Python's round-half-even), joined by ``-``: ``ag012-au088``.
"""

from __future__ import annotations

import itertools
import math
import random
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass

from magmom.elements import NATURAL_LATTICE, covalent_radius_pm
from magmom.layout import (  # noqa: F401  (ORDERED_TYPES, COMPOSITION_TYPES: the recipe's names)
    COMPOSITION_TYPES,
    LATTICES,
    ORDERED_TYPES,
    RANDOM_ALLOY_TYPES,
)

from .seeds import bottom_k, stable_random

N_COMPONENTS: dict[str, int] = {t: k for k, t in enumerate(RANDOM_ALLOY_TYPES, start=1)}
SAMPLED_TYPES: tuple[str, ...] = ("ternary", "quaternary", "quinary", "senary")

_LATTICE_RANK = {lat: i for i, lat in enumerate(LATTICES)}


@dataclass(frozen=True)
class Composition:
    """One random-alloy composition and the lattices the vote keeps for it.

    ``elements`` are sorted alphabetically; ``fractions`` are the nominal mole fractions in the
    same order (multiples of ``1/fraction_denominator`` for the sampled types).
    """

    comp_type: str
    elements: tuple[str, ...]
    fractions: tuple[float, ...]
    lattices: tuple[str, ...]
    id: str = ""

    def __post_init__(self):
        if not self.id:
            object.__setattr__(self, "id", composition_id(self.elements, self.fractions))


def composition_id(elements: Sequence[str], fractions: Sequence[float]) -> str:
    """``('Au', 'Ag'), (0.875, 0.125)`` -> ``'ag012-au088'``."""
    if len(elements) != len(fractions):
        raise ValueError(f"{len(elements)} elements but {len(fractions)} fractions")
    pairs = zip(elements, fractions, strict=True)
    if list(elements) != sorted(elements):  # element symbols sort like their lower-case forms
        pairs = sorted(pairs)
    return "-".join([f"{sym.lower()}{round(100 * x):03d}" for sym, x in pairs])


def size_mismatch(elements: Sequence[str]) -> float:
    """:math:`(\\max r - \\min r) / \\min r` over the covalent radii of ``elements``."""
    radii = [covalent_radius_pm(e) for e in elements]
    return (max(radii) - min(radii)) / min(radii)


def passes_size_filter(elements: Sequence[str], max_mismatch: float) -> bool:
    return size_mismatch(elements) <= max_mismatch + 1e-12


def size_filtered_combinations(
    elements: Sequence[str], k: int, max_mismatch: float
) -> list[tuple[str, ...]]:
    """All ``k``-element sets passing the size filter, each sorted, in sorted order.

    Equivalent to filtering ``itertools.combinations`` but enumerates, for each smallest
    element, only the elements within ``(1 + max_mismatch)`` of its radius.
    """
    radius = {e: covalent_radius_pm(e) for e in set(elements)}
    by_radius = sorted(radius, key=lambda e: (radius[e], e))
    out = []
    for i, smallest in enumerate(by_radius):
        window = [e for e in by_radius[i + 1 :] if passes_size_filter((smallest, e), max_mismatch)]
        for rest in itertools.combinations(window, k - 1):
            out.append(tuple(sorted((smallest, *rest))))
    out.sort()
    return out


def lattice_vote(
    elements: Sequence[str], fractions: Sequence[float], tolerance: float
) -> tuple[str, ...]:
    """Lattices whose vote is within ``tolerance`` of the top vote, in the order fcc, hcp, bcc."""
    votes: dict[str, float] = {}
    for el, x in zip(elements, fractions, strict=True):
        lat = NATURAL_LATTICE[el]
        votes[lat] = votes.get(lat, 0.0) + float(x)
    top = max(votes.values())
    kept = [lat for lat, v in votes.items() if v >= top - tolerance - 1e-9]
    return tuple(sorted(kept, key=_LATTICE_RANK.__getitem__))


def largest_remainder(weights: Sequence[float], total: int) -> list[int]:
    """Non-negative integers summing to ``total``, closest to ``weights / sum(weights) * total``.

    Each gets the floor of its share; the parts still missing go to the largest remainders (ties
    to the earlier index).
    """
    s = float(sum(weights))
    raw = [total * w / s for w in weights]
    parts = [math.floor(r) for r in raw]
    short = total - sum(parts)
    for i in sorted(range(len(raw)), key=lambda j: (parts[j] - raw[j], j))[:short]:
        parts[i] += 1
    return parts


def iter_fractions(
    rng: random.Random, k: int, denominator: int, min_parts: int, concentration: float
) -> Iterator[tuple[int, ...]]:
    """Endless compositions of ``denominator`` into ``k`` parts of at least ``min_parts`` each.

    The ``denominator - k * min_parts`` free parts are shared by a symmetric Dirichlet draw of
    concentration ``concentration`` (``k`` gamma variates, normalised), rounded by largest
    remainder. ``random.Random.gammavariate`` is pure Python over ``random()``, so the stream is
    the same on every platform; consecutive compositions continue it, so the first ``n`` do not
    depend on how many are taken.
    """
    free = denominator - k * min_parts
    if free < 0:
        raise ValueError(f"{k} elements of at least {min_parts}/{denominator} exceed the whole")
    while True:
        weights = [rng.gammavariate(concentration, 1.0) for _ in range(k)]
        yield tuple(min_parts + n for n in largest_remainder(weights, free))


def sampled_combinations(
    elements: Sequence[str], k: int, n: int, seed: int, max_mismatch: float, comp_type: str
) -> list[tuple[str, ...]]:
    """``n`` size-filtered ``k``-element sets (all of them when fewer pass), sorted."""
    candidates = size_filtered_combinations(elements, k, max_mismatch)
    return bottom_k(candidates, n, seed, comp_type, name="-".join)


def _compositions_of(
    combo: tuple[str, ...], count: int, seed: int, comp_type: str, ra: Mapping
) -> list[tuple[str, tuple[float, ...]]]:
    """``count`` distinct (id, fractions) compositions of ``combo``, drawn by name."""
    k = len(combo)
    denominator = int(ra["fraction_denominator"])
    min_parts = int(ra["fraction_min_parts"])
    if denominator < k * min_parts:
        raise ValueError(
            f"recipe.random_alloys.fraction_denominator={denominator} cannot give {k} elements "
            f"at least fraction_min_parts={min_parts} parts each (needs >= {k * min_parts})"
        )
    possible = math.comb(denominator - k * min_parts + k - 1, k - 1)
    count = min(count, possible)
    rng = stable_random(seed, comp_type, "-".join(combo))
    draws = iter_fractions(rng, k, denominator, min_parts, float(ra["fraction_concentration"]))
    out: dict[str, tuple[float, ...]] = {}
    while len(out) < count:
        fractions = tuple(n / denominator for n in next(draws))
        out.setdefault(composition_id(combo, fractions), fractions)
    return list(out.items())


def random_alloy_compositions(recipe: Mapping) -> list[Composition]:
    """Every random-alloy composition of ``recipe`` (the config's ``recipe`` section)."""
    seed = int(recipe["seed"])
    elements = sorted(recipe["elements"])
    tol = float(recipe["lattice_vote_tolerance"])
    ra = recipe["random_alloys"]
    out: list[Composition] = []

    for el in elements:
        out.append(Composition("pure", (el,), (1.0,), (NATURAL_LATTICE[el],)))

    for a, b in size_filtered_combinations(elements, 2, recipe["size_mismatch_max"]):
        for x in ra["binary"]["fractions"]:
            frac = (float(x), 1.0 - float(x))
            out.append(Composition("binary", (a, b), frac, lattice_vote((a, b), frac, tol)))

    for comp_type in SAMPLED_TYPES:
        spec = ra[comp_type]
        k = N_COMPONENTS[comp_type]
        combos = sampled_combinations(
            elements, k, int(spec["combinations"]), seed, recipe["size_mismatch_max"], comp_type
        )
        for combo in combos:
            for cid, frac in _compositions_of(
                combo, int(spec["compositions_per_combination"]), seed, comp_type, ra
            ):
                out.append(Composition(comp_type, combo, frac, lattice_vote(combo, frac, tol), cid))
    return out
