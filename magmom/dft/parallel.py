"""MPI-parallel GPAW: what the build supports, the process layout of a slab, and the launcher.

A DFT job (rule ``dft_slab``, ``eos``) runs ``dft.resources.tasks`` MPI processes. The rule's
script itself is one process: it does the serial work (the CHGNet pre-relaxation, checkpointed)
and then starts the GPAW part as ``{launcher} -n {tasks} python -m magmom.dft.mpi_worker spec``
(:func:`run_under_mpi`), so nothing but GPAW runs once per rank. The launcher is ``srun`` inside
a Slurm allocation (the Slurm executor plugin runs a job with an ``mpi`` resource in the batch
script, so the job's own ``srun`` starts the ranks, ``--ntasks`` from the ``tasks`` resource) and
``mpiexec`` elsewhere (``dft.resources.launcher: auto``; or name one).

Serial fallback: with ``tasks: 1``, or a GPAW built without MPI (``gpaw info``: MPI enabled no),
GPAW runs in the script's own process (world size 1); the latter is logged as a warning. A job
without a GPAW part (CHGNet labels, a CHGNet EOS) always runs there. :func:`run_job`
makes this choice for every DFT job (``dft_slab``, ``eos``, ``warm_start_slab``).

Layout of ``P`` processes (:func:`choose_layout`): GPAW distributes spins × irreducible k-points
first (nearly perfect scaling, no communication inside the SCF), then real-space/plane-wave
domains; bands stay undistributed (band parallelisation pays only for hundreds of processes)::

    kpt    = the largest divisor of P that divides n_spins × n_IBZ   (even load on every rank)
    domain = P / kpt,   band = 1

The layout and the world size GPAW actually used are written to the DFT record (``parallel``).
"""

from __future__ import annotations

import importlib
import json
import logging
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)

LAUNCHERS = ("auto", "srun", "mpiexec")

# Environment of every MPI rank: GPAW 26 uses its C MPI communicator only when told to
# (`gpaw python` sets the same), and OpenMPI refuses root without the two ALLOW variables.
RANK_ENV = {"GPAW_MPI_BACKEND": "cgpaw"}
ROOT_ENV = {"OMPI_ALLOW_RUN_AS_ROOT": "1", "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM": "1"}


def gpaw_build() -> dict[str, bool]:
    """What this GPAW was compiled with (the yes/no lines of ``gpaw info``)."""
    import gpaw.cgpaw as cgpaw
    import gpaw.fftw as fftw
    from gpaw.utilities import compiled_with_sl

    mpi = bool(cgpaw.have_mpi)
    return {
        "mpi": mpi,
        "fftw": bool(fftw.have_fftw()),
        "scalapack": bool(mpi and compiled_with_sl()),
    }


def world():
    """GPAW's world communicator (size 1 in a serial process)."""
    from gpaw.mpi import world as gpaw_world

    return gpaw_world


def is_master() -> bool:
    return world().rank == 0


def n_ibz_kpoints(atoms, kpts: Mapping, spinpol: bool) -> int:
    """Irreducible k-points of ``atoms`` with GPAW's own symmetry analysis (moments included)."""
    from gpaw.dft import MonkhorstPack, Symmetry

    magmoms = np.zeros((len(atoms), 3))
    if spinpol:
        magmoms[:, 2] = atoms.get_initial_magnetic_moments()
    symmetries = Symmetry().build(atoms, setup_ids=list(atoms.numbers), magmoms=magmoms)
    bz = MonkhorstPack(**kpts).build(atoms)
    return len(bz.reduce(symmetries, strict=False))


