#!/usr/bin/env bash
# The Slurm part of CI: bring up a one-node Slurm cluster, run the tiny preset through
# `snakemake --profile slurm` to the report (tests/test_slurm_workflow.py, marker `slurm`),
# stop the daemons. Called by .ci/run after the unit tests; usable by hand as root:
#   bash .ci/slurm/run_tiny.sh
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$REPO"
if [ -x "$REPO/.venv/bin/python" ]; then
    export PATH="$REPO/.venv/bin:$PATH"   # the jobs run in the project's venv (no conda in CI)
fi

start=$(date +%s)
trap 'bash "$REPO/.ci/slurm/down.sh"' EXIT
bash "$REPO/.ci/slurm/up.sh"
up=$(date +%s)

# A missing controller must fail here, not skip.
MAGMOM_REQUIRE_SLURM=1 python -m pytest -m slurm tests/test_slurm_workflow.py -s -rA \
    -p no:cacheprovider --basetemp="${TMPDIR:-/tmp}/magmom-slurm-pytest"
end=$(date +%s)
echo "[slurm] cluster up in $((up - start)) s; tiny run and checks in $((end - up)) s;" \
     "total $((end - start)) s"
