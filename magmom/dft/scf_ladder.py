"""The SCF retry ladder: what GPAW is asked to do at each level when the previous one fails.

Config ``dft.scf_ladder`` is a list of levels ``{mixer, eigenstates, smearing_width, maxiter}``
(optionally ``beta``, ``nmaxold``, ``weight`` for the mixer; ``magnetisation``: ``{beta, nmaxold,
weight}`` of a separate mixer for the magnetisation density, below; ``density``: GPAW's density
criterion, the integrated absolute density change per valence electron, GPAW's default 1e-4 when
absent; ``magmoms``: converge the magnetic moments too, no moment, per atom or total, changing by
more than this many μB over the last 3 SCF iterations, :mod:`magmom.dft.moment_criterion`); the
study's four:

===== ============ ============= ========== ======= =========================================
level mixer        eigenstates   width (eV) maxiter GPAW 26.7 realisation
===== ============ ============= ========== ======= =========================================
0     pulay        1e-8          0.10       300     ``mixer={'name': 'pulay', ...}``
1     pulay        1e-7          0.15       400     same, looser criterion, wider smearing
2     msr1         1e-6          0.20       500     ``mixer={'name': 'msr1', ...}`` (MSR1)
3     direct       1e-5          0.20       600     see below
===== ============ ============= ========== ======= =========================================

Density mixing in GPAW 26.7 ("new" GPAW): ``pulay`` and ``msr1`` mixers act on all spin
components of the density (the ``MixerSum``/``MixerDif`` split of legacy GPAW does not exist for
new-GPAW calculators). Defaults per mixer (β, history, metric weight): Pulay 0.05/5/50 (legacy
GPAW's choice for periodic metals), MSR1 0.05/10/20 (GPAW's own), direct 0.02/5/100.

**Separate magnetisation mixing.** A level with ``magnetisation: {beta, nmaxold, weight}`` mixes
the total density n↑ + n↓ with its mixer and the magnetisation density n↑ − n↓ with a second mixer
of the same kind and these settings (absent keys: the level's mixer defaults; weight 1 is GPAW's
plain metric, no long-wavelength weighting, which only charge needs). GPAW 26.7 realises it as
``mixer={'name': 'multi', 'method': 'dif', 'mixer_a': ..., 'mixer_b': ...}``
(``gpaw/mixer/multi.py``), new GPAW's counterpart of legacy ``MixerDif``.

**Direct minimisation (level 3).** GPAW 26.7 has one direct-optimisation eigensolver for plane
waves, ``eigensolver='etdm-fdpw'``. It cannot treat smeared metals: the new-GPAW implementation
asserts the same number of occupied bands at every k-point (``find_highest_occupied_bands`` in
``gpaw/new/pwfd/diropt.py``), and the legacy one requires ``occupations={'name':
'fixed-uniform'}`` with ``mixer={'backend': 'no-mixing'}`` (``check_assertions`` in
``gpaw/directmin/etdm_fdpw.py``). A spin-polarised alloy slab on a k-point grid with
Marzari–Vanderbilt smearing violates both, so level ``direct`` is realised as the closest robust
option GPAW offers for such systems: a Davidson eigensolver with three inner iterations per SCF
step (``{'name': 'davidson', 'niter': 3}``; plane waves only, LCAO diagonalises exactly anyway)
and heavily damped Pulay mixing (β 0.02, metric weight 100). Every record names the realisation
it used (``scf_attempts[].gpaw``).

The effective smearing width of a level is ``max(stage width, level width)``: the ladder only ever
widens the smearing of the stage (``dft.planewave.smearing_width``, ``eos.smearing_width``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass

from .gpaw_params import occupations

MIXER_DEFAULTS: dict[str, dict[str, float]] = {
    "pulay": {"beta": 0.05, "nmaxold": 5, "weight": 50.0},
    "msr1": {"beta": 0.05, "nmaxold": 10, "weight": 20.0},
    "direct": {"beta": 0.02, "nmaxold": 5, "weight": 100.0},
}
DIRECT_EIGENSOLVER = {"name": "davidson", "niter": 3}


@dataclass(frozen=True)
class LadderLevel:
    """One rung of the ladder (see the module docstring)."""

    index: int
    mixer: str
    eigenstates: float
    smearing_width: float
    maxiter: int
    beta: float | None = None
    nmaxold: int | None = None
    weight: float | None = None
    density: float | None = None
    magmoms: float | None = None
    magnetisation: tuple[tuple[str, float], ...] | None = None

    @classmethod
    def from_config(cls, index: int, level: Mapping) -> LadderLevel:
        where = f"config key 'dft.scf_ladder[{index}]'"
        if level.get("mixer") not in MIXER_DEFAULTS:
            raise ValueError(
                f"{where}: mixer {level.get('mixer')!r} is not allowed; "
                f"allowed values: {', '.join(MIXER_DEFAULTS)}"
            )
        magnetisation = level.get("magnetisation")
        if magnetisation is not None:
            if level["mixer"] == "direct":
                raise ValueError(f"{where}: 'magnetisation' needs mixer pulay or msr1, not direct")
            unknown = set(magnetisation) - {"beta", "nmaxold", "weight"}
            if unknown:
                raise ValueError(
                    f"{where}: unknown key(s) {sorted(unknown)} in 'magnetisation'; "
                    "allowed: beta, nmaxold, weight"
                )
            magnetisation = tuple(sorted(magnetisation.items()))
        return cls(
            index=index,
            mixer=str(level["mixer"]),
            eigenstates=float(level["eigenstates"]),
            smearing_width=float(level["smearing_width"]),
            maxiter=int(level["maxiter"]),
            beta=level.get("beta"),
            nmaxold=level.get("nmaxold"),
            weight=level.get("weight"),
            density=None if level.get("density") is None else float(level["density"]),
            magmoms=None if level.get("magmoms") is None else float(level["magmoms"]),
            magnetisation=magnetisation,
        )

    def mixer_parameters(self) -> dict:
        """Mixer settings of this level: the config's values over the mixer's defaults."""
        out = dict(MIXER_DEFAULTS[self.mixer])
        for key in ("beta", "nmaxold", "weight"):
            if getattr(self, key) is not None:
                out[key] = getattr(self, key)
        return out

    def magnetisation_mixer_parameters(self) -> dict | None:
        """Settings of the magnetisation density's mixer, or None (one mixer for both spins)."""
        if self.magnetisation is None:
            return None
        return {**MIXER_DEFAULTS[self.mixer], **dict(self.magnetisation)}

    def describe(self) -> dict:
        out = {k: v for k, v in asdict(self).items() if v is not None}
        if self.magnetisation is not None:
            out["magnetisation"] = dict(self.magnetisation)
        return out


