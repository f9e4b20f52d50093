"""The DFT stage's settings: the config's ``dft`` section as one frozen object.

:class:`DftSettings` is built once where a config enters (a rule script, a benchmark, a test:
:meth:`DftSettings.from_config`) and passed by name; the library reads attributes
(``settings.planewave.ecut``, ``settings.relax.fmax``; the ladder's levels as
:class:`~magmom.dft.scf_ladder.LadderLevel` by
``ladder_from_config(settings.scf_ladder)``). This module imports nothing of the DFT stage:
the stage's modules import it.

================  ===============================================================================
part              config keys (``dft.*``)
================  ===============================================================================
``prerelax``      :class:`Prerelax`: ``model``, ``uma_checkpoint``, ``uma_task``, ``fmax``,
                  ``steps``
``lcao``          :class:`Lcao`: ``basis``, ``h`` (Å), ``fmax`` (eV/Å), ``steps``; or null: no
                  LCAO warm-up (the plane-wave stage starts from the pre-relaxed geometry)
``planewave``     :class:`PlaneWave`: ``ecut`` (eV), ``xc``, ``kpt_density`` (Å⁻¹), ``kpts_z``,
                  ``smearing``, ``smearing_width`` (eV), ``dipole_correction``
``relax``         :class:`Relax`: ``optimizer``, ``fmax`` (eV/Å), ``steps``
``scf_ladder``    the levels as the config spells them (read-only mappings)
================  ===============================================================================

plus ``initial_moments`` (the start policy, :mod:`magmom.dft.initial_moments`). ``dft.resources``
sizes the jobs (:mod:`magmom.dft.job_resources`) and is not a setting of the calculation.

**Values are kept as the config spells them** (no conversion: ``ecut: 250`` stays the int 250),
and :meth:`DftSettings.config` gives the section back key for key, in the config's order. The
labeller's records and checkpoints hash these values (``parameters_sha256``, the stage and
pre-relaxation keys), so a hash computed from the settings equals the one the ``dft`` dict gave
(``tests/test_dft_settings.py`` compares them with hashes stored before the change).

:class:`EosSettings` is the EOS stage's (:mod:`magmom.dft.eos`): the ``eos`` section, the two
``recipe`` keys and the three ``dft`` settings the rule ``eos`` passes, kept as spelled too.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from types import MappingProxyType


def _from_section(cls, section: Mapping, where: str):
    """``cls`` from the config section ``section`` (at ``where``): every field, no other key."""
    names = [f.name for f in fields(cls)]
    _check_keys(section, names, where)
    return cls(**{n: section[n] for n in names})


def _check_keys(section: Mapping, names, where: str) -> None:
    """Raise naming the keys of the config section ``section`` (at ``where``) that are missing
    from ``names`` or not among them."""
    if not isinstance(section, Mapping):
        raise ValueError(f"config key {where!r}: expected a mapping, got {section!r}")
    missing = [n for n in names if n not in section]
    unknown = [k for k in section if k not in names]
    if missing or unknown:
        raise ValueError(
            f"config key {where!r}: "
            + "; ".join(
                ([f"missing {', '.join(missing)}"] if missing else [])
                + ([f"unknown {', '.join(map(str, unknown))}"] if unknown else [])
            )
            + f" (keys: {', '.join(names)})"
        )


def _section(part) -> dict:
    """A part's config section (field order = the config's key order)."""
    return {f.name: getattr(part, f.name) for f in fields(part)}


@dataclass(frozen=True)
class Prerelax:
    """``dft.prerelax``: the ML pre-relaxation (:mod:`magmom.dft.prerelax`)."""

    model: str
    fmax: float
    steps: int
    uma_checkpoint: str | None = None
    uma_task: str = "oc20"

    def config(self) -> dict:
        """The config section, key for key, in the config's order."""
        return _ordered(self)


@dataclass(frozen=True)
class Lcao:
    """``dft.lcao``: the LCAO warm-up's basis, grid spacing and relaxation bounds."""

    basis: str
    h: float
    fmax: float
    steps: int

    def config(self) -> dict:
        """The config section, key for key, in the config's order."""
        return _ordered(self)


