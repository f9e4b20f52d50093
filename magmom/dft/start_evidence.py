r"""Which initial-moment starts matter, per element group, from the GPAW records (issue 21 item 2).

Every spin-polarised GPAW record (:mod:`magmom.dft.record`) keeps each start's energy and moments
at one common level (:mod:`magmom.dft.equal_settings`) and the start kept (the lowest there). For
a slab of :math:`N` atoms whose comparison is ``complete``, start :math:`s` is compared with the
kept start :math:`k`:

.. math::
    \Delta E_s = E^{\mathrm{eq}}_s - E^{\mathrm{eq}}_k \ge 0, \qquad
    \Delta m_s = \min_{\sigma = \pm 1} \max_a
        |m^{\mathrm{eq}}_{s,a} - \sigma\, m^{\mathrm{eq}}_{k,a}|

(a global spin flip is the same state without spin-orbit coupling) and its outcome is

=========== ========================================================================================
``kept``    :math:`s = k`
``same``    :math:`\Delta E_s \le \delta_E N` and :math:`\Delta m_s \le` :data:`STATE_TOLERANCE`
``other``   :math:`\Delta E_s \le \delta_E N` but :math:`\Delta m_s >`
            :data:`STATE_TOLERANCE` (another state at the same energy)
``higher``  :math:`\Delta E_s > \delta_E N`: the start ends in a higher state
=========== ========================================================================================

with :math:`\delta_E` = :data:`SAME_STATE_EV_PER_ATOM` (1 meV per atom). Why 1 meV/atom: two
starts that reach one state differ by the SCF and relaxation noise only (0.013 meV/atom between
the ``floor`` and ``eos`` starts of the shipped Fe(110) record, whose moments agree to 1e-4 μB;
≈0.0003 meV/atom on the two Cr/Fe slabs of ``benchmarks/initial_moments.py``), while the
smallest difference between two states measured so far is 5.7 meV/atom (Cr(110), ``floor``
against ``eos``; V(110) 9.6, Mn/Ni/Mn 28). A threshold per atom because the mini-study's slabs hold
12–16 atoms and the study's 64. Moving the common level's smearing width from 0.1 to 0.2 eV moves
energies by 0.5–1.7 meV/atom (issue 21), which is why the comparison is made at one level.

Slabs whose comparison is ``partial`` (a start failed, did not finish relaxing, has no energy at
the common level or left its state there) say nothing certain about which start reaches the
lower state; every start of such a slab is counted as ``partial`` (with the start's own status),
as is every start of a slab where only one start ran (``single``: the other starts duplicate it,
``skipped``). None is dropped.

The recommendation per group (:func:`recommend`): if some start ends higher on at least one
complete slab while another start reached the lower state, running several starts has been shown
to matter there; if no start ever ended higher, one start suffices only once at least
:data:`MIN_SLABS` complete slabs say so (0 misses in :math:`n` slabs bound the miss rate below
:math:`3/n` at 95 % confidence, the rule of three: 30 slabs for 10 %); with fewer, the honest answer
is "not enough evidence" and the default stays. The group ``none`` runs one start whatever the
policy (every start is the same calculation there).
"""

from __future__ import annotations

import re
import statistics
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from magmom.dft import cost_model
from magmom.dft.equal_settings import STATE_TOLERANCE
from magmom.dft.initial_moments import (
    DEFAULT_POLICY,
    ELEMENT_GROUPS,
    EOS,
    POLICY_STARTS,
    element_group,
    n_runs,
    parse_policy,
)

SAME_STATE_EV_PER_ATOM = 1e-3
"""eV per atom: two starts at equal settings within this are in the same state (module
docstring)."""

MIN_SLABS = 30
"""Complete comparisons without a miss before one start is called enough (rule of three: 3/30)."""

OUTCOMES = ("kept", "same", "other", "higher", "partial", "single", "skipped")


@dataclass(frozen=True)
class Outcome:
    """One start on one slab: ``outcome`` of :data:`OUTCOMES`; ``de`` (eV) and ``max_abs_dm``
    (μB) against the kept start at equal settings (None when not compared); ``detail``: the
    start's status on a partial or single comparison."""

    slab_id: str
    group: str
    n_atoms: int
    start: str
    outcome: str
    de: float | None = None
    max_abs_dm: float | None = None
    detail: str = ""


