r"""The DFT cost model (:mod:`magmom.dft.cost_model`) against the GPAW records (issue 21 item 5).

Per start that ran (a record's ``initial_moments.starts``), measured:

* SCF iterations :math:`n_\mathrm{SCF} = n_\mathrm{LCAO} + n_\mathrm{PW} + n_\mathrm{failed}
  + n_\mathrm{eq}` (the LCAO warm-up, the plane-wave relaxation, the failed ladder levels counted at
  their iterations or ``maxiter``, the equal-settings single point);
* ionic steps of the LCAO and plane-wave stages, their SCF runs (ionic steps + 1 per stage
  that ran: the first SCF is not a step), and the plane-wave SCF iterations of every SCF run
  (``scf_iterations_per_step``);
* core-seconds :math:`P \sum t_\mathrm{wall}` (stages and single point, :math:`P` ranks). The
  records were written on 2 shared cores with 2–4 heavy processes at once: wall times overstate
  the cost and are flagged ``load-polluted``; SCF iterations do not depend on the load.

Predicted by the cost model for the same slab, at the budget of the record's own settings
(:func:`~magmom.dft.cost_model.budget` of its ``parameters``: ``lcao.steps`` or no LCAO stage,
``relax.steps``; 20 × 20 iterations, 20 SCF runs and two setups for the study's, one SCF of
:data:`~magmom.dft.cost_model.SINGLE_POINT_SCF` iterations and one setup for a single point
without LCAO): :math:`n_\mathrm{SCF}` and the SCF runs of the budget, and core-seconds
:math:`P\, t_\mathrm{start}(N, n_k, P)` with the record's atoms :math:`N`, the fit's :math:`n_k`
of its Monkhorst–Pack grid :math:`n_1 \times n_2` and composition type
(:func:`~magmom.dft.cost_model.irreducible_kpoints`, :func:`~magmom.dft.cost_model.fit_kpoints`)
and the plane-wave factor :math:`f_\mathrm{PW} =
(E_\mathrm{cut} / E_\mathrm{cut}^\mathrm{fit})^{3/2}\; L_z / L_z^\mathrm{fit}`
(:func:`~magmom.dft.cost_model.plane_wave_factor`) at the record's cutoff, cell height and slab
thickness. The ratios are measured / predicted; their median and spread (min–max) summarise the
error.

Refits (:func:`refit`, each with the number of records behind it):

* ``scf_per_start``: the median measured :math:`n_\mathrm{SCF}` of a start, LCAO iterations
  weighted by ``lcao_cost`` (the median over starts of the LCAO stage's seconds per iteration over
  the plane-wave stage's, both from the same start, so a common load cancels to first order);
  replaces the budget's 400 plane-wave iterations;
* ``scf_per_step``: the median plane-wave SCF iterations per ionic step (the budget's 20);
* ``scf_runs``: the median SCF runs of a start, LCAO and plane waves (the budget's, 20 for the
  study's settings);
* ``kpoint_factor``: the median of the measured irreducible k-points over the model's
  (:func:`~magmom.dft.cost_model.irreducible_kpoints`: the time-reversal count, an upper bound,
  except on pure slabs): below 1 where a slab keeps more symmetry than the model gives it.
  Reported, not applied (:func:`refit_arguments`).

:func:`magmom.dft.start_evidence.policy_costs` prices the full recipe with and without them
(``benchmarks/dft_records.py``). The cost model's constants are
changed only when at least :data:`REFIT_MIN_RECORDS` records support a refit; below that the
numbers are printed, not used.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from magmom.dft import cost_model

REFIT_MIN_RECORDS = 10
LOAD_NOTE = "load-polluted: 2 shared cores, 2–4 heavy processes"


@dataclass(frozen=True)
class StartCost:
    """Measured cost of one start of one record."""

    slab_id: str
    start: str
    status: str
    comp_type: str  # the manifest's type (the record's meta)
    n_atoms: int
    kpts: tuple[int, int]
    n_ibz: int | None
    ecut: float
    lz: float  # cell height (Å)
    thickness: float  # slab thickness (Å)
    processes: int
    scf_lcao: int
    scf_pw: int
    scf_failed: int
    scf_single_point: int
    ionic_lcao: int
    ionic_pw: int
    runs_lcao: int  # SCF runs: ionic steps + 1 when the stage ran
    runs_pw: int
    pw_scf_per_step: tuple[int, ...]
    wall_lcao: float
    wall_pw: float
    wall_single_point: float
    budget: cost_model.Budget  # the budget of the record's settings

    @property
    def n_ibz_expected(self) -> float:
        """The cost model's irreducible k-points on the record's grid."""
        return cost_model.irreducible_kpoints(self.kpts, self.comp_type)

    @property
    def n_k(self) -> float:
        """The fit's :math:`n_k` of the record's grid
        (:func:`~magmom.dft.cost_model.fit_kpoints`)."""
        return cost_model.fit_kpoints(self.kpts, self.comp_type)

    @property
    def scf_total(self) -> int:
        return self.scf_lcao + self.scf_pw + self.scf_failed + self.scf_single_point

    @property
    def ionic_steps(self) -> int:
        return self.ionic_lcao + self.ionic_pw

    @property
    def scf_runs(self) -> int:
        return self.runs_lcao + self.runs_pw

    @property
    def core_seconds(self) -> float:
        return self.processes * (self.wall_lcao + self.wall_pw + self.wall_single_point)

    @property
    def lcao_cost(self) -> float | None:
        """LCAO seconds per SCF iteration over plane-wave seconds per SCF iteration."""
        if min(self.scf_lcao, self.scf_pw) <= 0 or min(self.wall_lcao, self.wall_pw) <= 0:
            return None
        return (self.wall_lcao / self.scf_lcao) / (self.wall_pw / self.scf_pw)

    @property
    def ibz_factor(self) -> float | None:
        if not self.n_ibz:
            return None
        return self.n_ibz / self.n_ibz_expected


def _need(mapping: Mapping, key: str, where: str):
    try:
        return mapping[key]
    except (KeyError, TypeError) as err:
        raise ValueError(f"{where}: missing key {key!r}") from err


def record_budget(record: Mapping) -> cost_model.Budget:
    """:func:`magmom.dft.cost_model.budget` of the settings a GPAW record was made with (its
    ``parameters``: ``lcao`` null or its ``steps``, ``relax.steps``); errors name the slab and
    the key."""
    where = f"record {record.get('slab_id', '?')!r} parameters"
    params = _need(record, "parameters", where.rsplit(" ", 1)[0])
    lcao = _need(params, "lcao", where)
    lcao_steps = None if lcao is None else _need(lcao, "steps", f"{where} lcao")
    return cost_model.budget(lcao_steps, _need(_need(params, "relax", where), "steps", where))


def start_costs(record: Mapping) -> list[StartCost]:
    """One :class:`StartCost` per start of a GPAW record that ran (skipped duplicates left out);
    errors name the slab and the key."""
    slab_id = record.get("slab_id", "?")
    where = f"record {slab_id!r}"
    params = _need(record, "parameters", where)
    pw = _need(params, "planewave", f"{where} parameters")["gpaw"]
    kpts = tuple(int(k) for k in _need(pw["kpts"], "size", f"{where} planewave kpts")[:2])
    mode = pw["mode"]
    ecut = float(mode["ecut"] if isinstance(mode, Mapping) else cost_model.FIT_ECUT)
    structure = _need(record, "structure", where)
    z = np.asarray(structure["positions"], dtype=float)[:, 2]
    lz = float(np.asarray(structure["cell"], dtype=float)[2, 2])
    starts = _need(_need(record, "initial_moments", where), "starts", where)
    budget = record_budget(record)
    out = []
    for name, part in starts.items():
        if part.get("status") == "skipped":
            continue
        stages = part.get("stages") or {}
        lcao, pws = stages.get("lcao") or {}, stages.get("pw") or {}
        scf = part.get("scf_iterations") or {}
        eq = part.get("equal_settings") or {}
        layout = (part.get("layout") or {}).get("pw") or (part.get("layout") or {}).get("lcao")
        layout = layout or {}
        out.append(
            StartCost(
                slab_id=slab_id,
                start=name,
                status=part.get("status", "?"),
                comp_type=str((record.get("meta") or {}).get("comp_type", "?")),
                n_atoms=len(structure["numbers"]),
                kpts=kpts,
                n_ibz=layout.get("n_ibz_kpoints"),
                ecut=ecut,
                lz=lz,
                thickness=float(z.max() - z.min()),
                processes=int(layout.get("world_size") or 1),
                scf_lcao=int(scf.get("lcao") or 0),
                scf_pw=int(scf.get("pw") or 0),
                scf_failed=int(scf.get("failed_levels") or 0),
                scf_single_point=int(eq.get("scf_iterations") or 0),
                ionic_lcao=int(lcao.get("ionic_steps") or 0),
                ionic_pw=int(pws.get("ionic_steps") or 0),
                runs_lcao=int(lcao.get("ionic_steps") or 0) + 1 if lcao else 0,
                runs_pw=int(pws.get("ionic_steps") or 0) + 1 if pws else 0,
                pw_scf_per_step=tuple(int(x) for x in pws.get("scf_iterations_per_step") or ()),
                wall_lcao=float(lcao.get("wall_time") or 0.0),
                wall_pw=float(pws.get("wall_time") or 0.0),
                wall_single_point=float(eq.get("wall_time") or 0.0),
                budget=budget,
            )
        )
    return out


def all_start_costs(records: Iterable[Mapping]) -> list[StartCost]:
    """:func:`start_costs` of every GPAW record (surrogate records have none)."""
    return [c for r in records if not r.get("surrogate") for c in start_costs(r)]


@dataclass(frozen=True)
class Prediction:
    scf: float
    scf_runs: float
    core_seconds: float
    seconds_per_iteration: float


def predict(c: StartCost, **refit) -> Prediction:
    """The cost model's numbers for the slab and settings of ``c``, its record's budget
    included (``refit``: :func:`magmom.dft.cost_model.start_seconds`'s ``scf_iterations``,
    ``kpoint_factor``)."""
    f = cost_model.plane_wave_factor(c.ecut, c.lz, c.thickness)
    p = c.processes
    t = cost_model.start_seconds(c.n_atoms, c.n_k, p, c.budget, pw_factor=f, **refit) * p
    t_iter = cost_model.seconds_per_iteration(c.n_atoms, c.n_k, p) * p * f
    n_scf = refit.get("scf_iterations") or c.budget.scf_iterations
    return Prediction(n_scf, c.budget.scf_runs, t, t_iter)


@dataclass(frozen=True)
class Fit:
    value: float | None
    n_records: int
    n_values: int
    current: float | None

    def usable(self, min_records: int = REFIT_MIN_RECORDS) -> bool:
        return self.value is not None and self.n_records >= min_records


def _fit(pairs: Sequence[tuple[str, float]], current: float | None) -> Fit:
    values = [v for _, v in pairs if v is not None and math.isfinite(v)]
    records = {s for s, v in pairs if v is not None}
    return Fit(statistics.median(values) if values else None, len(records), len(values), current)


def _budgeted(costs: Sequence[StartCost], field: str) -> float | None:
    """The budget's ``field`` common to the starts' records (None when their settings differ)."""
    values = {getattr(c.budget, field) for c in costs}
    return values.pop() if len(values) == 1 else None


def refit(costs: Sequence[StartCost]) -> dict[str, Fit]:
    """The constants the records determine (module docstring), from finished starts only; the
    current values are the records' budget (None when their settings' budgets differ)."""
    ok = [c for c in costs if c.status == "ok"]
    lcao = _fit([(c.slab_id, c.lcao_cost) for c in ok], None)
    w = lcao.value if lcao.value is not None else 1.0
    eff = [(c.slab_id, c.scf_pw + c.scf_failed + c.scf_single_point + w * c.scf_lcao) for c in ok]
    return {
        "scf_per_start": _fit(eff, _budgeted(ok, "scf_iterations")),
        "lcao_cost": lcao,
        "scf_per_step": _fit(
            [(c.slab_id, float(x)) for c in ok for x in c.pw_scf_per_step],
            cost_model.BUDGET["scf_per_step"],
        ),
        "scf_runs": _fit([(c.slab_id, float(c.scf_runs)) for c in ok], _budgeted(ok, "scf_runs")),
        "kpoint_factor": _fit([(c.slab_id, c.ibz_factor) for c in ok], 1.0),
    }


def refit_arguments(
    fits: Mapping[str, Fit], min_records: int = 0, budget: cost_model.Budget | None = None
) -> dict:
    """``scf_iterations`` for :func:`magmom.dft.cost_model.core_hours` from the SCF-iterations
    fit when at least ``min_records`` records stand behind it.

    ``budget``: the budget of the settings being priced. The fit then counts only if the records
    were budgeted the same (their ``scf_iterations``): iterations per start measured on single
    points say nothing about a relaxation's, and the reverse. The ``kpoint_factor`` fit is
    reported, never applied: the model counts each priced slab's irreducible k-points from its
    own grid and composition type (:func:`magmom.dft.cost_model.irreducible_kpoints`, measured
    on the recipe's slabs by ``benchmarks/kpoint_symmetry.py``), and the records' small slabs
    keep symmetries by chance that the study's 64-atom alloys do not.
    """
    out = {}
    scf = fits["scf_per_start"]
    same_budget = budget is None or scf.current == budget.scf_iterations
    if scf.usable(min_records) and same_budget:
        out["scf_iterations"] = scf.value
    return out


def _ratio_summary(ratios: Sequence[float]) -> str:
    r = [x for x in ratios if x is not None and math.isfinite(x)]
    if not r:
        return "–"
    if len(r) == 1:
        return f"{r[0]:.2f}"
    return f"{statistics.median(r):.2f} ({min(r):.2f}–{max(r):.2f})"


def comparison_markdown(costs: Sequence[StartCost]) -> str:
    """Per start: measured against predicted, then the error summary (median ratio, range)."""
    lines = [
        f"Measured / predicted per start; wall times {LOAD_NOTE}. Predicted core-seconds at the "
        f"record's settings: cost model at the budget of the record's settings x "
        f"(Ecut/{cost_model.FIT_ECUT:g} eV)^1.5 x Lz/Lz(fit).",
        "",
        "| slab | start | status | atoms | k (IBZ) | SCF LCAO + PW + failed + eq | predicted | "
        "ratio | SCF runs (LCAO + PW) | predicted | ratio | core-s measured | predicted | ratio | "
        "s/iteration PW measured | predicted | ratio |",
        "|---|---|---|---:|---|---|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for c in costs:
        p = predict(c)
        t_pw = c.processes * c.wall_pw / c.scf_pw if c.scf_pw else None
        r = ratios(c)
        kp = f"{c.kpts[0]}x{c.kpts[1]} ({c.n_ibz if c.n_ibz else '?'})"
        lines.append(
            f"| {c.slab_id} | `{c.start}` | {c.status} | {c.n_atoms} | {kp} | "
            f"{c.scf_lcao} + {c.scf_pw} + {c.scf_failed} + {c.scf_single_point} = "
            f"{c.scf_total} | {p.scf:.0f} | {r['scf']:.2f} | {c.runs_lcao} + {c.runs_pw} | "
            f"{p.scf_runs:.0f} | {r['runs']:.2f} | {c.core_seconds:.0f} | {p.core_seconds:.0f} | "
            f"{_fmt(r['core'])} | {_fmt(t_pw, '.1f')} | {p.seconds_per_iteration:.1f} | "
            f"{_fmt(r['iter'])} |"
        )
    n = len([c for c in costs if c.status == "ok"])
    by = error_ratios(costs)
    lines += [
        "",
        f"Error over {n} finished starts of {len({c.slab_id for c in costs})} records, "
        "measured / predicted, median (range): "
        f"SCF iterations {_ratio_summary(by['scf'])}; SCF runs "
        f"{_ratio_summary(by['runs'])}; core-seconds {_ratio_summary(by['core'])} "
        f"and seconds per plane-wave iteration {_ratio_summary(by['iter'])} ({LOAD_NOTE}).",
    ]
    return "\n".join(lines)


def ratios(c: StartCost, **refit) -> dict[str, float | None]:
    """Measured / predicted (:func:`predict` with ``refit``) of one start: ``scf``, ``runs``
    (SCF runs), ``core`` (core-seconds), ``iter`` (seconds per plane-wave SCF iteration, the
    stage's wall time over its iterations); None where nothing was measured."""
    p = predict(c, **refit)
    t_pw = c.processes * c.wall_pw / c.scf_pw if c.scf_pw else None
    return {
        "scf": c.scf_total / p.scf,
        "runs": c.scf_runs / p.scf_runs,
        "core": c.core_seconds / p.core_seconds if c.core_seconds else None,
        "iter": t_pw / p.seconds_per_iteration if t_pw else None,
    }


def error_ratios(costs: Sequence[StartCost], **refit) -> dict[str, list[float]]:
    """:func:`ratios` of the finished starts, per quantity (failed starts stopped early: their
    cost says nothing about a finished one's)."""
    out: dict[str, list[float]] = {"scf": [], "runs": [], "core": [], "iter": []}
    for c in costs:
        if c.status != "ok":
            continue
        for k, v in ratios(c, **refit).items():
            if v is not None:
                out[k].append(v)
    return out


def core_seconds_error(costs: Sequence[StartCost], **refit) -> str:
    """Median (range) of measured / predicted core-seconds of the finished starts."""
    return _ratio_summary(error_ratios(costs, **refit)["core"])


def _fmt(x, spec: str = ".2f") -> str:
    return "–" if x is None else format(x, spec)


def refit_markdown(fits: Mapping[str, Fit]) -> str:
    names = {
        "scf_per_start": "SCF iterations per start (LCAO weighted by its cost)",
        "lcao_cost": "LCAO / plane-wave seconds per SCF iteration",
        "scf_per_step": "plane-wave SCF iterations per ionic step",
        "scf_runs": "SCF runs per start (LCAO + plane waves)",
        "kpoint_factor": "irreducible k-points measured / the model's (reported, not applied)",
    }
    lines = [
        "| constant | cost model | refit (median) | records | values | enough records (≥ "
        f"{REFIT_MIN_RECORDS}) |",
        "|---|---:|---:|---:|---:|---|",
    ]
    for key, fit in fits.items():
        lines.append(
            f"| {names[key]} | {_fmt(fit.current, '.3g')} | {_fmt(fit.value, '.3g')} | "
            f"{fit.n_records} | {fit.n_values} | {'yes' if fit.usable() else 'no'} |"
        )
    return "\n".join(lines)


def settings_check_markdown(results: Mapping, setting: str = "pw350-k3.5") -> str:
    """The cost model against the CPU times of ``benchmarks/dft_settings.py``'s single points
    at ``setting`` (``data/mini/settings-check/dft_settings.json``): CPU seconds of one serial
    single point (setup + SCF iterations) measured against predicted, without and with the
    irreducible-k-point factor of each slab. CPU time is less affected by the load than wall
    time (cache and memory-bandwidth contention remain)."""
    lines = [
        f"Single points at `{setting}` (one process; CPU seconds of setup + SCF iterations):",
        "",
        "| slab | atoms | k (IBZ) | SCF iterations | CPU s | predicted | ratio | IBZ factor | "
        "ratio with it |",
        "|---|---:|---|---:|---:|---:|---:|---:|---:|",
    ]
    plain, with_k = [], []
    for slab_id, slab in sorted(results.get("slabs", {}).items()):
        run = (slab.get("settings") or {}).get(setting)
        if not run or run.get("status") != "ok" or not run.get("cpu_time"):
            continue
        params = run["parameters"]
        n1, n2 = (int(k) for k in params["kpts"]["size"][:2])
        n_atoms = len(slab["symbols"])
        z = np.asarray(slab["structure"]["positions"], dtype=float)[:, 2]
        f = cost_model.plane_wave_factor(
            float(params["mode"]["ecut"]), float(run["cell_z"]), float(np.ptp(z))
        )
        n_iter = int(run["scf_iterations"])
        comp_type = slab["meta"]["comp_type"]
        n_ibz = cost_model.irreducible_kpoints((n1, n2), comp_type)
        n_k = cost_model.fit_kpoints((n1, n2), comp_type)
        pred = f * (
            cost_model.setup_seconds(n_atoms, n_k)
            + n_iter * cost_model.seconds_per_iteration(n_atoms, n_k)
        )
        k = run["n_ibz_kpoints"] / n_ibz
        r = run["cpu_time"] / pred
        plain.append(r)
        with_k.append(r / k)
        lines.append(
            f"| {slab_id} | {n_atoms} | {n1}x{n2} ({run['n_ibz_kpoints']}) | {n_iter} | "
            f"{run['cpu_time']:.0f} | {pred:.0f} | {r:.2f} | {k:.2f} | {r / k:.2f} |"
        )
    lines += [
        "",
        f"{len(plain)} single points, measured / predicted CPU time, median (range): "
        f"{_ratio_summary(plain)}; with the irreducible-k-point factor {_ratio_summary(with_k)}.",
    ]
    return "\n".join(lines)


def plane_wave_factor_markdown(
    results: Mapping, cheap: str = "pw250-k3.5-v6", reference: str = "pw350-k3.5"
) -> str:
    """The assumption :func:`magmom.dft.cost_model.plane_wave_factor` checked on the settings
    check's pairs of single points (same slab, geometry and start): CPU seconds per SCF
    iteration at ``cheap`` over ``reference``, measured against the ratio of their plane-wave
    factors."""
    rows, measured, predicted = [], [], []
    for slab_id, slab in sorted(results.get("slabs", {}).items()):
        runs = slab.get("settings") or {}
        a, b = runs.get(cheap), runs.get(reference)
        if not a or not b or "ok" != a.get("status") or "ok" != b.get("status"):
            continue
        thick = float(np.ptp(np.asarray(slab["structure"]["positions"], dtype=float)[:, 2]))
        f = [
            cost_model.plane_wave_factor(
                float(r["parameters"]["mode"]["ecut"]), float(r["cell_z"]), thick
            )
            for r in (a, b)
        ]
        m = (a["cpu_time"] / a["scf_iterations"]) / (b["cpu_time"] / b["scf_iterations"])
        measured.append(m)
        predicted.append(f[0] / f[1])
        rows.append(
            f"| {slab_id} | {a['cell_z']:.1f} / {b['cell_z']:.1f} | {m:.2f} | {f[0] / f[1]:.2f} |"
        )
    return "\n".join([
        f"The plane-wave factor against the settings check: CPU s per SCF iteration at `{cheap}` "
        f"over `{reference}` (same slab, geometry and start):",
        "",
        "| slab | cell height (Å) | measured | predicted |",
        "|---|---|---:|---:|",
        *rows,
        "",
        f"{len(rows)} slabs: measured {_ratio_summary(measured)}, predicted "
        f"{_ratio_summary(predicted)}; measured / predicted "
        f"{_ratio_summary([m / p for m, p in zip(measured, predicted, strict=True)])}.",
    ])  # fmt: skip
