"""Equation of state of one element on one lattice, and the lattice table built from them.

For element :math:`X` on lattice :math:`L` (fcc, bcc: one-atom primitive cells; hcp: two atoms,
:math:`c/a` by the table's rule ``recipe.hcp_c_over_a``, :mod:`magmom.recipe.lattice_table`) the
lattice constant is scanned over ``eos.points`` values

.. math::
    a_k = a_\\mathrm{guess}\\,(1 + s_k), \\qquad s_k \\in [-\\varepsilon, +\\varepsilon]
    \\;(\\varepsilon = \\texttt{eos.strain})

around the reference guess :math:`a_\\mathrm{guess}` (:mod:`magmom.recipe.lattice_table`'s
fallback). The energies per atom :math:`E(V)` are fitted by the Birch–Murnaghan equation
(``ase.eos.EquationOfState(eos='birchmurnaghan')``)

.. math::
    E(V) = E_0 + \\frac{9 V_0 B_0}{16}\\Big\\{\\big[(V_0/V)^{2/3} - 1\\big]^3 B_0'
    + \\big[(V_0/V)^{2/3} - 1\\big]^2 \\big[6 - 4 (V_0/V)^{2/3}\\big]\\Big\\},

and :math:`a_0` follows from the volume per atom :math:`V_0`: fcc :math:`a_0 = (4V_0)^{1/3}`, bcc
:math:`(2V_0)^{1/3}`, hcp :math:`(4V_0/(\\sqrt3\\,c/a))^{1/3}`. When :math:`V_0` falls outside
the scanned volumes (a poor guess) the scan is re-centred on the best estimate and repeated, at
most ``MAX_PASSES`` times. A last calculation at :math:`a_0` gives the converged moment per
atom, the mean :math:`|m_i|` (0 for elements outside the spin-polarised set, which are computed
without spin).

``eos.calculator``: ``gpaw`` (plane waves ``eos.ecut``, ``dft.planewave.xc``, MP
``eos.kpt_density``, the slab stage's smearing at ``eos.smearing_width``, every SCF under the
ladder), ``chgnet`` (CHGNet energies and |m|, a surrogate) or ``reference`` (no calculation: the
fallback entry itself). A scan that fails (SCF ladder exhausted, too few points, no minimum) is
written with ``status: failed`` and its reason; :func:`lattice_table_from_eos` then uses the
fallback for that entry with a logged warning.

**c/a.** With a fixed rule (``recipe.hcp_c_over_a: 1.633``, the study) an hcp scan runs at that
c/a. With ``recipe.hcp_c_over_a: fit`` it is a 2-D equation of state: ``eos.c_over_a_points``
ratios :math:`r_j = r_\\mathrm{guess}(1 + t_j)`, :math:`t_j \\in [-\\delta, +\\delta]`
(:math:`\\delta` = ``eos.c_over_a_strain``; :math:`r_\\mathrm{guess}` the fallback's experimental
c/a), each with its own Birch–Murnaghan scan in :math:`a` (centred at the guess's volume per
atom). A parabola through the minima :math:`E_0(r_j)` gives :math:`(c/a)^*`; :math:`V_0` and
:math:`B_0` are interpolated there by parabolas through :math:`V_0(r_j)`, :math:`B_0(r_j)`
(:func:`fit_c_over_a`). The cost is ``eos.c_over_a_points`` times a fixed-c/a scan.

**Settings.** The stage's settings are one frozen :class:`EosSettings`, built where the config
enters (the rule script: :meth:`EosSettings.from_params` of the rule's ``eos``, ``dft`` and
``recipe`` params) and passed by name; the library reads attributes. Values are kept as the
config spells them, so the scan's parameters, their ``parameters_sha256`` and the point-cache key
equal those the config dicts gave (``tests/test_dft_eos.py`` compares them with hashes stored
before the change).
"""

from __future__ import annotations

import json
import logging
import math
import time
import warnings
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from magmom.elements import IDEAL_HCP_C_OVER_A, SPIN_POLARISED_ELEMENTS
from magmom.io import write_json
from magmom.layout import LATTICES

from .gpaw_params import bulk_params, parameters_sha256
from .parallel import gpaw_build, gpaw_parallel, is_master, run_job, slab_layout, world
from .record import versions
from .settings import EosSettings

log = logging.getLogger(__name__)

MAX_PASSES = 3
MIN_POINTS = 5
EV_PER_A3_TO_GPA = 160.21766208


