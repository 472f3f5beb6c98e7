#!/usr/bin/env bash
# A throwaway one-node Slurm cluster on localhost, for CI tests of the array-job path.
#
#   tools/slurm/local-slurm.sh start DIR   # as root; prints `export SLURM_CONF=...` at the end
#   tools/slurm/local-slurm.sh env DIR     # the export lines again
#   tools/slurm/local-slurm.sh stop DIR    # stops exactly the daemons `start DIR` launched
#
# Everything (config, munge key and socket, state, spool, logs, pid files) lives under DIR, so two
# clusters never share files and `rm -rf DIR` after `stop` removes every trace. Nothing is installed:
# the Debian packages slurm-wlm and munge must already be there (exit 3 otherwise).
#
# Clients need only SLURM_CONF: auth/munge and cred/munge both take the munge socket from
# AuthInfo=socket=... in slurm.conf, so sbatch/squeue/scontrol/scancel find this cluster's munged.
# sacct does not work (no accounting): `scontrol -o show job ARRAYID` lists every task's JobState and
# ExitCode for MinJobAge (300 s) after it ends; or read the jobs' output files.
#
# Timing (Slurm 22.05, Debian 12): start returns in well under a second, but the controller's first
# scheduling pass comes ~3 s after it starts; later passes follow a submit or a completion within ~1 s.
# `sbatch --wait` polls at 2, 10, 42, 74... s after submission (sleep 2, then x4, capped at 32), so it
# returns up to that late; its exit status is the highest exit code among the job's array tasks.
#
# Ports default to Slurm's 6817/6818, so two clusters cannot run at the same time unless
# LOCAL_SLURM_CTLD_PORT / LOCAL_SLURM_SLURMD_PORT are set to other ports for one of them.
set -euo pipefail

usage() {
  sed -n '4,6p' "$0" | sed 's/^# \{0,1\}//' >&2
  exit 2
}