@dataclass(frozen=True)
class PlaneWave:
    """``dft.planewave``: the plane-wave settings both GPAW stages share (except ``ecut``)."""

    ecut: float
    xc: str
    kpt_density: float
    kpts_z: int
    smearing: str
    smearing_width: float
    dipole_correction: bool

    def config(self) -> dict:
        """The config section, key for key, in the config's order."""
        return _ordered(self)


@dataclass(frozen=True)
class Relax:
    """``dft.relax``: the plane-wave relaxation's optimiser and bounds."""

    optimizer: str
    fmax: float
    steps: int

    def config(self) -> dict:
        """The config section, key for key, in the config's order."""
        return _ordered(self)


# the config's key order of each section (the dataclasses put fields with defaults last)
_ORDER = {
    Prerelax: ("model", "uma_checkpoint", "uma_task", "fmax", "steps"),
}


def _ordered(part) -> dict:
    out = _section(part)
    order = _ORDER.get(type(part))
    return {k: out[k] for k in order} if order else out


@dataclass(frozen=True)
class DftSettings:
    """The ``dft`` section (module docstring); build it with :meth:`from_config`."""

    initial_moments: str
    prerelax: Prerelax
    lcao: Lcao | None
    planewave: PlaneWave
    relax: Relax
    scf_ladder: tuple[Mapping, ...]

    PARTS = {"prerelax": Prerelax, "lcao": Lcao, "planewave": PlaneWave, "relax": Relax}
    OPTIONAL = ("lcao",)  # null: the stage does not run

    @classmethod
    def from_config(cls, dft: Mapping) -> DftSettings:
        """The settings of a config's ``dft`` section (``resources`` ignored: the jobs' sizes).
        A missing or unknown key is an error naming it."""
        known = {"initial_moments", "scf_ladder", "resources", *cls.PARTS}
        unknown = [k for k in dft if k not in known]
        missing = [k for k in known - {"resources"} if k not in dft]
        if unknown or missing:
            raise ValueError(
                "config key 'dft': "
                + "; ".join(
                    ([f"missing {', '.join(sorted(missing))}"] if missing else [])
                    + ([f"unknown {', '.join(map(str, unknown))}"] if unknown else [])
                )
            )
        ladder = dft["scf_ladder"]
        if not isinstance(ladder, list | tuple) or not all(isinstance(x, Mapping) for x in ladder):
            raise ValueError(
                f"config key 'dft.scf_ladder': expected a list of levels, got {ladder!r}"
            )
        return cls(
            initial_moments=dft["initial_moments"],
            scf_ladder=tuple(MappingProxyType(dict(level)) for level in ladder),
            **{
                k: None if k in cls.OPTIONAL and dft[k] is None
                else _from_section(part, dft[k], f"dft.{k}")
                for k, part in cls.PARTS.items()
            },
        )  # fmt: skip

    def config(self) -> dict:
        """The ``dft`` section these settings came from (without ``resources``), key for key."""
        return {
            "initial_moments": self.initial_moments,
            **{
                k: None if getattr(self, k) is None else _ordered(getattr(self, k))
                for k in self.PARTS
            },
            "scf_ladder": self.ladder_config(),
        }

    def ladder_config(self) -> list[dict]:
        """The SCF ladder as the config spells it (what the records store)."""
        return [dict(level) for level in self.scf_ladder]

    def with_planewave(self, overrides: Mapping | None, where: str) -> DftSettings:
        """These settings with ``dft.planewave`` keys replaced by ``overrides`` (from
        ``where``, a config key); an unknown key is an error naming it."""
        overrides = dict(overrides or {})
        names = {f.name for f in fields(PlaneWave)}
        unknown = [k for k in overrides if k not in names]
        if unknown:
            raise ValueError(
                f"config key {where!r}: unknown {', '.join(map(str, unknown))} (keys of "
                f"dft.planewave: {', '.join(sorted(names))})"
            )
        return replace(self, planewave=replace(self.planewave, **overrides))

    def with_maxiter_cap(self, maxiter: int | None) -> DftSettings:
        """These settings with every ladder level's ``maxiter`` at most ``maxiter`` (None or 0:
        unchanged)."""
        if not maxiter:
            return self
        capped = (
            MappingProxyType({**level, "maxiter": min(int(level["maxiter"]), int(maxiter))})
            for level in self.scf_ladder
        )
        return replace(self, scf_ladder=tuple(capped))