def bulk_cell(element: str, lattice: str, a: float, c_over_a: float | None = None):
    """Primitive bulk cell of ``element`` on ``lattice`` (hcp: c = a · c/a)."""
    from ase.build import bulk

    if lattice == "hcp":
        return bulk(element, "hcp", a=a, c=a * float(c_over_a))
    if lattice in ("fcc", "bcc"):
        return bulk(element, lattice, a=a)
    raise ValueError(f"unknown lattice {lattice!r}; allowed: {', '.join(LATTICES)}")


def lattice_constant(volume_per_atom: float, lattice: str, c_over_a: float | None = None) -> float:
    """:math:`a` of a cell with ``volume_per_atom`` Å³ (see the module docstring)."""
    v = float(volume_per_atom)
    if lattice == "fcc":
        return (4 * v) ** (1 / 3)
    if lattice == "bcc":
        return (2 * v) ** (1 / 3)
    if lattice == "hcp":
        return (4 * v / (math.sqrt(3) * float(c_over_a))) ** (1 / 3)
    raise ValueError(f"unknown lattice {lattice!r}")


def fit_birch_murnaghan(volumes, energies) -> dict:
    """``{"v0", "e0", "bulk_modulus_GPa"}`` of a Birch–Murnaghan fit (per-atom quantities).

    Raises ``ValueError`` when the fit fails or its minimum lies outside the sampled volumes.
    """
    from ase.eos import EquationOfState

    v = np.asarray(volumes, dtype=float)
    e = np.asarray(energies, dtype=float)
    if len(v) < MIN_POINTS:
        raise ValueError(f"{len(v)} energies; a Birch–Murnaghan fit needs at least {MIN_POINTS}")
    try:
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            v0, e0, b0 = EquationOfState(v, e, eos="birchmurnaghan").fit(warn=False)
    except Exception as err:  # scipy's curve_fit: RuntimeError / OptimizeWarning / ValueError
        raise ValueError(f"Birch–Murnaghan fit failed ({type(err).__name__}: {err})") from err
    if not (np.isfinite(v0) and np.isfinite(e0) and np.isfinite(b0)) or b0 <= 0:
        raise ValueError(f"Birch–Murnaghan fit gave no minimum (V0={v0}, B0={b0})")
    if not v.min() <= v0 <= v.max():
        raise ValueError(
            f"Birch–Murnaghan minimum V0={v0:.3f} Å³/atom outside the scanned "
            f"{v.min():.3f}–{v.max():.3f} Å³/atom"
        )
    return {"v0": float(v0), "e0": float(e0), "bulk_modulus_GPa": float(b0 * EV_PER_A3_TO_GPA)}


def reference_guess(element: str, lattice: str, default_magmom: float, c_over_a) -> dict:
    """The fallback entry under the c/a rule ``c_over_a`` (``recipe.hcp_c_over_a``), used as the
    scan's starting point (its warning is not emitted)."""
    from magmom.recipe.lattice_table import reference_entry

    logger = logging.getLogger("magmom.recipe.lattice_table")
    disabled, logger.disabled = logger.disabled, True
    try:
        return reference_entry(element, lattice, default_magmom, c_over_a)
    finally:
        logger.disabled = disabled


# ---- energy evaluators -------------------------------------------------------------------
class ChgnetBulk:
    """CHGNet energy per atom and |m| per atom of a bulk cell."""

    name = "chgnet"

    def __init__(self):
        from magmom.chgnet import calculator

        self.calc = calculator()

    def parameters(self) -> dict:
        from importlib import metadata

        return {"calculator": "chgnet", "chgnet": metadata.version("chgnet")}

    def __call__(self, atoms, tag: str) -> dict:
        atoms = atoms.copy()
        atoms.calc = self.calc
        energy = float(atoms.get_potential_energy())
        magmoms = np.abs(np.asarray(atoms.get_magnetic_moments(), dtype=float))
        return {"energy": energy, "magmoms": magmoms.tolist()}


