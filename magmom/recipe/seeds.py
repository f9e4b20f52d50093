"""Randomness keyed by names instead of call order.

Every random choice of the recipe (which element combinations are sampled, the fractions drawn for
a combination, the site permutation of a random-alloy slab, the subset a preset keeps) draws from
a generator seeded with the recipe seed *and the name of the thing being drawn*:

.. math::
    \\mathrm{rng}(s, n_1, \\dots, n_k) =
    \\mathrm{PRNG}\\big(\\mathrm{BLAKE2b}(s \\,\\|\\, n_1 \\,\\|\\, \\dots \\,\\|\\, n_k)\\big)

so a draw does not depend on how many other draws happened before it. Adding an element, a
composition type or a slab therefore leaves every untouched slab bit-for-bit the same.
"""

from __future__ import annotations

import hashlib
import heapq
import random

import numpy as np

_SEP = "\x1f"  # unit separator: cannot occur in element symbols, ids or type names


def _digest(parts: tuple, size: int) -> bytes:
    text = _SEP.join(str(p) for p in parts)
    return hashlib.blake2b(text.encode(), digest_size=size).digest()


def stable_hash(*parts) -> int:
    """A 64-bit integer hash of ``parts`` that is identical across runs, machines and Pythons."""
    return int.from_bytes(_digest(parts, 8), "big")


def stable_rng(*parts) -> np.random.Generator:
    """A NumPy generator seeded by the 128-bit BLAKE2b hash of ``parts`` (seed first)."""
    words = np.frombuffer(_digest(parts, 16), dtype="<u4")
    return np.random.default_rng(np.random.SeedSequence(words.tolist()))


def stable_random(*parts) -> random.Random:
    """A Mersenne-Twister ``random.Random`` seeded like :func:`stable_rng` (cheaper to create).

    Only ``getrandbits``-based methods (``randrange``) are used on it: their streams are fixed
    across Python versions.
    """
    return random.Random(int.from_bytes(_digest(parts, 16), "big"))


def bottom_k(items, k: int, *key_parts, name=str) -> list:
    """The ``k`` items with the smallest :func:`stable_hash` of ``(*key_parts, name(item))``.

    A uniform random sample without replacement (for a fixed key) whose members do not depend on
    the order of ``items``; raising ``k`` only adds members. Returned in the order of ``items``.
    """
    items = list(items)
    if k >= len(items):
        return items
    prefix = hashlib.blake2b(digest_size=8)
    prefix.update((_SEP.join(str(p) for p in key_parts) + _SEP).encode())

    def rank(i: int) -> tuple[int, int]:
        h = prefix.copy()
        h.update(str(name(items[i])).encode())
        return int.from_bytes(h.digest(), "big"), i

    keep = {i for _, i in heapq.nsmallest(k, map(rank, range(len(items))))}
    return [item for i, item in enumerate(items) if i in keep]
