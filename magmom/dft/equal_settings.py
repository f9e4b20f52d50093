r"""Energies of several final states at one common level: the equal-settings comparison.

A start of the staged relaxation (:mod:`magmom.dft.initial_moments`) or a warm-start single
point (:mod:`magmom.warm_start.scf`) finishes on some level :math:`\ell` of the SCF ladder
(:mod:`magmom.dft.scf_ladder`), and the levels differ in smearing width (0.10, 0.15, 0.20 eV in
``config.yaml``) and convergence criteria. Energies at different widths are not comparable:
from 0.1 to 0.2 eV the energy moves by +1.6 (Fe) … −1.7 (Co) meV/atom, with an
element-dependent sign, more than the differences that decide between two states. So two final
states are compared only at one **common level**: ladder level 0's smearing width :math:`w_0`
and criteria :math:`c_0` (eigenstates, and density and moments when level 0 sets them).

**The rule.** For a final state :math:`s` (geometry :math:`R_s`, moments :math:`m_s`) that
finished on ladder level :math:`\ell_s` with energy :math:`E_s`:

.. math::
    E^{\mathrm{eq}}_s =
    \begin{cases}
        E_s & (w_{\ell_s}, c_{\ell_s}) = (w_0, c_0)
            \quad \text{(already at the common level: no extra run)} \\
        E_{\mathrm{SP}}(R_s, m_s;\, w_0, c_0) & \text{otherwise}
    \end{cases}

(:math:`w_\ell = \max(w_\mathrm{stage}, w_\ell^\mathrm{ladder})` is the effective width of
level :math:`\ell`, :math:`c_\ell` its criteria; level 0 itself always qualifies, and so does a
level that changes only the mixer or ``maxiter``: :func:`at_the_common_level`)

where :math:`E_{\mathrm{SP}}` is one GPAW single point of the stage's own parameters (plane
waves, k-points, dipole layer) from geometry :math:`R_s`, its initial moments :math:`m_s`. The
single point runs under the *equal-settings ladder* (:func:`equal_settings_ladder`): the
configured ladder's mixers and ``maxiter`` in order, every level at :math:`w_0` and :math:`c_0`.
A mixer that fails hands over to the next one, as on the ladder, but the width and criteria,
which set the energy, never change. Its moments :math:`m^{\mathrm{eq}}_s` are recorded too
(the moments of state :math:`s` at the common level). When every level fails,
:math:`E^{\mathrm{eq}}_s` is undefined (``null``).

The cost is one single point per state that climbed to a level of other settings, started from
that state's own moments and geometry; states that finished at the common level's settings cost
nothing.

**Choosing a start** (:func:`compare`). Among the starts that ran, the kept one is

.. math::
    s^\ast = \arg\min_{s:\ E^{\mathrm{eq}}_s\ \mathrm{defined}} E^{\mathrm{eq}}_s

(the first in policy order on a tie; when no start has :math:`E^{\mathrm{eq}}`, the lowest own
energy :math:`E_s`). The comparison is

============ ====================================================================================
``single``   one start ran (one start in the policy, the others skipped as duplicates, or no spin
             polarisation): nothing to compare, no extra run
``complete`` two or more starts ran, each finished (status ok), each finished relaxing
             (``relaxed``: max force ≤ ``dft.relax.fmax`` within the step budget; with
             ``dft.relax.steps: 0`` every start is a single point at the same pre-relaxed
             geometry, ``relaxed`` None, nothing to finish) and each has :math:`E^{\mathrm{eq}}`
``partial``  two or more starts ran and at least one did not meet that, or its single point
             moved some moment by more than :data:`STATE_TOLERANCE` (it left the state it is
             meant to price); ``reasons`` lists which and why. The label is still the kept
             start's, but it may not be the lowest state
============ ====================================================================================

The same common level decides the warm start's "same state" (:mod:`magmom.warm_start.scf`):
:math:`\Delta E = E^{\mathrm{eq}} - E^{\mathrm{eq}}_{\mathrm{best}}` and :math:`\Delta m` from
the moments at the common level.

Each single point's result is kept in a JSON file beside the run (keyed by its inputs), so a
retried job does not repeat it; GPAW's text logs are ``{txt_prefix}-L{level}.txt``.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from magmom.io import write_json

from .gpaw_params import parameters_sha256
from .record import finite, structure_dict
from .scf_ladder import LadderLevel, SinglePointFailed, converge_single_point, level_parameters

log = logging.getLogger(__name__)

COMMON_LEVEL = 0
"""The ladder level whose smearing width and criteria every comparison uses."""

COMPARISONS = ("single", "complete", "partial")

STATE_TOLERANCE = 0.1
"""μB: a single point whose moments end further than this from the state's own (on any atom)
left that state, and the comparison is partial (the warm start's default same-state Δm)."""


def equal_settings_ladder(ladder: Sequence[LadderLevel]) -> list[LadderLevel]:
    """Every level's mixer and ``maxiter``, all at level 0's smearing width and criteria."""
    first = ladder[COMMON_LEVEL]
    return [
        dataclasses.replace(
            level,
            smearing_width=first.smearing_width,
            eigenstates=first.eigenstates,
            density=first.density,
            magmoms=first.magmoms,
        )
        for level in ladder
    ]


def common_level(ladder: Sequence[LadderLevel], base: Mapping, smearing: str) -> dict:
    """What "equal settings" means for ``base`` (a stage's GPAW parameters): level, effective
    smearing width (eV) and criteria."""
    level = ladder[COMMON_LEVEL]
    params = level_parameters(level, base, smearing)
    out = {
        "level": COMMON_LEVEL,
        "smearing": smearing,
        "smearing_width": float(params["occupations"]["width"]),
        "eigenstates": level.eigenstates,
    }
    if level.density is not None:
        out["density"] = level.density
    if level.magmoms is not None:
        out["magmoms"] = level.magmoms
    return out


def _settings(level: LadderLevel, base: Mapping, smearing: str) -> tuple:
    params = level_parameters(level, base, smearing)
    return (params["occupations"], params["convergence"])


def at_the_common_level(
    ladder: Sequence[LadderLevel], level: int, base: Mapping, smearing: str
) -> bool:
    """Whether ladder ``level`` computes energies at the common level's settings: level 0
    itself, or a level with the same effective smearing and criteria (only the mixer, its
    parameters or ``maxiter`` differ)."""
    return level == COMMON_LEVEL or _settings(ladder[level], base, smearing) == _settings(
        ladder[COMMON_LEVEL], base, smearing
    )


def _cache_key(atoms, magmoms, base, smearing, ladder) -> str:
    return parameters_sha256(
        {
            "structure": structure_dict(atoms),
            "magmoms": np.round(np.asarray(magmoms, dtype=float), 8),
            "params": dict(base),
            "smearing": smearing,
            "ladder": [lvl.describe() for lvl in ladder],
        }
    )


def at_common_level(
    atoms,
    magmoms,
    level: int,
    energy: float | None,
    base: Mapping,
    smearing: str,
    ladder: Sequence[LadderLevel],
    txt_prefix: str | Path,
    parallel: Mapping | None = None,
    cache: str | Path | None = None,
) -> dict:
    """The equal-settings entry of one final state (module docstring).

    ``atoms``: the final geometry; ``magmoms``: its converged moments; ``level``, ``energy``: the
    ladder level it finished on and its energy there; ``base``: the stage's GPAW parameters;
    ``parallel``: GPAW's process layout. ``cache``: JSON file keeping the single point's result.
    Returns ``{"level", "source": "own" | "single_point", "status": "ok" | "failed", "energy",
    "magmoms", "max_abs_dm" (vs ``magmoms``), "scf_iterations" (every attempt's, failed ones
    counted), "wall_time", "attempts", "reason"}``.
    """
    own = np.asarray(magmoms, dtype=float)
    if at_the_common_level(ladder, level, base, smearing):
        return {
            "level": COMMON_LEVEL,
            "source": "own",
            "status": "ok",
            "energy": finite(energy),
            "magmoms": own.tolist(),
            "max_abs_dm": 0.0,
            "scf_iterations": 0,
            "wall_time": 0.0,
            "attempts": [],
            "reason": None,
        }
    eq_ladder = equal_settings_ladder(ladder)
    key = _cache_key(atoms, own, base, smearing, eq_ladder)
    if cache is not None and Path(cache).is_file():
        try:
            state = json.loads(Path(cache).read_text())
        except (OSError, json.JSONDecodeError) as err:
            log.warning("ignoring unreadable %s (%s)", cache, err)
            state = {}
        if state.get("key") == key:
            log.info("equal-settings single point: done in an earlier run (%s)", cache)
            return state["result"]
    start = atoms.copy()
    start.calc = None
    start.set_initial_magnetic_moments(own)
    log.info(
        "equal-settings single point from a state that finished on ladder level %d (E = %s eV): "
        "level %d's smearing and criteria; GPAW logs %s-L*.txt",
        level, energy, COMMON_LEVEL, txt_prefix,
    )  # fmt: skip
    try:
        e_eq, m_eq, attempts = converge_single_point(
            start, base, smearing, eq_ladder, str(txt_prefix), parallel=parallel
        )
        result = {
            "status": "ok",
            "energy": finite(e_eq),
            "magmoms": [float(m) for m in m_eq],
            "max_abs_dm": float(np.max(np.abs(np.asarray(m_eq) - own))) if len(own) else 0.0,
            "reason": None,
        }
    except SinglePointFailed as err:
        attempts = err.attempts
        result = {
            "status": "failed",
            "energy": None,
            "magmoms": None,
            "max_abs_dm": None,
            "reason": str(err),
        }
    result = {
        "level": COMMON_LEVEL,
        "source": "single_point",
        **result,
        "scf_iterations": int(
            sum(
                a["scf_iterations"] if a["outcome"] == "converged" else a["maxiter"]
                for a in attempts
            )
        ),
        "wall_time": float(sum(a["wall_time"] for a in attempts)),
        "attempts": attempts,
    }
    log.info(
        "equal-settings single point: %s, E = %s eV (own level %d: %s eV), %d SCF iterations",
        result["status"], result["energy"], level, energy, result["scf_iterations"],
    )  # fmt: skip
    if cache is not None:
        from .parallel import is_master

        if is_master():
            write_json(cache, {"key": key, "result": result})
    return result


def compare(starts: Mapping[str, Mapping]) -> dict:
    """The comparison of the starts that ran (module docstring), in policy order.

    ``starts[name]``: ``status`` ("ok" | "failed"), ``reason``, ``energy`` (own level),
    ``relaxed``, ``equal_settings`` (:func:`at_common_level`, or None when not computed).
    ``kept_by``: ``equal_settings_energy``, ``own_energy`` (no start has an energy at the common
    level), ``only_start`` (one start ran) or null (no start finished).
    Returns ``{"comparison", "reasons", "kept", "kept_by", "equal_settings_energies",
    "energy_gap"}``; ``energy_gap``: eV from the kept start to the next-lowest at equal settings
    (null with fewer than two).
    """
    names = list(starts)
    reasons: list[str] = []
    for name, part in starts.items():
        if part["status"] != "ok":
            reasons.append(f"start {name!r} failed: {part.get('reason')}")
            continue
        if part.get("relaxed") is False:  # None: single points (dft.relax.steps 0)
            reasons.append(f"start {name!r} did not finish relaxing")
        eq = part.get("equal_settings")
        if len(names) > 1 and (eq is None or eq.get("energy") is None):
            why = (eq or {}).get("reason") or "not computed"
            reasons.append(f"start {name!r} has no energy at the common level ({why})")
        elif eq is not None and (eq.get("max_abs_dm") or 0.0) > STATE_TOLERANCE:
            reasons.append(
                f"start {name!r} left its state at the common level (max |Δm| "
                f"{eq['max_abs_dm']:.2f} > {STATE_TOLERANCE} μB)"
            )
    eq_energies = {
        name: (part.get("equal_settings") or {}).get("energy")
        for name, part in starts.items()
        if part["status"] == "ok"
    }
    defined = {n: e for n, e in eq_energies.items() if e is not None}
    if len(names) == 1:
        ok = starts[names[0]]["status"] == "ok"
        kept, kept_by = (names[0], "only_start") if ok else (None, None)
    elif defined:
        kept = min(defined, key=lambda n: (defined[n], names.index(n)))
        kept_by = "equal_settings_energy"
    else:
        own = {n: p["energy"] for n, p in starts.items() if p["status"] == "ok"}
        own = {n: e for n, e in own.items() if e is not None}
        kept = min(own, key=lambda n: (own[n], names.index(n))) if own else None
        kept_by = "own_energy" if own else None
    ordered = sorted(defined.values())
    return {
        "comparison": "single" if len(names) <= 1 else ("partial" if reasons else "complete"),
        "reasons": reasons if len(names) > 1 else [],
        "kept": kept,
        "kept_by": kept_by,
        "equal_settings_energies": eq_energies,
        "energy_gap": float(ordered[1] - ordered[0]) if len(ordered) > 1 else None,
    }
