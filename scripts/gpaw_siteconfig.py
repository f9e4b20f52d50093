# GPAW build configuration (read by GPAW 26.7's setup.py through GPAW_CONFIG=this file, set by
# scripts/setup.sh; setup.py exec()s it with its globals `libraries`, `compiler`, `mpi`, ...).
#
# Builds against what the machine has, so one file serves both cases:
#   * Debian's OpenMPI (openmpi-bin, libopenmpi-dev) present -> mpi = True, compiled with mpic++;
#     FFTW (libfftw3-dev) and ScaLAPACK (libscalapack-openmpi-dev) when their libraries exist;
#   * no MPI -> the serial build (g++), FFTW still used when present. `gpaw info` then reports
#     MPI no / ScaLAPACK "no (MPI unavailable)" and DFT jobs run on one process.
# MAGMOM_GPAW_MPI=0 forces the serial build. scripts/setup.sh prints the result (`gpaw info`) and
# records which of the three it expects in the venv's stamp (magmom.dft.parallel.build_flavour).
import os
import shutil
from pathlib import Path

_libdirs = [Path("/usr/lib/x86_64-linux-gnu"), Path("/usr/lib64"), Path("/usr/lib")]


def _have_lib(name):
    return any((d / f"lib{name}.so").exists() for d in _libdirs)


libraries = ["xc", "blas"]  # libxc-dev; libblas.so is OpenBLAS (libopenblas-dev's alternative)
_want_mpi = os.environ.get("MAGMOM_GPAW_MPI", "1") != "0"
if _want_mpi and shutil.which("mpic++"):
    mpi = True
    compiler = "mpic++"
    if _have_lib("scalapack-openmpi"):
        scalapack = True
        libraries += ["scalapack-openmpi"]
else:
    mpi = False
    compiler = "g++"
if _have_lib("fftw3"):
    fftw = True
    libraries += ["fftw3"]
