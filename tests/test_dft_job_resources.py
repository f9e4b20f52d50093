"""Resources of the DFT jobs (magmom/dft/job_resources.py): MPI, threads, memory and time."""

from __future__ import annotations

import copy
from math import prod

import pytest
from dft_helpers import ROOT

from magmom import slurm_limits
from magmom.dft import cost_model
from magmom.dft.job_resources import (
    EOS_MINUTES,
    WARM_START_UNSIZED,
    DftJobResources,
    by_attempt,
    grouped_runtime,
)
from magmom.recipe import slab_index
from magmom.training.cli import load_config


@pytest.fixture(scope="module")
def tiny():
    """presets/tiny.yaml as the workflow reads it (CHGNet labels, dft.resources.tasks 2)."""
    return load_config(ROOT / "config.yaml", [ROOT / "presets" / "tiny.yaml"])


def with_changes(config, labeller=None, overrides=None, resources=None, calculator=None):
    cfg = copy.deepcopy(config)
    if labeller:
        cfg["labeller"] = labeller
    if overrides is not None:
        cfg["labeller_overrides"] = overrides
    if resources is not None:
        cfg["dft"]["resources"] = resources
    if calculator:
        cfg["eos"]["calculator"] = calculator
    return cfg


def test_mpi_jobs_only_where_gpaw_runs_on_more_than_one_process(tiny, tmp_path):
    slab = "cu050-fe050-fcc-random-v1"
    chgnet = DftJobResources(tiny, tmp_path)
    assert chgnet.tasks() == 2 and not chgnet.dft_is_mpi() and not chgnet.eos_is_mpi()
    assert chgnet.threads(chgnet.dft_is_mpi()) == 1 and chgnet.mpi_resources(False) == {}
    one_gpaw_slab = DftJobResources(with_changes(tiny, overrides={slab: "gpaw"}), tmp_path)
    assert one_gpaw_slab.dft_is_mpi()  # one answer for every dft_slab job (Slurm groups)
    assert one_gpaw_slab.slab_labeller(slab) == "gpaw"
    assert one_gpaw_slab.slab_labeller("ni100-fcc-pure-v0") == "chgnet"
    gpaw_eos = DftJobResources(with_changes(tiny, calculator="gpaw"), tmp_path)
    assert gpaw_eos.eos_is_mpi() and not gpaw_eos.dft_is_mpi()
    serial = DftJobResources(with_changes(tiny, labeller="gpaw", resources={"tasks": 1}), tmp_path)
    assert not serial.dft_is_mpi()
    res = {"tasks": 4, "threads": 2, "launcher": "srun"}
    mpi = DftJobResources(with_changes(tiny, labeller="gpaw", resources=res), tmp_path)
    assert mpi.dft_is_mpi() and mpi.threads(True) == 8 and mpi.threads(False) == 2
    assert mpi.mpi_resources(True) == {"mpi": "srun", "tasks": 4, "cpus_per_task": 2}
    assert mpi.setting("retries", 2) == 2 and mpi.setting("launcher", "auto") == "srun"


def test_slab_sizes_from_the_settings_the_cost_model_or_the_surrogate(tiny, tmp_path):
    ids = slab_index(tiny, cache_dir=tmp_path / "index")
    gpaw_slab, chgnet_slab = ids[0], ids[1]
    cfg = with_changes(tiny, overrides={gpaw_slab: "gpaw"})
    jobs = DftJobResources(cfg, tmp_path / "sizes")
    model = cost_model.recipe_job_sizes(
        cfg["recipe"], cost_model.JobSettings.from_config(cfg), 2, cfg["dft"]["initial_moments"],
        tmp_path / "model",
    )  # fmt: skip
    for key in ("runtime", "mem_mb"):
        assert jobs.slab_estimate(gpaw_slab, key) == model[gpaw_slab][key] > 0
        assert jobs.slab_estimate(chgnet_slab, key) == cost_model.SURROGATE[key]
    fixed = DftJobResources(
        with_changes(cfg, resources={"tasks": 2, "runtime": 90, "mem_mb": 3000}), tmp_path
    )
    assert fixed.slab_estimate(gpaw_slab, "runtime") == 90
    assert fixed.slab_estimate(chgnet_slab, "mem_mb") == 3000
    assert fixed.eos_minutes() == 90 and jobs.eos_minutes() == EOS_MINUTES
    assert jobs.unknown_overrides(ids) == [] and jobs.unknown_overrides(ids[1:]) == [gpaw_slab]