def ladder_from_config(levels: Sequence[Mapping]) -> list[LadderLevel]:
    """The configured ladder (``dft.scf_ladder``) as :class:`LadderLevel` objects."""
    if not levels:
        raise ValueError("config key 'dft.scf_ladder': needs at least one level")
    return [LadderLevel.from_config(i, lvl) for i, lvl in enumerate(levels)]


def level_parameters(level: LadderLevel, base: Mapping, smearing: str) -> dict:
    """GPAW parameters of ``base`` (one stage's parameters) at ladder ``level``.

    ``smearing`` is the config's smearing name; the width is ``max(base width, level width)``.
    """
    params = dict(base)
    width = max(float(base["occupations"]["width"]), level.smearing_width)
    params["occupations"] = occupations(smearing, width)
    params["convergence"] = {"eigenstates": level.eigenstates}
    if level.density is not None:
        params["convergence"]["density"] = level.density
    if level.magmoms is not None:
        from .moment_criterion import recorded

        params["convergence"]["custom"] = [recorded(level.magmoms)]
    params["maxiter"] = level.maxiter
    mix = level.mixer_parameters()
    name = "msr1" if level.mixer == "msr1" else "pulay"
    params["mixer"] = {"name": name, **mix}
    spin_mix = level.magnetisation_mixer_parameters()
    if spin_mix is not None and base.get("spinpol"):
        params["mixer"] = {
            "name": "multi",
            "method": "dif",
            "mixer_a": params["mixer"],
            "mixer_b": {"name": name, **spin_mix},
        }
    is_pw = isinstance(base.get("mode"), Mapping) and base["mode"].get("name") == "pw"
    if level.mixer == "direct" and is_pw:
        params["eigensolver"] = dict(DIRECT_EIGENSOLVER)
    return params


