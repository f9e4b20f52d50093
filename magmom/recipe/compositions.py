"""Random-alloy compositions of the magmom21 recipe and the lattice each one is built on.

Composition types and how many of each the full recipe enumerates:

* ``pure``: every element on its natural lattice.
* ``binary``: every pair of elements, at each configured fraction :math:`x` of the alphabetically
  first element (0.125, 0.25, 0.5, 0.75, 0.875). **Binaries are not size-filtered**: the study
  lists all 210 pairs, and the filtered choice (178 pairs) would give 1,010 instead of 1,194 binary
  rows: 6,515 instead of 6,699 random-alloy rows (the study: 6,749).
* ``ternary`` … ``senary``: ``combinations`` element sets sampled (seed, by name) among the sets
  that pass the size-mismatch filter

  .. math::
      \\frac{\\max_i r_i - \\min_i r_i}{\\min_i r_i} \\le 0.18

  on covalent radii, with ``compositions_per_combination`` distinct compositions per set. A
  composition is drawn uniformly from all ways of writing the denominator :math:`D = 64` as an
  ordered sum of :math:`k` positive integers (stars and bars: :math:`k-1` distinct cut points in
  :math:`1 \\dots D-1`), so every fraction is a multiple of :math:`1/D` and at least :math:`1/D`.

Lattice vote: each element adds its mole fraction to its natural lattice,
:math:`v_L = \\sum_{i:\\,L(i)=L} x_i`; every lattice with :math:`v_L \\ge \\max v - 0.10` is kept
(ordered fcc > hcp > bcc), so one composition may give an fcc *and* an hcp row.

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
from magmom.layout import LATTICES

from .seeds import bottom_k, stable_random

RANDOM_ALLOY_TYPES: tuple[str, ...] = (
    "pure", "binary", "ternary", "quaternary", "quinary", "senary",
)  # fmt: skip
ORDERED_TYPES: tuple[str, ...] = ("dilute_1", "dilute_2", "binary_proto", "ternary_proto")
COMPOSITION_TYPES: tuple[str, ...] = RANDOM_ALLOY_TYPES + ORDERED_TYPES
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


def iter_fractions(rng: random.Random, k: int, denominator: int) -> Iterator[tuple[int, ...]]:
    """Endless compositions of ``denominator`` into ``k`` positive parts, each drawn uniformly.

    A composition's ``k - 1`` cut points are the first distinct values of the i.i.d. uniform
    sequence ``rng.randrange(1, denominator)`` (a uniformly random (k-1)-subset of
    ``1 .. denominator-1``); consecutive compositions continue the same sequence, so the first
    ``n`` do not depend on how many are taken.
    """
    while True:
        cuts: set[int] = set()
        while len(cuts) < k - 1:
            cuts.add(rng.randrange(1, denominator))
        bounds = [0, *sorted(cuts), denominator]
        yield tuple(b - a for a, b in itertools.pairwise(bounds))


def sampled_combinations(
    elements: Sequence[str], k: int, n: int, seed: int, max_mismatch: float, comp_type: str
) -> list[tuple[str, ...]]:
    """``n`` size-filtered ``k``-element sets (all of them when fewer pass), sorted."""
    candidates = size_filtered_combinations(elements, k, max_mismatch)
    return bottom_k(candidates, n, seed, comp_type, name="-".join)


def _compositions_of(
    combo: tuple[str, ...], count: int, seed: int, comp_type: str, denominator: int
) -> list[tuple[str, tuple[float, ...]]]:
    """``count`` distinct (id, fractions) compositions of ``combo``, drawn by name."""
    k = len(combo)
    if denominator < k:
        raise ValueError(
            f"recipe.random_alloys.fraction_denominator={denominator} cannot give {k} elements a "
            f"positive fraction each (needs >= {k})"
        )
    possible = math.comb(denominator - 1, k - 1)
    count = min(count, possible)
    draws = iter_fractions(stable_random(seed, comp_type, "-".join(combo)), k, denominator)
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

    for a, b in itertools.combinations(elements, 2):
        for x in ra["binary"]["fractions"]:
            frac = (float(x), 1.0 - float(x))
            out.append(Composition("binary", (a, b), frac, lattice_vote((a, b), frac, tol)))

    denominator = int(ra["fraction_denominator"])
    for comp_type in SAMPLED_TYPES:
        spec = ra[comp_type]
        k = N_COMPONENTS[comp_type]
        combos = sampled_combinations(
            elements, k, int(spec["combinations"]), seed, recipe["size_mismatch_max"], comp_type
        )
        for combo in combos:
            for cid, frac in _compositions_of(
                combo, int(spec["compositions_per_combination"]), seed, comp_type, denominator
            ):
                out.append(Composition(comp_type, combo, frac, lattice_vote(combo, frac, tol), cid))
    return out
