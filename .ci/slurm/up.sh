#!/usr/bin/env bash
# Bring up a one-node Slurm cluster on this machine for the workflow's Slurm test:
# installs Debian's slurm-wlm + munge, writes /etc/slurm/{slurm,gres,cgroup}.conf (partitions with
# a finite MaxTime: cpu and gpu 24 h, short 15 min), starts munged,
# slurmctld and slurmd, and waits until the node is idle. Idempotent; stop with .ci/slurm/down.sh.
#
# The node is declared with more memory than the machine (SlurmdParameters=config_overrides) and
# 2 fake GPUs, so the shipped profile's per-rule requests (mem_mb up to 32 GB, gpus, partitions)
# are submitted as they are on a cluster. Memory is not enforced (no cgroups); the node's 4 CPUs
# (2 real cores) bound how many single-threaded CI jobs run at once.
set -euo pipefail

STATE=${MAGMOM_SLURM_STATE:-/var/tmp/magmom-slurm}
NODE=$(hostname -s)
NODE_CPUS=${MAGMOM_SLURM_CPUS:-4}
NODE_MEM_MB=${MAGMOM_SLURM_MEM_MB:-256000}
NODE_GPUS=2
MAX_TIME=${MAGMOM_SLURM_MAX_TIME:-1-00:00:00}   # partitions cpu and gpu: 24 h
SHORT_MAX_TIME=15                                # partition short: 15 min

log() { echo "[slurm-up] $*"; }

if ! command -v slurmctld >/dev/null || ! command -v munged >/dev/null; then
    log "installing slurm-wlm and munge (apt)"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends slurm-wlm munge >/dev/null
fi

mkdir -p "$STATE"/{ctld,spool,log} /etc/slurm /run/munge /var/log/munge /var/lib/munge
chown munge:munge /run/munge /var/log/munge /var/lib/munge
chmod 0755 /run/munge
if [ ! -s /etc/munge/munge.key ]; then
    log "creating a munge key"
    dd if=/dev/urandom bs=1 count=1024 of=/etc/munge/munge.key status=none
fi
chown munge:munge /etc/munge/munge.key
chmod 0400 /etc/munge/munge.key

# Fake GPU device files: Slurm's gres/gpu plugin only stat()s them (no cgroup device
# constraint with task/none), so character devices with the NVIDIA major number suffice. A GPU gres
# without File= does not work: slurmd 22.05 then counts 0 GPUs and the node becomes INVALID.
for i in $(seq 0 $((NODE_GPUS - 1))); do
    [ -e /dev/fake-gpu$i ] || mknod /dev/fake-gpu$i c 195 "$i" || {
        log "cannot create /dev/fake-gpu$i (mknod): the gpu gres needs one device file per GPU"
        exit 1
    }
done

cat > /etc/slurm/slurm.conf <<CONF
# Written by .ci/slurm/up.sh: one node on localhost, partitions cpu and gpu, no accounting.
ClusterName=magmom-ci
SlurmctldHost=$NODE(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
MpiDefault=none
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
# Every finished job is recorded here (partition, state, exit code) with no accounting database:
# tests/test_slurm_workflow.py checks the workflow's jobs against it.
JobCompType=jobcomp/filetxt
JobCompLoc=$STATE/jobcomp.log
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
ReturnToService=2
SlurmdParameters=config_overrides
StateSaveLocation=$STATE/ctld
SlurmdSpoolDir=$STATE/spool
SlurmctldPidFile=$STATE/slurmctld.pid
SlurmdPidFile=$STATE/slurmd.pid
SlurmctldLogFile=$STATE/log/slurmctld.log
SlurmdLogFile=$STATE/log/slurmd.log
SlurmctldPort=6817
SlurmdPort=6818
# squeue must still see a finished job when the plugin polls it (no sacct without accounting).
MinJobAge=600
KillWait=5
InactiveLimit=0
GresTypes=gpu
NodeName=$NODE NodeAddr=127.0.0.1 CPUs=$NODE_CPUS RealMemory=$NODE_MEM_MB Gres=gpu:$NODE_GPUS State=UNKNOWN
# Finite time limits, as on a real cluster, enforced at submission: sbatch refuses a job that asks
# for more (without EnforcePartLimits it would stay pending forever; the profile reads MaxTime
# through scontrol).
# Partition short (15 min) holds the time-out-then-resume DFT job of tests/test_slurm_workflow.py.
EnforcePartLimits=ALL
PartitionName=cpu Nodes=$NODE Default=YES MaxTime=$MAX_TIME State=UP
PartitionName=gpu Nodes=$NODE Default=NO MaxTime=$MAX_TIME State=UP
PartitionName=short Nodes=$NODE Default=NO MaxTime=$SHORT_MAX_TIME State=UP
CONF

cat > /etc/slurm/gres.conf <<CONF
NodeName=$NODE Name=gpu File=/dev/fake-gpu[0-$((NODE_GPUS - 1))]
CONF

# slurmd 22.05 always loads a cgroup plugin (CgroupPlugin=disabled arrived in 23.x), even though
# proctrack/linuxproc and task/none use none of it: pick the version mounted here, no automount.
if [ -f /sys/fs/cgroup/cgroup.controllers ]; then CGROUP=cgroup/v2; else CGROUP=cgroup/v1; fi
cat > /etc/slurm/cgroup.conf <<CONF
CgroupPlugin=$CGROUP
CgroupAutomount=no
CONF

if ! pgrep -x munged >/dev/null; then
    log "starting munged"
    runuser -u munge -- /usr/sbin/munged
fi
munge -n | unmunge >/dev/null

# Daemons left from an earlier run may have another configuration: restart them.
for d in slurmd slurmctld; do
    pid=$(cat "$STATE/$d.pid" 2>/dev/null || true)
    if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
        log "restarting $d"
        kill "$pid"
        for _ in $(seq 30); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
    fi
done
log "starting slurmctld and slurmd"
/usr/sbin/slurmctld -i
/usr/sbin/slurmd

for _ in $(seq 60); do
    state=$(sinfo -h -n "$NODE" -o %T 2>/dev/null | head -1 || true)
    case "$state" in
        idle|mixed|allocated) log "node $NODE is $state"; sinfo; exit 0 ;;
        down*|drain*) scontrol update nodename="$NODE" state=resume 2>/dev/null || true ;;
    esac
    sleep 1
done
log "node $NODE did not become idle (state: ${state:-unknown}); logs in $STATE/log"
tail -n 20 "$STATE/log/slurmctld.log" "$STATE/log/slurmd.log" >&2 || true
exit 1