class GpawBulk:
    """GPAW single points under the SCF ladder (logs in ``workdir``)."""

    name = "gpaw"

    def __init__(self, settings: EosSettings, workdir: Path, spinpol: bool, example):
        from .scf_ladder import ladder_from_config

        missing = [k for k in ("xc", "smearing", "scf_ladder") if not getattr(settings, k)]
        if missing:
            raise ValueError(
                f"eos.calculator gpaw needs the dft settings {', '.join(missing)} "
                "(dft.planewave.xc, dft.planewave.smearing, dft.scf_ladder)"
            )
        self.settings, self.workdir, self.spinpol = settings, workdir, spinpol
        self.ladder = ladder_from_config([dict(level) for level in settings.scf_ladder])
        self.smearing = settings.smearing
        self.example = example

    def base(self, atoms) -> dict:
        return bulk_params(self.settings, atoms, self.spinpol)

    def parameters(self) -> dict:
        return {
            "calculator": "gpaw",
            "gpaw": self.base(self.example),
            "smearing": self.smearing,
            "scf_ladder": [lvl.describe() for lvl in self.ladder],
        }

    def __call__(self, atoms, tag: str) -> dict:
        from .scf_ladder import converge_single_point

        atoms = atoms.copy()
        base = self.base(atoms)
        layout = slab_layout(atoms, base, world().size)  # magmom.dft.parallel
        energy, magmoms, attempts = converge_single_point(
            atoms, base, self.smearing, self.ladder, str(self.workdir / tag),
            parallel=gpaw_parallel(layout),
        )  # fmt: skip
        return {"energy": energy, "magmoms": magmoms, "scf_attempts": attempts, "layout": layout}


# ---- the scan ----------------------------------------------------------------------------
def _point_cache(path: Path, key: str) -> dict:
    try:
        with open(path) as fh:
            cache = json.load(fh)
    except (FileNotFoundError, json.JSONDecodeError):
        return {}
    return cache.get("points", {}) if cache.get("key") == key else {}


class EnergyPoints:
    """Energy per atom at one :math:`(a, c/a)` of ``element`` on ``lattice``, each computed once.

    Every point (converged or failed) is kept in ``cache_path`` under ``cache_key`` (the hash of
    the scan's parameters), so a rerun reads instead of recomputing. ``write_cache``: whether this
    process writes the file (under MPI only rank 0 does; every rank computes the same points).
    """

    def __init__(self, element, lattice, evaluate, m0, cache_path, cache_key, *, by_c_over_a,
                 write_cache=True):  # fmt: skip
        self.element, self.lattice, self.evaluate, self.m0 = element, lattice, evaluate, m0
        self.cache_path, self.cache_key = Path(cache_path), cache_key
        self.by_c_over_a, self.write_cache = by_c_over_a, write_cache
        self.cache = _point_cache(self.cache_path, cache_key)

    def tag(self, a: float, coa: float | None) -> str:
        return f"a{a:.6f}-c{coa:.6f}" if self.by_c_over_a else f"a{a:.6f}"

    def __call__(self, a: float, coa: float | None) -> dict:
        tag = self.tag(a, coa)
        if tag not in self.cache:
            self.cache[tag] = self._compute(a, coa, tag)
            if self.write_cache:
                write_json(self.cache_path, {"key": self.cache_key, "points": self.cache})
        return self.cache[tag]

    def _compute(self, a: float, coa: float | None, tag: str) -> dict:
        atoms = bulk_cell(self.element, self.lattice, a, coa)
        atoms.set_initial_magnetic_moments([self.m0] * len(atoms))
        t0 = time.perf_counter()
        try:
            point = self.evaluate(atoms, tag)
            point["status"] = "ok"
        except Exception as err:  # SCF ladder exhausted or the calculator raised
            if isinstance(err, MemoryError):
                raise
            log.warning("%s %s at a=%.4f Å failed: %s", self.element, self.lattice, a, err)
            point = {"status": "failed", "reason": f"{type(err).__name__}: {err}"}
            point["scf_attempts"] = getattr(err, "attempts", [])
        n = len(atoms)
        point.update(a=a, c_over_a=coa, volume=atoms.get_volume() / n, natoms=n)
        if point["status"] == "ok":
            point["energy_per_atom"] = point["energy"] / n
        point["wall_time"] = time.perf_counter() - t0
        return point


