#!/usr/bin/env bash
# The workflow on a real SLURM cluster: a one-node cluster on this machine (munged, slurmctld,
# slurmd, two fake GPUs as a gres), the tiny config submitted with --profile profiles/slurm,
# then tests/slurm/check.py checks the outputs and what SLURM ran. `make test` runs it.
#
#   tests/slurm/run.sh                 # PYTHON=... picks the interpreter (default .venv/bin/python)
#
# It needs root: it installs Debian's slurmctld, slurmd, slurm-client and munge with apt-get
# when sbatch is missing, and writes /etc/slurm/slurm.conf for the run (removed afterwards;
# srun inside a job reads only that path). Without root, or where another cluster's
# slurm.conf is in place, it skips with one line. GENAUG_SLURM_TEST=0 skips it too.
# GENAUG_SLURM_METHODS: the methods to run (default: a transfer-mode and a fit-mode generator
# and two baselines; "all" for every method of the tiny config). GENAUG_SLURM_TIMEOUT: seconds
# the SLURM run may take (900).
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
PYTHON=${PYTHON:-$REPO/.venv/bin/python}
METHODS=${GENAUG_SLURM_METHODS:-none,classical,dagan,cvae}
TIMEOUT=${GENAUG_SLURM_TIMEOUT:-900}  # seconds for the SLURM run; a hang fails CI in time
MARKER="# genaug SLURM test cluster (tests/slurm/run.sh)"

skip() {
    echo "SKIP tests/slurm/run.sh: $*"
    exit 0
}
say() { echo "[slurm test] $*"; }

[ "${GENAUG_SLURM_TEST:-1}" = 0 ] && skip "GENAUG_SLURM_TEST=0"
[ "$(id -u)" = 0 ] || skip "needs root to install and run a SLURM test cluster"
for conf in /etc/slurm/slurm.conf /etc/slurm/gres.conf; do
    if [ -e "$conf" ] && ! head -n1 "$conf" | grep -qF "$MARKER"; then
        skip "$conf belongs to another SLURM cluster; not touching it"
    fi
done
"$PYTHON" -c "import snakemake_executor_plugin_slurm" 2>/dev/null || {
    echo "tests/slurm/run.sh: $PYTHON lacks snakemake-executor-plugin-slurm; run make setup" >&2
    exit 1
}

started=$(date +%s)
missing=0
for tool in sbatch srun squeue scontrol slurmctld slurmd munged; do
    command -v "$tool" >/dev/null || [ -x "/usr/sbin/$tool" ] || missing=1
done
if [ "$missing" = 1 ]; then
    command -v apt-get >/dev/null || skip "SLURM is not installed and there is no apt-get"
    say "installing slurmctld slurmd slurm-client munge with apt-get"
    # keep the packages' init scripts from starting daemons: this script starts its own
    made_policy=0
    if [ ! -e /usr/sbin/policy-rc.d ]; then
        printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
        chmod +x /usr/sbin/policy-rc.d
        made_policy=1
    fi
    export DEBIAN_FRONTEND=noninteractive
    packages=(slurmctld slurmd slurm-client munge)
    apt_log=$(mktemp)
    if ! apt-get install -y -qq --no-install-recommends "${packages[@]}" >"$apt_log" 2>&1; then
        apt-get update -qq >>"$apt_log" 2>&1 &&
            apt-get install -y -qq --no-install-recommends "${packages[@]}" >>"$apt_log" 2>&1 ||
            { cat "$apt_log" >&2; echo "tests/slurm/run.sh: apt-get install failed" >&2; exit 1; }
    fi
    rm -f "$apt_log"
    [ "$made_policy" = 1 ] && rm -f /usr/sbin/policy-rc.d
fi
export PATH="$PATH:/usr/sbin"

CLUSTER=$(mktemp -d /tmp/genaug-slurm.XXXXXX)
chmod 755 "$CLUSTER"
WORK="$CLUSTER/work"
mkdir -p "$WORK" "$CLUSTER/state" "$CLUSTER/spool" "$CLUSTER/dev" "$CLUSTER/munge"
chmod 711 "$CLUSTER/munge"
pids=()
cluster_up=0