def test_a_warm_start_job_is_sized_as_one_single_point_per_start(tiny, tmp_path):
    """warm_start_slab: the cost model's job for len(STARTS) single points at the experiment's
    plane waves, whatever relaxation the labeller's settings ask for (not a fixed 720 min)."""
    from magmom.warm_start import STARTS

    ids = slab_index(tiny, cache_dir=tmp_path / "index")
    shapes = cost_model.slab_shapes(tiny["recipe"], tmp_path / "index")
    by_size = sorted(ids, key=lambda s: prod(shapes[s].size))
    small, large = by_size[0], by_size[-1]
    cfg = with_changes(tiny, labeller="gpaw", resources={"tasks": 2})
    assert cfg["dft"]["relax"]["steps"] > 0 and cfg["dft"]["lcao"] is not None  # it relaxes
    # the same slab labelled by single points from the eos start alone, at the same plane waves
    single = copy.deepcopy(cfg)
    single["dft"].update(
        lcao=None, relax={**cfg["dft"]["relax"], "steps": 0}, initial_moments="eos"
    )
    one_start = DftJobResources(single, tmp_path / "sizes").slab_estimate(small, "runtime")
    jobs = DftJobResources(cfg, tmp_path / "sizes")
    job = cost_model.JobSettings.from_config(single)
    for slab in (small, large):
        for key in ("runtime", "mem_mb"):
            expected = cost_model.slab_job_size(shapes[slab], job, 2, len(STARTS))[key]
            assert jobs.warm_start_estimate(slab, key) == expected > 0
    assert jobs.warm_start_estimate(small, "mem_mb") == jobs.slab_estimate(small, "mem_mb")
    runtime = jobs.warm_start_estimate(small, "runtime")
    assert len(STARTS) * (one_start - 1) <= runtime <= len(STARTS) * one_start
    assert runtime < jobs.slab_estimate(small, "runtime")  # no relaxation budgeted
    assert jobs.warm_start_estimate(large, "runtime") > runtime
    cheap = copy.deepcopy(cfg)
    cheap["warm_start"] = {**cheap.get("warm_start", {}), "planewave": {"ecut": 150.0}}
    cheap_jobs = DftJobResources(cheap, tmp_path / "sizes")
    assert cheap_jobs.warm_start_estimate(large, "runtime") < jobs.warm_start_estimate(
        large, "runtime"
    )
    for key in ("runtime", "mem_mb"):  # a slab of an imported dataset: no shape to size
        assert jobs.warm_start_estimate("imported-slab-7", key) == WARM_START_UNSIZED[key]
    fixed = DftJobResources(
        with_changes(cfg, resources={"tasks": 2, "runtime": 90, "mem_mb": 3000}), tmp_path
    )
    assert fixed.warm_start_estimate(large, "runtime") == 90
    assert fixed.warm_start_estimate(large, "mem_mb") == 3000


@pytest.fixture
def no_limit(monkeypatch):
    """This process resolved no Slurm time limit (a local run)."""
    monkeypatch.setitem(slurm_limits._resolved, "limit", None)


def test_memory_grows_with_the_attempt_and_a_retry_asks_for_the_limit(no_limit):
    assert [by_attempt("mem_mb", 4000, a, 600) for a in (1, 2, 3)] == [4000, 8000, 12000]
    assert [by_attempt("runtime", 100, a, 600) for a in (1, 2)] == [100, 600]  # it resumes
    assert [by_attempt("runtime", 900, a, 600) for a in (1, 2)] == [600, 600]
    assert [by_attempt("runtime", 100, a, None) for a in (1, 2)] == [100, 200]  # no limit


def test_a_retry_in_a_packed_group_asks_for_its_share_of_the_limit(no_limit):
    assert grouped_runtime(30, 1, 120, [30, 30]) == 30
    assert grouped_runtime(30, 2, None, [30, 30]) == 60  # no limit: x attempt
    assert grouped_runtime(30, 2, 120, None) == 120  # not grouped: the limit
    assert grouped_runtime(30, 2, 120, [30, 30]) == 60 == slurm_limits.retry_share(30, 60, 120)
    assert grouped_runtime(30, 2, 120, [30]) == 120  # alone in its group
