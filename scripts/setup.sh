#!/usr/bin/env bash
# One setup path for a fresh Debian 12 + Python 3.11 machine: system packages, then a venv in .venv
# holding every pinned dependency and this project (editable). Safe to re-run; fast when nothing changed.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${VENV:-.venv}
PYTHON=${PYTHON:-python3}

need_apt=()
# MPI, FFTW and ScaLAPACK for GPAW (scripts/gpaw_siteconfig.py); MAGMOM_GPAW_MPI=0: serial GPAW
APT_PKGS=(libxc-dev libopenblas-dev g++ pkg-config chromium chromium-driver libfftw3-dev)
[ "${MAGMOM_GPAW_MPI:-1}" = 0 ] || APT_PKGS+=(libopenmpi-dev openmpi-bin libscalapack-openmpi-dev)
for pkg in "${APT_PKGS[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || need_apt+=("$pkg")
done
if [ ${#need_apt[@]} -gt 0 ]; then
    SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
    echo "[setup] apt-get install ${need_apt[*]}"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_apt[@]}"
fi

# What GPAW must be built with here (scripts/gpaw_siteconfig.py decides the same way): part of the
# stamp, so installing or removing MPI/FFTW/ScaLAPACK rebuilds GPAW on the next setup.
have_lib() { [ -e "/usr/lib/x86_64-linux-gnu/lib$1.so" ] || [ -e "/usr/lib64/lib$1.so" ] || [ -e "/usr/lib/lib$1.so" ]; }
gpaw_mpi=False; gpaw_fftw=False; gpaw_sl=False
if [ "${MAGMOM_GPAW_MPI:-1}" != 0 ] && command -v mpic++ >/dev/null; then gpaw_mpi=True; fi
have_lib fftw3 && gpaw_fftw=True
[ "$gpaw_mpi" = True ] && have_lib scalapack-openmpi && gpaw_sl=True
gpaw_want="{'mpi': $gpaw_mpi, 'fftw': $gpaw_fftw, 'scalapack': $gpaw_sl}"
export GPAW_CONFIG="$PWD/scripts/gpaw_siteconfig.py"

[ -x "$VENV/bin/python" ] || "$PYTHON" -m venv "$VENV"
# snakemake imports the Slurm executor plugin on every start, which then asks `scontrol show
# config` (up to 10 s where no controller answers): magmom/slurm_plugin_import.py defers that to
# real status checks. A .pth line runs at interpreter start; it does nothing without magmom, and it
# leaves no magmom module imported, so the Snakefile still imports the package beside it (its
# sys.path entry), not the one the editable install points at.
site=$("$VENV/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
echo 'import sys; exec("try:\n import magmom.slurm_plugin_import\nexcept ImportError:\n pass\nfor _m in [m for m in sys.modules if m.split(\".\")[0] == \"magmom\"]:\n del sys.modules[_m]")' \
    > "$site/magmom-slurm-plugin-import.pth"

stamp="$VENV/.installed-$( (cat requirements.txt constraints.txt pyproject.toml "$GPAW_CONFIG"; echo "$gpaw_want") | sha1sum | cut -c1-16)"
if [ -f "$stamp" ]; then
    echo "[setup] $VENV is up to date"
    exit 0
fi
"$VENV/bin/python" -m pip install -q --upgrade pip wheel
# torch first, from the pinned CPU wheel; the constraint keeps every later package on it.
"$VENV/bin/python" -m pip install -q -c constraints.txt torch==2.13.0
# GPAW compiles its C++ extension (mpic++ with MPI, else g++) against libxc + OpenBLAS, FFTW and
# ScaLAPACK as scripts/gpaw_siteconfig.py finds them (GPAW_CONFIG above).
"$VENV/bin/python" -m pip install -q -c constraints.txt -r requirements.txt
"$VENV/bin/python" -m pip install -q -c constraints.txt --no-deps -e .
# An existing venv (or pip's wheel cache) may hold a GPAW built another way, e.g. serially before
# MPI was installed: rebuild it from source until it reports what this machine can give it.
gpaw_has() { "$VENV/bin/python" -c "from magmom.dft.parallel import gpaw_build; print(gpaw_build())"; }
if [ "$(gpaw_has)" != "$gpaw_want" ]; then
    echo "[setup] GPAW reports $(gpaw_has), want $gpaw_want: rebuilding it"
    "$VENV/bin/python" -m pip install -q -c constraints.txt --no-deps --force-reinstall \
        --no-cache-dir --no-binary gpaw "gpaw==$(sed -n 's/^gpaw==//p' requirements.txt)"
    [ "$(gpaw_has)" = "$gpaw_want" ] || { echo "[setup] GPAW still reports $(gpaw_has)" >&2; exit 1; }
fi
rm -f "$VENV"/.installed-*
touch "$stamp"
echo "[setup] done: $("$VENV/bin/python" -c 'import gpaw, torch, torch_geometric, chgnet; print("gpaw", gpaw.__version__, "torch", torch.__version__, "pyg", torch_geometric.__version__)'); GPAW build $gpaw_want"
