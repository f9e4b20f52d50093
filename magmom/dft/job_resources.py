"""Resources of the DFT jobs (rules ``eos``, ``dft_slab``, ``warm_start_slab``) from the config.

``dft.resources`` sets them; what it leaves out or sets to ``auto`` comes from here:

============ ==========================================================================
resource     value
============ ==========================================================================
tasks        MPI processes of a GPAW job (``dft.resources.tasks``, 1)
threads      cores of one job: ``threads`` per process x ``tasks`` for an MPI job
mpi          the launcher (``dft.resources.launcher``); only MPI jobs ask for it, with
             ``tasks`` (sbatch ``--ntasks``) and ``cpus_per_task``
mem_mb       a slab: :mod:`magmom.dft.cost_model` (GPAW) or the surrogate's; x attempt
runtime      a slab: the cost model's first-attempt minutes at the config's DFT settings
             (the budget of a start from ``dft.lcao`` and ``dft.relax.steps``, the
             plane-wave factor from ``dft.planewave.ecut`` and ``recipe.vacuum``:
             :class:`magmom.dft.cost_model.JobSettings`); a warm-start slab: the same
             model for one single point per start (:meth:`DftJobResources.warm_start_estimate`);
             an EOS: 240; then
             :func:`magmom.slurm_limits.runtime` (a retry, which resumes, asks for the
             partition's limit) or, in a packed Slurm group, :func:`grouped_runtime`
============ ==========================================================================

A ``dft_slab`` job is an MPI job when some slab is labelled by GPAW on more than one process (one
answer for every job: the jobs of a Slurm group must agree on string resources); an ``eos`` job
when GPAW computes its energies on more than one process (a CHGNet or reference EOS is serial).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping

from magmom import slurm_limits
from magmom.dft import cost_model

EOS_MINUTES = 240
"""First-attempt minutes of an ``eos`` job when ``dft.resources.runtime`` is ``auto``."""

WARM_START_UNSIZED = {"runtime": 720, "mem_mb": 8000}
"""First-attempt resources of a ``warm_start_slab`` job with ``auto`` whose slab the recipe does
not hold (a test slab of an imported dataset: the cost model has no shape for it)."""


def by_attempt(key: str, base: int, attempt: int, max_minutes: int | None) -> int:
    """``mem_mb`` or ``runtime`` of a DFT job of first-attempt ``base`` on ``attempt``:
    memory ``base x attempt``; time :func:`magmom.slurm_limits.runtime` of a job that resumes."""
    if key == "runtime":
        return slurm_limits.runtime(int(base), attempt, max_minutes, resumes=True)
    return int(base) * attempt


def grouped_runtime(
    minutes: int,
    attempt: int,
    max_minutes: int | None,
    group_members: Iterable[int] | None,
) -> int:
    """Minutes of a DFT job of first-attempt estimate ``minutes`` on ``attempt``.

    First attempts (or no limit): :func:`by_attempt`. A retry of a job in a packed Slurm group
    (``group_members``: the first-attempt estimates of its group's jobs in this run, itself
    included) asks for its share of the limit (the group then asks for the limit); a retry of a
    job outside any group for the limit.
    """
    if max_minutes is None or attempt <= 1:
        return by_attempt("runtime", minutes, attempt, max_minutes)
    if group_members is None:
        return max_minutes
    total = sum(slurm_limits.first_attempt(m, max_minutes) for m in group_members)
    return slurm_limits.retry_share(minutes, total, max_minutes)


class DftJobResources:
    """The DFT job resources of one config (module docstring); slab sizes computed once.

    ``cache_dir``: where :func:`magmom.dft.cost_model.recipe_job_sizes` keeps the slab sizes
    (beside the slab index).
    """

    def __init__(self, config: Mapping, cache_dir: str | os.PathLike):
        self.resources: Mapping = config["dft"].get("resources", {})
        self.labeller: str = config["labeller"]
        self.overrides: Mapping = config.get("labeller_overrides", {})
        self.eos_calculator: str = config["eos"]["calculator"]
        self._config = config
        self._recipe = config["recipe"]
        self._initial_moments = config["dft"]["initial_moments"]
        self._cache_dir = cache_dir
        self._gpaw_sizes: dict[str, dict] = {}
        self._shapes: dict | None = None
        self._warm_start_job: cost_model.JobSettings | None = None

    def setting(self, key: str, default):
        """``dft.resources.<key>`` as configured (``auto`` included), else ``default``."""
        return self.resources.get(key, default)

    def tasks(self) -> int:
        return int(self.setting("tasks", 1))

    def slab_labeller(self, slab_id: str) -> str:
        """The slab's labeller: its ``labeller_overrides`` entry, else ``labeller``."""
        return self.overrides.get(slab_id, self.labeller)

    def unknown_overrides(self, slab_ids: Iterable[str]) -> list[str]:
        """The ``labeller_overrides`` keys that are not slab ids of the recipe."""
        return sorted(set(self.overrides) - set(slab_ids))

    def dft_is_mpi(self) -> bool:
        """Whether ``dft_slab`` jobs are MPI jobs (module docstring)."""
        return "gpaw" in {self.labeller, *self.overrides.values()} and self.tasks() > 1

    def eos_is_mpi(self) -> bool:
        """Whether ``eos`` jobs are MPI jobs (module docstring)."""
        return self.eos_calculator == "gpaw" and self.tasks() > 1

    def threads(self, is_mpi: bool) -> int:
        """Cores of one job: its MPI processes x their threads."""
        return self.setting("threads", 1) * (self.tasks() if is_mpi else 1)

    def mpi_resources(self, is_mpi: bool) -> dict:
        """``mpi``, ``tasks``, ``cpus_per_task`` of an MPI job; nothing otherwise."""
        if not is_mpi:
            return {}
        return {
            "mpi": self.setting("launcher", "auto"),
            "tasks": self.tasks(),
            "cpus_per_task": self.setting("threads", 1),
        }

    def eos_minutes(self) -> int:
        """First-attempt minutes of an ``eos`` job (``dft.resources.runtime``; ``auto``: 240)."""
        base = self.setting("runtime", EOS_MINUTES)
        return EOS_MINUTES if base == "auto" else int(base)

    def gpaw_slab_sizes(self) -> dict[str, dict]:
        """``{slab_id: {runtime, mem_mb}}`` of every recipe slab labelled by GPAW (cost model at
        the config's DFT settings), computed (or read from the cache) on the first call only."""
        if not self._gpaw_sizes:
            self._gpaw_sizes.update(
                cost_model.recipe_job_sizes(
                    self._recipe,
                    cost_model.JobSettings.from_config(self._config),
                    self.tasks() if self.dft_is_mpi() else 1,
                    self._initial_moments,
                    self._cache_dir,
                )
            )
        return self._gpaw_sizes

    def warm_start_job(self) -> cost_model.JobSettings:
        """The cost-model settings of one warm-start SCF: the experiment's plane waves
        (:func:`magmom.warm_start.scf.experiment_dft`: ``warm_start.planewave`` over
        ``dft.planewave``) and a single point's budget (no LCAO stage, no relaxation)."""
        from magmom.dft.settings import DftSettings
        from magmom.warm_start.scf import experiment_dft

        warm_start = self._config.get("warm_start", {})
        dft = experiment_dft(
            DftSettings.from_config(self._config["dft"]), warm_start.get("planewave")
        )
        job = cost_model.JobSettings.from_settings(dft, self._recipe["vacuum"])
        return job._replace(budget=cost_model.budget(None, 0))

    def warm_start_estimate(self, slab_id: str, key: str) -> int:
        """First-attempt ``key`` (runtime | mem_mb) of one ``warm_start_slab`` job:
        ``dft.resources.<key>``, or with ``auto`` the cost model's for a single point from each
        start (:data:`magmom.warm_start.STARTS`) on the job's processes; for a slab the recipe
        does not hold, :data:`WARM_START_UNSIZED`."""
        from magmom.warm_start import STARTS

        base = self.setting(key, "auto")
        if base != "auto":
            return int(base)
        if self._shapes is None:  # once per parse: every warm_start_slab job asks
            self._shapes = cost_model.slab_shapes(self._recipe, self._cache_dir)
            self._warm_start_job = self.warm_start_job()
        shape = self._shapes.get(slab_id)
        if shape is None:
            return WARM_START_UNSIZED[key]
        job = cost_model.slab_job_size(shape, self._warm_start_job, self.tasks(), len(STARTS))
        return job[key]

    def slab_estimate(self, slab_id: str, key: str) -> int:
        """First-attempt ``key`` (runtime | mem_mb) of one slab: ``dft.resources.<key>``, or
        with ``auto`` the cost model's (GPAW) or the surrogate's."""
        base = self.setting(key, "auto")
        if base != "auto":
            return int(base)
        if self.slab_labeller(slab_id) != "gpaw":
            return cost_model.SURROGATE[key]
        return self.gpaw_slab_sizes()[slab_id][key]
