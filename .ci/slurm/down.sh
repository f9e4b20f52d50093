#!/usr/bin/env bash
# Stop the one-node Slurm cluster started by .ci/slurm/up.sh (slurmd, slurmctld, munged), by pid.
set -uo pipefail

STATE=${MAGMOM_SLURM_STATE:-/var/tmp/magmom-slurm}

stop_pidfile() {  # name pidfile
    local pid
    [ -f "$2" ] || return 0
    pid=$(cat "$2")
    if kill -0 "$pid" 2>/dev/null; then
        echo "[slurm-down] stopping $1 ($pid)"
        kill "$pid"
        for _ in $(seq 30); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
        kill -0 "$pid" 2>/dev/null && kill -9 "$pid"
    fi
    rm -f "$2"
}

# Cancel whatever is left (a failed run) so slurmd leaves no job processes behind.
command -v scancel >/dev/null && scancel --user="$(id -un)" 2>/dev/null || true
stop_pidfile slurmd "$STATE/slurmd.pid"
stop_pidfile slurmctld "$STATE/slurmctld.pid"
stop_pidfile munged /run/munge/munged.pid
exit 0
