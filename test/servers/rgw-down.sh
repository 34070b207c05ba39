#!/usr/bin/env bash
# rgw-down.sh: stop a cluster started by rgw-up.sh and remove its directory.
# Only the processes named in $RGW_DIR/pids are killed, and only if their
# command line still refers to $RGW_DIR (guards against pid reuse).
#   RGW_DIR       the cluster directory (required)
#   RGW_KEEP_DIR  1 = keep the directory (logs) after stopping
set -uo pipefail

DIR=${RGW_DIR:?RGW_DIR must name the cluster directory}
case $DIR in / | "") echo "rgw-down: refusing RGW_DIR='$DIR'" >&2 && exit 1 ;; esac
[[ -d $DIR ]] || exit 0
DIR=$(cd "$DIR" && pwd)

# pid from pids/<name>.pid if that process still belongs to this cluster
cluster_pid() {
  local file=$DIR/pids/$1.pid pid arg
  [[ -f $file ]] || return 1
  pid=$(<"$file")
  [[ $pid =~ ^[0-9]+$ && $pid != "$$" && -r /proc/$pid/cmdline ]] || return 1
  while IFS= read -r -d '' arg; do
    if [[ $arg == "$DIR" || $arg == "$DIR/ceph.conf" ]]; then
      echo "$pid"
      return 0
    fi
  done <"/proc/$pid/cmdline"
  return 1
}
running() { # not gone and not a zombie
  local state
  state=$(sed 's/^.*) //' "/proc/$1/stat" 2>/dev/null | cut -c1)
  [[ -n $state && $state != Z && $state != X ]]
}

# The data is throwaway: SIGKILL everything (a clean memstore shutdown would
# even write all objects to disk). The restart loop goes first so it cannot
# start a new radosgw.
pids=()
for name in watchdog rgw-loop rgw osd mon; do
  pid=$(cluster_pid "$name") || continue
  kill -KILL "$pid" 2>/dev/null
  pids+=("$pid")
done
for pid in "${pids[@]}"; do
  for ((i = 0; i < 200; i++)); do running "$pid" || break; sleep 0.05; done
  running "$pid" && echo "rgw-down: pid $pid is still running" >&2
done

if [[ ${RGW_KEEP_DIR:-0} != 1 ]]; then
  if [[ -f $DIR/ceph.conf ]]; then
    rm -rf "$DIR"
  else
    echo "rgw-down: $DIR has no ceph.conf (not made by rgw-up.sh); left in place" >&2
  fi
fi
exit 0