[[ $# -eq 2 ]] || usage
cmd=$1
DIR=$2
case $DIR in /*) ;; *) DIR=$(pwd)/$DIR ;; esac
DIR=${DIR%/}

CTLD_PORT=${LOCAL_SLURM_CTLD_PORT:-6817}
SLURMD_PORT=${LOCAL_SLURM_SLURMD_PORT:-6818}
START_TIMEOUT=${LOCAL_SLURM_START_TIMEOUT:-60}

print_env() {
  echo "export SLURM_CONF=$DIR/slurm.conf"
}

# A recorded pid is only trusted while /proc says it is still the daemon we started: after a reboot or
# a long pause the number may belong to something else, which must not be signalled.
alive_as() {  # pid name
  [[ -r /proc/$1/comm ]] && [[ $(cat "/proc/$1/comm" 2>/dev/null) == "$2" ]]
}

wait_gone() {  # pid name seconds
  local i
  for ((i = 0; i < $3 * 10; i++)); do
    alive_as "$1" "$2" || return 0
    sleep 0.1
  done
  return 1
}

term_and_wait() {  # names...: SIGTERM the recorded daemons, wait up to 15 s, then SIGKILL
  local name pid sent=()
  for name in "$@"; do
    pid=$(awk -v n="$name" '$1==n{print $2}' "$DIR/pids")
    [[ -n $pid ]] && alive_as "$pid" "$name" || continue
    kill -TERM "$pid" 2>/dev/null || true
    sent+=("$name:$pid")
  done
  for name in "${sent[@]}"; do
    pid=${name#*:} name=${name%%:*}
    wait_gone "$pid" "$name" 15 && continue
    echo "local-slurm: $name ($pid) ignored SIGTERM for 15 s; sending SIGKILL" >&2
    kill -KILL "$pid" 2>/dev/null || true
    wait_gone "$pid" "$name" 5 || echo "local-slurm: $name ($pid) still running" >&2
  done
}

stop_cluster() {
  local pids=$DIR/pids name pid
  if [[ ! -f $pids ]]; then
    echo "local-slurm: no $pids; nothing to stop" >&2
    return 0
  fi
  # Cancel jobs first: slurmstepd processes are not children of slurmd once launched and would outlive
  # it (proctrack/linuxproc has no cgroup to sweep), holding files in DIR open.
  if alive_as "$(awk '$1=="slurmctld"{print $2}' "$pids")" slurmctld; then
    SLURM_CONF=$DIR/slurm.conf timeout 10 scancel --full --quiet --user=root 2>/dev/null || true
    local i
    for ((i = 0; i < 100; i++)); do
      [[ -z $(SLURM_CONF=$DIR/slurm.conf timeout 5 squeue -h -o %i 2>/dev/null) ]] && break
      sleep 0.1
    done
  fi
  # The Slurm daemons first (they shut down in parallel, ~2 s each), munged last: both still talk to it
  # while exiting.
  term_and_wait slurmd slurmctld
  term_and_wait munged
  rm -f "$pids"
  # Job steps that escaped scancel (slurmctld already gone, or a step ignoring signals): each
  # slurmstepd keeps this cluster's slurmd.log open, which tells them apart from another cluster's.
  # Its job's processes go with it, else they would be reparented to init and run on.
  local steps=()
  for pid in $(ls /proc | grep -E '^[0-9]+$'); do
    [[ $(cat "/proc/$pid/comm" 2>/dev/null) == slurmstepd ]] || continue
    if ls -l "/proc/$pid/fd" 2>/dev/null | grep -qF -- "$DIR/"; then steps+=("$pid"); fi
  done
  if ((${#steps[@]})); then
    local all=" ${steps[*]} " grew=1 ppid
    while ((grew)); do
      grew=0
      while read -r pid ppid; do
        if [[ $all == *" $ppid "* && $all != *" $pid "* ]]; then all+="$pid "; grew=1; fi
      done < <(ps -eo pid=,ppid=)
    done
    echo "local-slurm: killing leftover job steps of this cluster:$all" >&2
    # shellcheck disable=SC2086
    kill -KILL $all 2>/dev/null || true
  fi
  echo "local-slurm: stopped cluster in $DIR"
}

dump_logs() {
  local f
  for f in "$DIR"/log/munged.log "$DIR"/log/slurmctld.log "$DIR"/log/slurmd.log; do
    [[ -f $f ]] || continue
    echo "----- tail $f" >&2
    tail -n 30 "$f" >&2
  done
}

start_cluster() {
  local missing=() b
  for b in munged slurmctld slurmd sinfo scontrol; do
    command -v "$b" >/dev/null 2>&1 || missing+=("$b")
  done
  if ((${#missing[@]})); then
    echo "local-slurm: not found: ${missing[*]} — install the Debian packages slurm-wlm and munge" >&2
    exit 3
  fi
  if [[ $(id -u) -ne 0 ]]; then
    echo "local-slurm: start must run as root (SlurmUser=root, slurmd launches jobs)" >&2
    exit 4
  fi
  if [[ -f $DIR/pids ]]; then
    local n p
    while read -r n p; do
      if alive_as "$p" "$n"; then
        echo "local-slurm: $n ($p) from an earlier start in $DIR is still running; stop it first" >&2
        exit 5
      fi
    done <"$DIR/pids"
  fi

  local host cpus mem_total mem
  host=$(hostname -s)
  cpus=$(nproc)
  mem_total=$(free -m | awk '/^Mem:/{print $2}')
  # Leave headroom so slurmd never sees less memory than configured (the node would be drained).
  mem=$((mem_total * 95 / 100))

  # The daemons must not inherit the caller's descriptors beyond stdio: a caller that watches a pipe or
  # socket for its child's exit (Swift Foundation's Process does) would otherwise wait for ever.
  local fd
  for fd in /proc/$$/fd/*; do
    fd=${fd##*/}
    if ((fd > 2)); then eval "exec $fd>&-" 2>/dev/null || true; fi
  done

  mkdir -p "$DIR"/{state,spool,log,run,munge-etc,munge-run,munge-lib}
  # munged refuses keys and sockets in group/world-writable places.
  chmod 0755 "$DIR" "$DIR/munge-run"
  chmod 0700 "$DIR/munge-etc" "$DIR/munge-lib"
  : >"$DIR/pids"

  if command -v mungekey >/dev/null 2>&1; then
    mungekey --create --force --keyfile="$DIR/munge-etc/munge.key"
  else
    dd if=/dev/urandom of="$DIR/munge-etc/munge.key" bs=1024 count=1 status=none
  fi
  chmod 0400 "$DIR/munge-etc/munge.key"

  cat >"$DIR/slurm.conf" <<CONF
# Written by tools/slurm/local-slurm.sh for a throwaway CI cluster; every path is inside $DIR.
ClusterName=capfilt-ci
SlurmctldHost=$host(127.0.0.1)
SlurmctldPort=$CTLD_PORT
SlurmdPort=$SLURMD_PORT
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$DIR/munge-run/munge.socket.2
StateSaveLocation=$DIR/state
SlurmdSpoolDir=$DIR/spool
SlurmctldPidFile=$DIR/run/slurmctld.pid
SlurmdPidFile=$DIR/run/slurmd.pid
SlurmctldLogFile=$DIR/log/slurmctld.log
SlurmdLogFile=$DIR/log/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
MpiDefault=none
SwitchType=switch/none
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
MailProg=/bin/true
# The node is described from this file, not probed, so it matches whatever the CI runner reports.
SlurmdParameters=config_overrides
# Cores without memory tracking: 1-CPU array tasks pack side by side up to CPUs, memory never blocks.
# Schedule on the next background tick (~1 s) after a submit or completion, not after the default 3 s.
SchedulerParameters=batch_sched_delay=0
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
ReturnToService=2
# Short timeouts: a CI run should fail in seconds, not minutes, when a daemon is gone.
SlurmctldTimeout=10
SlurmdTimeout=30
MessageTimeout=5
TCPTimeout=2
BatchStartTimeout=10
KillWait=5
InactiveLimit=0
MinJobAge=300
NodeName=$host NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$mem State=UNKNOWN
PartitionName=debug Nodes=$host Default=YES MaxTime=INFINITE State=UP
CONF

  # Each daemon forks into the background itself and writes its pid file; the pids recorded are
  # read from those files, i.e. the daemons proper, not a wrapper.
  munged --key-file="$DIR/munge-etc/munge.key" \
    --socket="$DIR/munge-run/munge.socket.2" \
    --pid-file="$DIR/munge-run/munged.pid" \
    --log-file="$DIR/log/munged.log" \
    --seed-file="$DIR/munge-lib/munged.seed" ||
    { echo "local-slurm: munged failed to start" >&2; dump_logs; exit 1; }
  record munged "$DIR/munge-run/munged.pid"

  slurmctld -c -f "$DIR/slurm.conf" ||
    { echo "local-slurm: slurmctld failed to start" >&2; dump_logs; stop_cluster; exit 1; }
  record slurmctld "$DIR/run/slurmctld.pid"

  slurmd -f "$DIR/slurm.conf" ||
    { echo "local-slurm: slurmd failed to start" >&2; dump_logs; stop_cluster; exit 1; }
  record slurmd "$DIR/run/slurmd.pid"

  local deadline=$((SECONDS + START_TIMEOUT)) state=""
  while ((SECONDS < deadline)); do
    state=$(SLURM_CONF=$DIR/slurm.conf sinfo -h -n "$host" -o %T 2>/dev/null || true)
    [[ $state == idle ]] && break
    sleep 0.2
  done
  if [[ $state != idle ]]; then
    echo "local-slurm: node $host not idle after ${START_TIMEOUT}s (state: ${state:-none})" >&2
    dump_logs
    stop_cluster
    exit 1
  fi
  echo "local-slurm: cluster capfilt-ci up in $DIR (node $host, $cpus CPUs, ${mem} MB)" >&2
  print_env
}

record() {  # name pidfile: waits briefly for a daemon's pid file, then appends "name pid" to DIR/pids
  local name=$1 file=$2 i pid=""
  for ((i = 0; i < 100; i++)); do
    pid=$(cat "$file" 2>/dev/null || true)
    [[ -n $pid ]] && alive_as "$pid" "$name" && break
    pid=""
    sleep 0.1
  done
  if [[ -z $pid ]]; then
    echo "local-slurm: $name wrote no usable pid file ($file)" >&2
    dump_logs
    stop_cluster
    exit 1
  fi
  echo "$name $pid" >>"$DIR/pids"
}

case $cmd in
  start) start_cluster ;;
  stop) stop_cluster ;;
  env) print_env ;;
  *) usage ;;
esac