def choose_layout(world_size: int, n_spins: int, n_ibz: int) -> dict[str, int]:
    """``{"kpt", "domain", "band"}`` for ``world_size`` processes (module docstring)."""
    if world_size < 1:
        raise ValueError(f"world size must be >= 1 (got {world_size})")
    n_k = n_spins * n_ibz
    kpt = max(d for d in range(1, world_size + 1) if world_size % d == 0 and n_k % d == 0)
    return {"kpt": kpt, "domain": world_size // kpt, "band": 1}


def slab_layout(atoms, gpaw_params: Mapping, world_size: int) -> dict:
    """The layout of ``atoms`` at ``gpaw_params`` (its ``kpts``, ``spinpol``) on ``world_size``."""
    spinpol = bool(gpaw_params.get("spinpol"))
    n_ibz = n_ibz_kpoints(atoms, gpaw_params["kpts"], spinpol)
    return {
        "world_size": int(world_size),
        "n_ibz_kpoints": n_ibz,
        "n_spins": 2 if spinpol else 1,
        **choose_layout(world_size, 2 if spinpol else 1, n_ibz),
    }


def gpaw_parallel(layout: Mapping) -> dict[str, int]:
    """GPAW's ``parallel`` keyword of a layout (empty in a serial process)."""
    if layout["world_size"] == 1:
        return {}
    return {k: int(layout[k]) for k in ("kpt", "domain", "band")}


# ---- launching ---------------------------------------------------------------------------------
def launcher_command(tasks: int, launcher: str = "auto") -> list[str]:
    """The command prefix that starts ``tasks`` ranks: ``srun`` in a Slurm allocation, else
    ``mpiexec`` (``launcher`` names one explicitly)."""
    if launcher not in LAUNCHERS:
        raise ValueError(
            f"config key 'dft.resources.launcher': {launcher!r} is not allowed; allowed values: "
            f"{', '.join(LAUNCHERS)}"
        )
    if launcher == "auto":
        launcher = "srun" if os.environ.get("SLURM_JOB_ID") and shutil.which("srun") else "mpiexec"
    if shutil.which(launcher) is None:
        raise RuntimeError(
            f"dft.resources.tasks asks for {tasks} MPI processes but {launcher!r} is not on PATH; "
            "install MPI (scripts/setup.sh: openmpi-bin) or set dft.resources.tasks: 1"
        )
    if launcher == "srun":
        # inside the job's allocation; pmix is how Debian's OpenMPI talks to Slurm
        return ["srun", f"--ntasks={tasks}", "--mpi=pmix", "--kill-on-bad-exit"]
    return ["mpiexec", "-n", str(tasks), "--oversubscribe"]


def mpi_wanted(tasks: int) -> bool:
    """Whether a job of ``tasks`` processes runs GPAW under MPI here (False: serial fallback)."""
    if tasks <= 1:
        return False
    if not gpaw_build()["mpi"]:
        log.warning(
            "dft.resources.tasks is %d but this GPAW was built without MPI (gpaw info: MPI "
            "enabled no); running GPAW serially. scripts/setup.sh builds it with MPI when "
            "openmpi-bin and libopenmpi-dev are installed",
            tasks,
        )
        return False
    return True


def importable_name(function: Callable) -> str:
    """``"module:qualname"`` of a module-level ``function``: how the MPI ranks find it."""
    name = f"{function.__module__}:{function.__qualname__}"
    if "<" in function.__qualname__ or resolve(name) is not function:
        raise ValueError(
            f"{name} cannot run on MPI ranks: the ranks import it by name, so it must be a "
            "module-level function"
        )
    return name


def resolve(name: str) -> Callable:
    """The function named ``"module:qualname"`` (:func:`importable_name`)."""
    module, qualname = name.split(":")
    obj = importlib.import_module(module)
    for part in qualname.split("."):
        obj = getattr(obj, part)
    return obj


def run_under_mpi(
    function: Callable, kwargs: Mapping, output: str | Path, write: Callable, tasks: int,
    launcher: str = "auto",
) -> None:  # fmt: skip
    """Run ``function(**kwargs)`` (JSON-able ``kwargs``) on ``tasks`` ranks; rank 0 writes its
    result with ``write(output, result)`` (:mod:`magmom.dft.mpi_worker`).

    The ranks' output is streamed to this process's stdout (the rule's log). Raises
    ``RuntimeError`` with the exit status when the launcher fails; a SIGTERM to this process (a
    Slurm time-out) is passed on to the ranks, whose checkpoints let the retry resume.
    """
    cmd = [*launcher_command(tasks, launcher), sys.executable, "-m", "magmom.dft.mpi_worker"]
    env = {**os.environ, **RANK_ENV}
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS"):  # one BLAS thread per rank
        env.setdefault(var, "1")
    if os.geteuid() == 0:
        env.update(ROOT_ENV)
    spec_content = {
        "function": importable_name(function),
        "kwargs": dict(kwargs),
        "output": str(output),
        "write": importable_name(write),
    }
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as fh:
        json.dump(spec_content, fh)
        spec = fh.name
    log.info("starting %d MPI ranks: %s %s", tasks, " ".join(cmd), spec)
    try:
        proc = subprocess.Popen(
            [*cmd, spec], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        import signal

        previous = signal.signal(signal.SIGTERM, lambda *_: proc.send_signal(signal.SIGTERM))
        try:
            for line in proc.stdout:
                sys.stdout.write(line)
                sys.stdout.flush()
            status = proc.wait()
        finally:
            signal.signal(signal.SIGTERM, previous)
    finally:
        Path(spec).unlink(missing_ok=True)
    if status != 0:
        raise RuntimeError(f"{cmd[0]} with {tasks} ranks exited with status {status}")


def write_result(output: str | Path, result: Mapping) -> None:
    """The default ``write`` of :func:`run_job`: ``result`` as JSON, atomically."""
    from magmom.io import write_json

    write_json(output, result)


def run_job(
    function: Callable[..., Mapping],
    kwargs: Mapping,
    output: str | Path,
    tasks: int,
    launcher: str = "auto",
    *,
    gpaw: bool = True,
    before_ranks: Callable[[], object] | None = None,
    write: Callable[[str | Path, Mapping], None] = write_result,
) -> dict:
    """A DFT job (``dft_slab``, ``eos``, ``warm_start_slab``): ``function(**kwargs)``, its result
    written to ``output`` by ``write`` and returned.

    On ``tasks`` MPI ranks (:func:`run_under_mpi`; rank 0 writes, the result is read back from
    ``output``) when the job has a GPAW part (``gpaw``) and MPI is wanted (:func:`mpi_wanted`);
    else in this process (the serial fallback, module docstring). ``before_ranks``: serial work
    done here, once, before the ranks start (the CHGNet pre-relaxation).
    """
    if gpaw and mpi_wanted(int(tasks)):
        if before_ranks is not None:
            before_ranks()
        run_under_mpi(function, kwargs, output, write, int(tasks), launcher)
        with open(output) as fh:
            return json.load(fh)
    result = function(**kwargs)
    write(output, result)
    return result