def calculator_parameters(params: Mapping) -> dict:
    """``params`` (JSON, as :func:`level_parameters` gives and records store) as GPAW takes them.

    A recorded moment criterion becomes a fresh criterion object (one per calculator).
    """
    from .moment_criterion import gpaw_convergence

    out = dict(params)
    if "convergence" in out:
        out["convergence"] = gpaw_convergence(out["convergence"])
    return out


def realisation(params: Mapping) -> dict:
    """The SCF part of ``params`` as recorded with each attempt."""
    out = {"mixer": params.get("mixer"), "occupations": params.get("occupations")}
    if "eigensolver" in params:
        out["eigensolver"] = params["eigensolver"]
    return out


def scf_errors() -> tuple[type[BaseException], ...]:
    """Exceptions that mean "this SCF did not converge": the ladder climbs on these.

    GPAW's ``ConvergenceError`` family (``KohnShamConvergenceError``, ``TooFewBandsError``), and
    numerical breakdowns of the mixer/eigensolver (``LinAlgError``, floating-point errors).
    """
    import numpy as np
    from gpaw import ConvergenceError

    return (ConvergenceError, np.linalg.LinAlgError, ArithmeticError)


class SinglePointFailed(RuntimeError):
    """No ladder level converged a single-point SCF; ``attempts`` lists them."""

    def __init__(self, attempts: Sequence[Mapping]):
        self.attempts = list(attempts)
        last = attempts[-1].get("error", "") if attempts else ""
        super().__init__(f"SCF did not converge at any of {len(attempts)} ladder level(s) ({last})")


def converge_single_point(
    atoms,
    base: Mapping,
    smearing: str,
    ladder: Sequence[LadderLevel],
    txt_prefix: str,
    parallel: Mapping | None = None,
) -> tuple[float, list[float], list[dict]]:
    """Energy (eV), per-atom moments (μB) and the attempts of one GPAW single point.

    Tries the levels in order; each gets a fresh calculator and a log ``{txt_prefix}-L{level}.txt``.
    ``parallel``: GPAW's process layout under MPI (:func:`magmom.dft.parallel.gpaw_parallel`).
    Raises :class:`SinglePointFailed` when every level fails.
    """
    import time

    import numpy as np
    from gpaw import GPAW

    errors = scf_errors()
    attempts: list[dict] = []
    for level in ladder:
        params = level_parameters(level, base, smearing)
        attempt = {
            "level": level.index,
            **{k: v for k, v in level.describe().items() if k != "index"},
            "gpaw": realisation(params),
        }
        layout = {"parallel": dict(parallel)} if parallel else {}
        calc = GPAW(
            **calculator_parameters(params), **layout, txt=f"{txt_prefix}-L{level.index}.txt"
        )
        atoms.calc = calc
        t0 = time.perf_counter()
        try:
            energy = float(atoms.get_potential_energy())
        except errors as err:
            attempt.update(
                outcome="scf_failed",
                error=f"{type(err).__name__}: {err}".strip().rstrip(":"),
                wall_time=time.perf_counter() - t0,
            )
            attempts.append(attempt)
            atoms.calc = None
            continue
        spinpol = bool(base.get("spinpol"))
        moments = calc.get_magnetic_moments() if spinpol else np.zeros(len(atoms))
        attempt.update(
            outcome="converged",
            scf_iterations=int(calc.get_number_of_iterations()),
            total_magmom=float(calc.get_magnetic_moment()) if spinpol else 0.0,
            wall_time=time.perf_counter() - t0,
        )
        attempts.append(attempt)
        atoms.calc = None
        return energy, [float(m) for m in moments], attempts
    raise SinglePointFailed(attempts)