def record_symbols(record: Mapping) -> list[str]:
    """The record's atoms; without a structure (a slab that failed early), the elements of
    ``meta.composition_id`` (``cr022-fe045-os033``: one of each)."""
    from ase.data import chemical_symbols

    structure = record.get("structure") or {}
    if structure.get("numbers"):
        return [chemical_symbols[z] for z in structure["numbers"]]
    found = re.findall(r"([a-z]+)\d+", str((record.get("meta") or {}).get("composition_id", "")))
    symbols = [e.capitalize() for e in found]
    if not symbols or any(s not in chemical_symbols for s in symbols):
        raise ValueError(
            f"record {record.get('slab_id')!r}: no structure numbers and no composition_id "
            "in meta to read its elements from"
        )
    return symbols


def spin_flip_max_dm(a: Sequence[float], b: Sequence[float]) -> float:
    """:math:`\\min_\\sigma \\max_a |a_a - \\sigma b_a|` (μB)."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    return float(min(np.abs(a - b).max(initial=0.0), np.abs(a + b).max(initial=0.0)))


def _equal_state(part: Mapping) -> tuple[float | None, list | None]:
    eq = part.get("equal_settings") or {}
    return eq.get("energy"), eq.get("magmoms")


def slab_outcomes(record: Mapping) -> list[Outcome]:
    """Every listed start of one GPAW record and its outcome (module docstring)."""
    slab_id = record.get("slab_id", "?")
    im = record.get("initial_moments")
    if not isinstance(im, Mapping) or "starts" not in im:
        raise ValueError(f"record {slab_id!r}: no initial_moments.starts (not a GPAW record)")
    symbols = record_symbols(record)
    group, n = element_group(symbols), len(symbols)
    comparison, kept, starts = im.get("comparison"), im.get("kept"), im["starts"]
    out = []
    kept_e, kept_m = _equal_state(starts[kept]) if kept in starts else (None, None)
    for name, part in starts.items():
        status = part.get("status", "?")
        if status == "skipped":
            detail = f"duplicate of {part.get('duplicate_of')}"
            out.append(Outcome(slab_id, group, n, name, "skipped", detail=detail))
            continue
        if comparison != "complete":
            what = "single" if comparison == "single" else "partial"
            detail = status if part.get("relaxed") is not False or status != "ok" else "not relaxed"
            out.append(Outcome(slab_id, group, n, name, what, detail=detail))
            continue
        e, m = _equal_state(part)
        if name == kept:
            out.append(Outcome(slab_id, group, n, name, "kept", 0.0, 0.0))
            continue
        if e is None or kept_e is None or m is None or kept_m is None:
            raise ValueError(
                f"record {slab_id!r}: comparison 'complete' but start {name!r} or the kept "
                f"start {kept!r} has no energy or moments at the common level"
            )
        de, dm = e - kept_e, spin_flip_max_dm(m, kept_m)
        if de > SAME_STATE_EV_PER_ATOM * n:
            what = "higher"
        else:
            what = "same" if dm <= STATE_TOLERANCE else "other"
        out.append(Outcome(slab_id, group, n, name, what, de, dm))
    return out


def outcomes(records: Iterable[Mapping]) -> list[Outcome]:
    """:func:`slab_outcomes` of every GPAW record (CHGNet-surrogate records have no starts and
    are left out; :func:`surrogate_count` counts them)."""
    return [o for r in records if not r.get("surrogate") for o in slab_outcomes(r)]


@dataclass(frozen=True)
class StartStats:
    """One group x start: counts per outcome, the higher states' ΔE (meV per slab and per atom),
    the largest Δm among the ``same`` ones."""

    group: str
    start: str
    counts: Mapping[str, int]
    higher_mev: tuple[float, ...]
    higher_mev_per_atom: tuple[float, ...]
    same_max_dm: float | None

    @property
    def complete(self) -> int:
        return sum(self.counts.get(k, 0) for k in ("kept", "same", "other", "higher"))


def group_stats(found: Iterable[Outcome]) -> dict[str, dict[str, StartStats]]:
    """``{group: {start: StartStats}}`` in :data:`ELEMENT_GROUPS` order, starts in first-seen
    order."""
    by: dict[tuple[str, str], list[Outcome]] = defaultdict(list)
    for o in found:
        by[(o.group, o.start)].append(o)
    out: dict[str, dict[str, StartStats]] = {}
    for group in ELEMENT_GROUPS:
        for (g, start), items in by.items():
            if g != group:
                continue
            higher = [o for o in items if o.outcome == "higher"]
            same = [o.max_abs_dm for o in items if o.outcome == "same"]
            out.setdefault(group, {})[start] = StartStats(
                group,
                start,
                dict(Counter(o.outcome for o in items)),
                tuple(1e3 * o.de for o in higher),
                tuple(1e3 * o.de / o.n_atoms for o in higher),
                max(same) if same else None,
            )
    return out


def slab_counts(found: Iterable[Outcome]) -> dict[str, Counter]:
    """``{group: Counter(complete=, partial=, single=)}`` of slabs (not starts)."""
    seen: dict[str, set] = defaultdict(set)
    kinds: dict[str, Counter] = defaultdict(Counter)
    for o in found:
        if o.slab_id in seen[o.group] or o.outcome == "skipped":
            continue
        seen[o.group].add(o.slab_id)
        kind = o.outcome if o.outcome in ("partial", "single") else "complete"
        kinds[o.group][kind] += 1
    return {g: kinds[g] for g in ELEMENT_GROUPS if g in kinds}


@dataclass(frozen=True)
class Recommendation:
    group: str
    policy: str  # a key of POLICY_STARTS
    evidence: str  # "shown", "none needed", "not enough", "no choice"
    slabs: int  # complete comparisons behind it
    why: str


def recommend(
    stats: Mapping[str, Mapping[str, StartStats]],
    default: str = DEFAULT_POLICY,
    min_slabs: int = MIN_SLABS,
) -> dict[str, Recommendation]:
    """The policy the records support per group of :data:`ELEMENT_GROUPS` (module docstring)."""
    out = {}
    for group in ELEMENT_GROUPS:
        per_start = stats.get(group, {})
        n = max((s.complete for s in per_start.values()), default=0)
        if group == "none":
            why = "no floor applies: every start is the same calculation"
            out[group] = Recommendation(group, EOS, "no choice", n, why)
            continue
        missed = {k: len(s.higher_mev) for k, s in per_start.items() if s.complete}
        if n == 0:
            why = "no complete comparison yet"
            out[group] = Recommendation(group, default, "not enough", 0, why)
        elif any(missed.values()):
            lists = ", ".join(f"`{k}` higher on {v}" for k, v in missed.items())
            why = f"{lists} of {n} slabs"
            out[group] = Recommendation(group, _policy_of(missed, default), "shown", n, why)
        elif n >= min_slabs:
            why = f"no start higher on {n} slabs (miss rate < {3 / n:.0%} at 95 %)"
            out[group] = Recommendation(group, EOS, "none needed", n, why)
        else:
            why = (
                f"no start higher on {n} slab{'s' * (n != 1)}; {min_slabs} needed to bound "
                f"the miss rate below {3 / min_slabs:.0%} (95 %)"
            )
            out[group] = Recommendation(group, default, "not enough", n, why)
    return out


def _policy_of(starts: Iterable[str], default: str) -> str:
    """The policy that runs exactly ``starts`` (those compared in a group where one was shown to
    end higher: each may be the one that wins elsewhere, e.g. ``inplane_afm`` on Mn slabs), or
    ``default`` when no policy does."""
    wanted = set(starts)
    return next((p for p, s in POLICY_STARTS.items() if set(s) == wanted), default)


def policy_string(recs: Mapping[str, Recommendation], default: str = DEFAULT_POLICY) -> str:
    """The per-group policy (:func:`magmom.dft.initial_moments.parse_policy`) of ``recs``:
    ``default`` and an override for every group whose recommendation differs (``none`` runs one
    start under any policy and gets none)."""
    parts = [default]
    parts += [f"{g}={r.policy}" for g, r in recs.items() if r.policy != default and g != "none"]
    policy = ",".join(parts)
    parse_policy(policy)
    return policy


# ---- the core-hour consequence (magmom.dft.cost_model) ----------------------------------------
@dataclass(frozen=True)
class PolicyCost:
    policy: str
    slabs_per_starts: Mapping[int, int]
    core_hours: Mapping[str, float]  # per group, and "total"
    slabs: Mapping[str, int]  # per group


def policy_costs(
    shapes: Iterable[cost_model.SlabShape],
    job: cost_model.JobSettings,
    processes: int,
    policies: Sequence[str],
    **refit,
) -> list[PolicyCost]:
    """Expected core-hours (:func:`magmom.dft.cost_model.slab_core_hours` at ``job``'s
    settings, ``refit``: its ``scf_iterations``/``kpoint_factor``) of every slab of ``shapes``
    under each policy, per element group: one slab runs
    :func:`magmom.dft.initial_moments.n_runs` starts."""
    shapes = list(shapes)
    kinds = Counter(s._replace(elements=tuple(s.elements)) for s in shapes)
    per_start: dict[tuple, float] = {}
    for shape in kinds:
        priced = (shape.size, shape.lattice, shape.comp_type)
        if priced not in per_start:
            per_start[priced] = cost_model.slab_core_hours(shape, job, processes, 1, **refit)
    out = []
    for policy in policies:
        hours: Counter = Counter()
        slabs: Counter = Counter()
        starts: Counter = Counter()
        for shape, count in kinds.items():
            group, runs = element_group(shape.elements), n_runs(shape.elements, policy)
            hours[group] += count * runs * per_start[(shape.size, shape.lattice, shape.comp_type)]
            slabs[group] += count
            starts[runs] += count
        hours["total"] = sum(hours.values())
        out.append(PolicyCost(policy, dict(sorted(starts.items())), dict(hours), dict(slabs)))
    return out


# ---- markdown -----------------------------------------------------------------------------------
def _spread(values: Sequence[float]) -> str:
    if not values:
        return "–"
    if len(values) == 1:
        return f"{values[0]:.1f}"
    return f"{statistics.median(values):.1f} ({min(values):.1f}–{max(values):.1f})"


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'s' * (n != 1)}"


def evidence_markdown(found: Sequence[Outcome]) -> str:
    """The per-group x start table, the slabs counted apart, and the recommendation."""
    stats = group_stats(found)
    slabs = slab_counts(found)
    lines = [
        f"Same state: |ΔE| ≤ {SAME_STATE_EV_PER_ATOM * 1e3:g} meV/atom at equal settings and "
        f"max |Δm| ≤ {STATE_TOLERANCE} μB (spin flip allowed) against the kept (lowest) start; "
        f"{_count(len({o.slab_id for o in found}), 'slab')}.",
        "",
        "| group | start | slabs compared | kept | same state | other moments, same energy | "
        "higher | ΔE higher, meV/slab | ΔE higher, meV/atom | max abs Δm same (μB) | "
        "partial | single | skipped |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for group, per_start in stats.items():
        for start, s in per_start.items():
            c = s.counts
            dm = "–" if s.same_max_dm is None else f"{s.same_max_dm:.3f}"
            lines.append(
                f"| {group} | `{start}` | {s.complete} | {c.get('kept', 0)} | "
                f"{c.get('same', 0)} | {c.get('other', 0)} | {c.get('higher', 0)} | "
                f"{_spread(s.higher_mev)} | {_spread(s.higher_mev_per_atom)} | {dm} | "
                f"{c.get('partial', 0)} | {c.get('single', 0)} | {c.get('skipped', 0)} |"
            )
    partial = sorted({(o.slab_id, o.group) for o in found if o.outcome == "partial"})
    if partial:
        lines += ["", "Partial comparisons (not counted as evidence either way):"]
        for slab_id, group in partial:
            detail = ", ".join(
                f"`{o.start}` {o.detail}"
                for o in found
                if o.slab_id == slab_id and o.outcome == "partial"
            )
            lines.append(f"- {slab_id} ({group}): {detail}")
    recs = recommend(stats)
    lines += [
        "",
        "| group | slabs: complete / partial / single | recommended starts | evidence | why |",
        "|---|---|---|---|---|",
    ]
    for group, r in recs.items():
        c = slabs.get(group, Counter())
        lines.append(
            f"| {group} ({ELEMENT_GROUPS[group]}) | {c['complete']} / {c['partial']} / "
            f"{c['single']} | `{r.policy}` | {r.evidence} | {r.why} |"
        )
    lines += ["", f"Policy the evidence supports: `{policy_string(recs)}`"]
    return "\n".join(lines)


def cost_markdown(costs: Sequence[PolicyCost], reference: str = DEFAULT_POLICY) -> str:
    """Core-hours per policy and group (M core-hours) and against ``reference``."""
    groups = [g for g in ELEMENT_GROUPS if any(g in c.slabs for c in costs)]
    ref = next(c for c in costs if c.policy == reference).core_hours["total"]
    head = " | ".join(f"{g} ({costs[0].slabs.get(g, 0):,} slabs)" for g in groups)
    lines = [
        f"| `dft.initial_moments` | slabs with 1 / 2 / 3 starts | {head} | total | vs "
        f"`{reference}` |",
        "|---|---|" + "---:|" * (len(groups) + 2),
    ]
    for c in costs:
        starts = " / ".join(f"{c.slabs_per_starts.get(k, 0):,}" for k in (1, 2, 3))
        cells = " | ".join(f"{c.core_hours.get(g, 0.0) / 1e6:.2f}" for g in groups)
        total = c.core_hours["total"]
        lines.append(
            f"| `{c.policy}` | {starts} | {cells} | **{total / 1e6:.2f} M** | {total / ref:.2f} |"
        )
    return "\n".join(lines)