cleanup() {
    status=$?
    set +e
    if [ "$cluster_up" = 1 ]; then
        # jobs left over from a failed run: cancel them and let their steps end
        timeout 10 scancel --user="$(id -un)" 2>/dev/null
        for _ in $(seq 20); do
            [ -z "$(timeout 5 squeue -h -t running,completing 2>&1)" ] && break
            sleep 1
        done
    fi
    # our daemons, by pid, in reverse start order: slurmd, slurmctld, munged
    for ((i = ${#pids[@]} - 1; i >= 0; i--)); do
        kill "${pids[$i]}" 2>/dev/null
        wait "${pids[$i]}" 2>/dev/null
    done
    if [ "$status" != 0 ]; then
        for log in slurmctld.log slurmd.log; do
            [ -f "$CLUSTER/$log" ] && { echo "--- $log (last lines)"; tail -n 20 "$CLUSTER/$log"; }
        done
        echo "tests/slurm/run.sh: FAILED; the cluster's files and the run are in $CLUSTER" >&2
    else
        rm -rf "$CLUSTER"
    fi
    for conf in /etc/slurm/slurm.conf /etc/slurm/gres.conf; do
        [ -e "$conf" ] && head -n1 "$conf" | grep -qF "$MARKER" && rm -f "$conf"
    done
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# munged with its own key and socket, so it cannot clash with a munged already running
dd if=/dev/urandom of="$CLUSTER/munge/munge.key" bs=128 count=1 status=none
chmod 400 "$CLUSTER/munge/munge.key"
munged --foreground --force --socket="$CLUSTER/munge/socket" \
    --key-file="$CLUSTER/munge/munge.key" --pid-file="$CLUSTER/munge/munged.pid" \
    --seed-file="$CLUSTER/munge/munged.seed" --log-file="$CLUSTER/munge/munged.log" \
    >"$CLUSTER/munge/munged.out" 2>&1 &
pids+=($!)

# two GPUs as character devices (copies of /dev/null): slurmd drops a GPU without a File
for i in 0 1; do
    mknod "$CLUSTER/dev/gpu$i" c 1 3 2>/dev/null || touch "$CLUSTER/dev/gpu$i"
done
read -r ctld_port slurmd_port < <("$PYTHON" -c '
import socket
socks = [socket.socket() for _ in range(2)]
for s in socks:
    s.bind(("127.0.0.1", 0))
print(*(s.getsockname()[1] for s in socks))')
NODE=$(hostname -s)
CPUS=$(nproc)
mkdir -p /etc/slurm
cat >/etc/slurm/slurm.conf <<EOF
$MARKER
# A one-node cluster on 127.0.0.1: no cgroups, no accounting database, no systemd.
ClusterName=genaugtest
SlurmctldHost=$NODE(127.0.0.1)
SlurmctldPort=$ctld_port
SlurmdPort=$slurmd_port
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$CLUSTER/munge/socket
SlurmUser=root
SlurmdUser=root
StateSaveLocation=$CLUSTER/state
SlurmdSpoolDir=$CLUSTER/spool
SlurmctldPidFile=$CLUSTER/slurmctld.pid
SlurmdPidFile=$CLUSTER/slurmd.pid
SlurmctldLogFile=$CLUSTER/slurmctld.log
SlurmdLogFile=$CLUSTER/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
MpiDefault=none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
# CPUs are scheduled, memory is not (requests are still checked against RealMemory)
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
# the node is declared bigger than it is (memory) and with GPUs it lacks: accept that
SlurmdParameters=config_overrides
ReturnToService=2
# finished jobs stay visible to squeue and scontrol for an hour: the plugin polls with squeue
# (there is no sacct without accounting) and check.py reads them afterwards
MinJobAge=3600
GresTypes=gpu
NodeName=$NODE NodeAddr=127.0.0.1 CPUs=$CPUS RealMemory=1000000 Gres=gpu:2 State=UNKNOWN
PartitionName=test Nodes=ALL Default=YES MaxTime=INFINITE State=UP
EOF
cat >/etc/slurm/gres.conf <<EOF
$MARKER
NodeName=$NODE Name=gpu File=$CLUSTER/dev/gpu[0-1]
EOF

slurmctld -D -i >"$CLUSTER/slurmctld.out" 2>&1 &
pids+=($!)
slurmd -D -N "$NODE" >"$CLUSTER/slurmd.out" 2>&1 &
pids+=($!)
cluster_up=1
node_state() { timeout 5 sinfo -h -N -o %t 2>/dev/null; }
for _ in $(seq 60); do
    [ "$(node_state)" = idle ] && break
    sleep 1
done
[ "$(node_state)" = idle ] || {
    echo "tests/slurm/run.sh: the SLURM node did not come up" >&2
    sinfo -N -l >&2 || true
    exit 1
}
say "cluster up after $(($(date +%s) - started)) s: node $NODE, $CPUS CPUs, gpu:2; run in $WORK"

# the tiny config through SLURM; squeue for status, since there is no accounting for sacct
args=(-s "$REPO/Snakefile" --configfile="$REPO/tests/data/tiny.yaml")
[ "$METHODS" = all ] || args+=(--config "methods=[$METHODS]")
cd "$WORK"
run_started=$(date +%s)
if ! timeout "$TIMEOUT" "$PYTHON" -m snakemake "${args[@]}" --profile "$REPO/profiles/slurm" \
    --slurm-status-command=squeue --slurm-init-seconds-before-status-checks=5 \
    --slurm-keep-successful-logs all >"$CLUSTER/run.log" 2>&1; then
    tail -n 60 "$CLUSTER/run.log"
    echo "tests/slurm/run.sh: the SLURM run failed; its log is $CLUSTER/run.log" >&2
    exit 1
fi
say "workflow finished through SLURM in $(($(date +%s) - run_started)) s"

"$PYTHON" "$REPO/tests/slurm/check.py" --workdir "$WORK" --run-log "$CLUSTER/run.log" \
    --snakefile "$REPO/Snakefile" -- "${args[@]}"
say "passed in $(($(date +%s) - started)) s"
