#!/usr/bin/env bash
# One setup path for a fresh Debian 12 + Python 3.11 machine: system packages, then a venv in .venv
# holding every pinned dependency and this project (editable). Safe to re-run; fast when nothing changed.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${VENV:-.venv}
PYTHON=${PYTHON:-python3}

need_apt=()
for pkg in libxc-dev libopenblas-dev g++ pkg-config chromium chromium-driver; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || need_apt+=("$pkg")
done
if [ ${#need_apt[@]} -gt 0 ]; then
    SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
    echo "[setup] apt-get install ${need_apt[*]}"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_apt[@]}"
fi

stamp="$VENV/.installed-$(cat requirements.txt constraints.txt pyproject.toml | sha1sum | cut -c1-16)"
if [ -f "$stamp" ]; then
    echo "[setup] $VENV is up to date"
    exit 0
fi
[ -x "$VENV/bin/python" ] || "$PYTHON" -m venv "$VENV"
"$VENV/bin/python" -m pip install -q --upgrade pip wheel
# torch first, from the pinned CPU wheel; the constraint keeps every later package on it.
"$VENV/bin/python" -m pip install -q -c constraints.txt torch==2.13.0
# GPAW compiles its C extension with g++ here (gpaw 26.x sources are C++-clean) against libxc + OpenBLAS.
CC=g++ "$VENV/bin/python" -m pip install -q -c constraints.txt -r requirements.txt
"$VENV/bin/python" -m pip install -q -c constraints.txt --no-deps -e .
rm -f "$VENV"/.installed-*
touch "$stamp"
echo "[setup] done: $("$VENV/bin/python" -c 'import gpaw, torch, torch_geometric, chgnet; print("gpaw", gpaw.__version__, "torch", torch.__version__, "pyg", torch_geometric.__version__)')"