def scan_around(
    points: EnergyPoints, center: float, coa: float | None, strain: float, npts: int,
    label: str, progress: bool = True,
) -> tuple[dict | None, str | None, list]:  # fmt: skip
    """Birch–Murnaghan fit of ``npts`` energies within ±``strain`` of ``a = center`` at ``coa``,
    re-centred on the lowest energy while the minimum lies outside (at most ``MAX_PASSES``).

    Returns ``(fit or None, reason of the failure or None, the lattice constants of each pass)``.
    """
    from tqdm import tqdm

    passes, fit, reason = [], None, None
    for n_pass in range(MAX_PASSES):
        grid = [center * (1 + s) for s in np.linspace(-strain, strain, npts)]
        bar = tqdm(grid, desc=f"{label} pass {n_pass + 1}", unit="point", disable=not progress)
        scanned = [points(round(a, 6), coa) for a in bar]
        ok = [p for p in scanned if p["status"] == "ok"]
        passes.append([p["a"] for p in scanned])
        if len(ok) < MIN_POINTS:
            reason = (
                f"only {len(ok)} of {len(scanned)} energies converged "
                f"(need {MIN_POINTS}); see scf_attempts in {points.cache_path}"
            )
            break
        vols = [p["volume"] for p in ok]
        ens = [p["energy_per_atom"] for p in ok]
        try:
            fit = fit_birch_murnaghan(vols, ens)
            reason = None
            break
        except ValueError as err:
            reason = str(err)
            best = ok[int(np.argmin(ens))]["a"]
            log.info("%s pass %d: %s; re-centring on a=%.4f Å", label, n_pass + 1, err, best)
            center = float(best)
    return fit, reason, passes


def fit_c_over_a(scan: list[dict]) -> dict:
    """``{"c_over_a", "v0", "e0"}`` at the minimum of a parabola through the per-c/a
    Birch–Murnaghan minima :math:`E_0(c/a)`, with :math:`V_0` interpolated the same way.

    ``scan``: one ``{"c_over_a", "e0", "v0"}`` per c/a whose 1-D fit succeeded (at least 3).
    Raises ``ValueError`` when the parabola opens downwards or its minimum is outside the scan.
    """
    if len(scan) < 3:
        raise ValueError(f"{len(scan)} c/a values with a fitted minimum; a c/a fit needs 3")
    r = np.array([p["c_over_a"] for p in scan])
    e = np.array([p["e0"] for p in scan])
    v = np.array([p["v0"] for p in scan])
    b = np.array([p.get("bulk_modulus_GPa", np.nan) for p in scan])
    c2, c1, c0 = np.polyfit(r, e, 2)
    if not c2 > 0:
        raise ValueError("E0(c/a) has no minimum (the parabola opens downwards)")
    best = -c1 / (2 * c2)
    if not r.min() <= best <= r.max():
        raise ValueError(f"c/a minimum {best:.4f} outside the scanned {r.min():.4f}–{r.max():.4f}")
    return {
        "c_over_a": float(best),
        "v0": float(np.polyval(np.polyfit(r, v, 2), best)),
        "e0": float(np.polyval([c2, c1, c0], best)),
        "bulk_modulus_GPa": float(np.polyval(np.polyfit(r, b, 2), best)),
    }


def scan_c_over_a(
    points: EnergyPoints, guess: Mapping, eos: EosSettings, label: str, progress: bool = True
) -> tuple[dict | None, str | None, list, list[dict]]:
    """The 2-D equation of state of an hcp entry (module docstring, **c/a**): one
    :func:`scan_around` per ratio, centred at the guess's volume per atom, then
    :func:`fit_c_over_a`. Returns ``(fit or None, reason, passes, per-ratio results)``."""
    c_over_a = guess["c_over_a"]
    strain, npts = float(eos.strain), int(eos.points)
    c_strain, c_points = float(eos.c_over_a_strain), int(eos.c_over_a_points)
    ratios = [round(c_over_a * (1 + t), 6) for t in np.linspace(-c_strain, c_strain, c_points)]
    per_coa, passes = [], []
    for coa in ratios:
        center = guess["a0"] * (c_over_a / coa) ** (1 / 3)
        res, why, p = scan_around(points, center, coa, strain, npts, f"{label} c/a {coa:.3f}",
                                  progress)  # fmt: skip
        passes.extend(p)
        per_coa.append({"c_over_a": coa, "status": "ok" if res else "failed", "reason": why,
                        **(res or {})})  # fmt: skip
    try:
        return fit_c_over_a([p for p in per_coa if p["status"] == "ok"]), None, passes, per_coa
    except ValueError as err:
        return None, f"c/a fit: {err}", passes, per_coa


def _evaluator(calculator: str, eos: EosSettings, workdir: Path, spinpol: bool, example):
    if calculator == "gpaw":
        return GpawBulk(eos, workdir, spinpol, example)
    if calculator == "chgnet":
        return ChgnetBulk()
    raise ValueError(
        f"config key 'eos.calculator': {calculator!r} is not allowed; "
        "allowed values: gpaw, chgnet, reference"
    )