@dataclass(frozen=True)
class EosSettings:
    """How an equation of state is computed (:mod:`magmom.dft.eos`); build it with
    :meth:`from_params`.

    The ``eos`` section's keys (``calculator``, ``strain``, ``points``, ``c_over_a_strain``,
    ``c_over_a_points``, ``ecut`` in eV, ``kpt_density`` in Å⁻¹, ``smearing_width`` in eV);
    ``default_magmom`` (μB) and ``hcp_c_over_a`` (a ratio or ``"fit"``) from ``recipe``; ``xc``,
    ``smearing`` (``dft.planewave``) and the ``dft.scf_ladder`` levels as the config spells them,
    None / empty when the rule passes no ``dft`` settings (a CHGNet or reference EOS).
    """

    calculator: str
    strain: float
    points: int
    c_over_a_strain: float
    c_over_a_points: int
    ecut: float
    kpt_density: float
    smearing_width: float
    default_magmom: float
    hcp_c_over_a: float | str
    xc: str | None = None
    smearing: str | None = None
    scf_ladder: tuple[Mapping, ...] = ()

    EOS_KEYS = (
        "calculator", "strain", "points", "c_over_a_strain", "c_over_a_points", "ecut",
        "kpt_density", "smearing_width",
    )  # fmt: skip

    @classmethod
    def from_params(cls, eos: Mapping, dft: Mapping, recipe: Mapping) -> EosSettings:
        """The settings of the rule's params: the ``eos`` section (every key, no other), the
        ``dft`` settings (``planewave.xc``, ``planewave.smearing``, ``scf_ladder``; ``{}`` for a
        CHGNet or reference EOS; a whole ``dft`` section also does) and ``recipe``
        (``default_magmom``, ``hcp_c_over_a``). A missing or unknown key is an error naming it."""
        _check_keys(eos, cls.EOS_KEYS, "eos")
        for key in ("default_magmom", "hcp_c_over_a"):
            if key not in recipe:
                raise ValueError(f"config key 'recipe.{key}' missing (the EOS needs it)")
        pw = dft.get("planewave", {})
        ladder = dft.get("scf_ladder", ())
        if not isinstance(ladder, list | tuple) or not all(isinstance(x, Mapping) for x in ladder):
            raise ValueError(
                f"config key 'dft.scf_ladder': expected a list of levels, got {ladder!r}"
            )
        return cls(
            **{k: eos[k] for k in cls.EOS_KEYS},
            default_magmom=recipe["default_magmom"],
            hcp_c_over_a=recipe["hcp_c_over_a"],
            xc=pw.get("xc"),
            smearing=pw.get("smearing"),
            scf_ladder=tuple(MappingProxyType(dict(level)) for level in ladder),
        )

    def as_dict(self) -> dict:
        """Plain data (the ladder as the config spells it): how the MPI ranks get the settings;
        :meth:`from_dict` reads it back."""
        out = {f.name: getattr(self, f.name) for f in fields(self)}
        out["scf_ladder"] = [dict(level) for level in self.scf_ladder]
        return out

    @classmethod
    def from_dict(cls, data: Mapping) -> EosSettings:
        names = {f.name for f in fields(cls)}
        unknown = [k for k in data if k not in names]
        if unknown:
            raise ValueError(f"EOS settings: unknown {', '.join(map(str, unknown))}")
        ladder = tuple(MappingProxyType(dict(level)) for level in data.get("scf_ladder", ()))
        return cls(**{**data, "scf_ladder": ladder})
