#!/usr/bin/env bash
# Install and start a one-node SLURM cluster from Debian packages (as root), for the `slurm` tests.
# Facts: docs/install.md §9 (Slurm 22.05 on bookworm, munge auth, no slurmdbd).
# Idempotent: when `sinfo` already shows an idle node it does nothing. Usage: .ci/slurm-setup.sh
set -euo pipefail

DIR=${QTBENCH_SLURM_DIR:-/var/lib/qtbench-slurm}   # state, spool, logs and pid files
HOST=$(hostname -s)

node_idle() { sinfo -h -N -o '%T' 2>/dev/null | grep -qE '^(idle|mixed|allocated)'; }

if command -v sinfo >/dev/null && node_idle; then
    echo "slurm-setup: cluster already up"; exit 0
fi
if [ "$(id -u)" != 0 ]; then
    echo "slurm-setup: must run as root to install and start slurmctld/slurmd/munged" >&2; exit 1
fi

if ! command -v slurmctld >/dev/null || ! command -v slurmd >/dev/null || ! command -v munged >/dev/null; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq slurmctld slurmd slurm-client munge >/dev/null
fi

mkdir -p "$DIR/state" "$DIR/spool" /etc/slurm
# munge: a key (the package normally creates one), a run dir, the daemon as user munge
if [ ! -s /etc/munge/munge.key ]; then
    dd if=/dev/urandom bs=1 count=1024 of=/etc/munge/munge.key status=none
    chown munge:munge /etc/munge/munge.key && chmod 400 /etc/munge/munge.key
fi
mkdir -p /run/munge && chown munge:munge /run/munge
if ! pgrep -u munge -x munged >/dev/null; then
    runuser -u munge -- /usr/sbin/munged
fi

# node line from the hardware; RealMemory a little below what slurmd reports (docs/install.md §9)
CPUS=$(slurmd -C | sed -n 's/.*CPUs=\([0-9]*\).*/\1/p' | head -1)
MEM=$(slurmd -C | sed -n 's/.*RealMemory=\([0-9]*\).*/\1/p' | head -1)
MEM=$((MEM * 9 / 10))
cat > /etc/slurm/slurm.conf <<CONF
# written by qtbench .ci/slurm-setup.sh: a one-node test cluster
ClusterName=qtbench
SlurmctldHost=$HOST
SlurmUser=root
AuthType=auth/munge
# a requeued job waits cred_expire seconds before it may start again (default 120): keep tests quick
AuthInfo=cred_expire=30
StateSaveLocation=$DIR/state
SlurmdSpoolDir=$DIR/spool
SlurmctldLogFile=$DIR/slurmctld.log
SlurmdLogFile=$DIR/slurmd.log
SlurmctldPidFile=$DIR/slurmctld.pid
SlurmdPidFile=$DIR/slurmd.pid
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
ReturnToService=2
MaxArraySize=10001
NodeName=$HOST CPUs=$CPUS RealMemory=$MEM State=UNKNOWN
PartitionName=debug Nodes=$HOST Default=YES MaxTime=INFINITE State=UP
CONF

pgrep -x slurmctld >/dev/null || slurmctld
pgrep -x slurmd >/dev/null || slurmd
for _ in $(seq 60); do
    if node_idle; then sinfo; echo "slurm-setup: cluster up"; exit 0; fi
    scontrol update NodeName="$HOST" State=RESUME >/dev/null 2>&1 || true
    sleep 1
done
echo "slurm-setup: node did not become idle; see $DIR/slurmctld.log and $DIR/slurmd.log" >&2
sinfo >&2 || true
exit 1