def _reference_result(out: dict, element, lattice, default_magmom, rule) -> dict:
    """``eos.calculator: reference``: the fallback entry itself (logged), no calculation."""
    from magmom.recipe.lattice_table import reference_entry

    entry = reference_entry(element, lattice, default_magmom, rule)  # logs the fallback
    out.update(status="ok", reason=None, **entry, parameters={"calculator": "reference"})
    out["parameters_sha256"] = parameters_sha256(out["parameters"])
    return out


def _fitted_result(out: dict, fit: dict, final: dict, a0, c_over_a, spinpol, calculator) -> dict:
    """``out`` completed with the fit and the calculation at :math:`a_0` (status ok)."""
    magmoms = np.asarray(final["magmoms"], dtype=float)
    magmom = float(np.abs(magmoms).mean()) if spinpol else 0.0
    out.update(
        status="ok",
        reason=None,
        a0=float(a0),
        c_over_a=None if c_over_a is None else float(c_over_a),
        magmom=magmom,
        magmoms_at_a0=magmoms.tolist(),
        source=f"{calculator}-eos",
        v0=fit["v0"],
        e0=fit["e0"],
        bulk_modulus_GPa=fit["bulk_modulus_GPa"],
        energy_at_a0=final["energy_per_atom"],
    )
    if "parallel" in out and "layout" in final:  # GPAW: the layout of the calculation at a0
        out["parallel"]["layout"] = final["layout"]
    return out


def run_eos(
    element: str, lattice: str, settings: EosSettings | Mapping, workdir: str | Path
) -> dict:
    """The content of ``<results_dir>/eos/{element}-{lattice}.json`` (see the module docstring).

    With ``eos.calculator: gpaw`` it may run on every rank of an MPI job (:func:`run_eos_job`):
    the ranks compute the same points together, rank 0 writes the point cache and shows progress.
    ``settings`` may come as :meth:`EosSettings.as_dict` (how the MPI ranks get them).
    """
    from magmom.recipe.lattice_table import fixed_c_over_a

    if not isinstance(settings, EosSettings):
        settings = EosSettings.from_dict(settings)
    calculator = settings.calculator
    default_magmom = float(settings.default_magmom)
    rule = settings.hcp_c_over_a
    spinpol = element in SPIN_POLARISED_ELEMENTS
    out = {
        "element": element,
        "lattice": lattice,
        "calculator": calculator,
        "spinpol": spinpol,
        "versions": versions(),
    }
    if calculator == "reference":
        return _reference_result(out, element, lattice, default_magmom, rule)
    guess = reference_guess(element, lattice, default_magmom, rule)
    fit_coa = lattice == "hcp" and fixed_c_over_a(rule) is None
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    points = _energy_points(out, element, lattice, settings, workdir, guess, fit_coa)
    t_start = time.perf_counter()
    fit, reason, c_over_a = _scan(out, points, guess, settings, fit_coa)
    if fit is None:
        out.update(status="failed", reason=reason, wall_time=time.perf_counter() - t_start)
        return out
    a0 = lattice_constant(fit["v0"], lattice, c_over_a)
    final = points(round(a0, 6), None if c_over_a is None else round(c_over_a, 6))
    if final["status"] != "ok":
        out.update(
            status="failed",
            reason=f"calculation at the fitted a0={a0:.4f} Å failed: {final['reason']}",
            wall_time=time.perf_counter() - t_start,
        )
        return out
    _fitted_result(out, fit, final, a0, c_over_a, spinpol, calculator)
    out["wall_time"] = time.perf_counter() - t_start
    coa = f", c/a = {c_over_a:.3f}" if c_over_a else ""
    log.info(
        "%s %s: a0 = %.4f Å%s, |m| = %.3f μB/atom (%s)",
        element, lattice, a0, coa, out["magmom"], calculator,
    )  # fmt: skip
    return out


def _energy_points(
    out: dict, element, lattice, eos: EosSettings, workdir: Path, guess, fit_coa: bool
) -> EnergyPoints:
    """The energy points of one EOS (its calculator, starting moment and cached points); the
    scan's parameters (and, for GPAW, the process world) go into ``out``."""
    spinpol, calculator = out["spinpol"], out["calculator"]
    c_over_a = guess["c_over_a"] if lattice == "hcp" else None
    m0 = guess["magmom"] if spinpol else 0.0
    example = bulk_cell(element, lattice, guess["a0"], c_over_a)
    evaluate = _evaluator(calculator, eos, workdir, spinpol, example)
    master = True
    if calculator == "gpaw":  # magmom.dft.parallel; the layout is that of the point at a0
        master = is_master()
        out["parallel"] = {"world_size": int(world().size), "gpaw_build": gpaw_build()}
        out["parallel"]["layout"] = {}
    params = {
        **evaluate.parameters(),
        "strain": eos.strain,
        "points": eos.points,
        "c_over_a": "fit" if fit_coa else c_over_a,
        "initial_magmom": m0,
    }
    if fit_coa:
        params["c_over_a_strain"] = eos.c_over_a_strain
        params["c_over_a_points"] = eos.c_over_a_points
    out.update(parameters=params, parameters_sha256=parameters_sha256(params), c_over_a=c_over_a)
    cache_key = parameters_sha256({"element": element, "lattice": lattice, **params})
    return EnergyPoints(
        element, lattice, evaluate, m0, workdir / "points.json", cache_key,
        by_c_over_a=fit_coa, write_cache=master,
    )  # fmt: skip


def _scan(out: dict, points: EnergyPoints, guess, eos: EosSettings, fit_coa: bool):
    """The scan around the guess (over c/a too when ``fit_coa``) and its Birch–Murnaghan fit:
    ``(fit or None, reason, c/a)``; the passes and the scanned points go into ``out``."""
    label = f"EOS {out['element']}-{out['lattice']}"
    master = points.write_cache
    c_over_a = out["c_over_a"]
    if fit_coa:
        fit, reason, passes, out["c_over_a_scan"] = scan_c_over_a(points, guess, eos, label, master)
        c_over_a = fit["c_over_a"] if fit else c_over_a
    else:
        strain, npts = float(eos.strain), int(eos.points)
        center = float(guess["a0"])
        fit, reason, passes = scan_around(points, center, c_over_a, strain, npts, label, master)
    out["passes"] = passes
    scanned = {points.tag(a, None) for p in passes for a in p} if not fit_coa else set(points.cache)
    kept = (dict(points.cache[t]) for t in scanned if t in points.cache)
    out["points"] = sorted(kept, key=lambda p: (p.get("c_over_a") or 0.0, p["a"]))
    return fit, reason, c_over_a


# ---- the rule's job: GPAW on MPI ranks -------------------------------------------------------
def run_eos_job(
    element: str,
    lattice: str,
    settings: EosSettings,
    workdir: str | Path,
    output: str | Path,
    tasks: int = 1,
    launcher: str = "auto",
) -> dict:
    """Rule ``eos``: the equation of state written to ``output``; with ``eos.calculator: gpaw``
    GPAW runs on ``tasks`` MPI ranks when it can (:func:`magmom.dft.parallel.run_job`), a CHGNet
    or reference EOS always in this process. The ranks get ``settings`` as plain data
    (:meth:`EosSettings.as_dict`)."""
    kwargs = {"element": element, "lattice": lattice, "settings": settings.as_dict(),
              "workdir": str(workdir)}  # fmt: skip
    gpaw = settings.calculator == "gpaw"
    return run_job(run_eos, kwargs, output, tasks, launcher, gpaw=gpaw)


# ---- the lattice table ---------------------------------------------------------------------
def lattice_table_from_eos(
    eos_files: Mapping[tuple[str, str], str | Path],
    default_magmom: float,
    c_over_a: float | str = IDEAL_HCP_C_OVER_A,
) -> dict:
    """``{element: {lattice: {a0, c_over_a, magmom, source}}}`` from the per-entry EOS files.

    A missing, unreadable or failed file gives the fallback entry (under the c/a rule
    ``c_over_a``, ``recipe.hcp_c_over_a``) with a logged warning.
    """
    from magmom.recipe.lattice_table import reference_entry, validate_lattice_table

    table: dict[str, dict[str, dict]] = {}
    for (element, lattice), path in sorted(eos_files.items()):
        entry = None
        try:
            with open(path) as fh:
                res = json.load(fh)
            if res.get("status") == "ok":
                entry = {k: res[k] for k in ("a0", "c_over_a", "magmom", "source")}
            else:
                log.warning(
                    "EOS %s %s failed (%s); using the fallback entry",
                    element, lattice, res.get("reason"),
                )  # fmt: skip
        except (OSError, json.JSONDecodeError, KeyError) as err:
            log.warning("EOS file %s unusable (%s); using the fallback entry", path, err)
        if entry is None:
            entry = reference_entry(element, lattice, default_magmom, c_over_a)
        table.setdefault(element, {})[lattice] = entry
    return validate_lattice_table(table, "lattice table")
