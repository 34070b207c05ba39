#!/usr/bin/env bash
# rgw-up.sh: start a throwaway single-node Ceph cluster (one monitor, one
# memstore OSD, radosgw) that serves S3 on 127.0.0.1. Data lives in RAM.
#
# On success prints exactly one line on stdout:  endpoint=http://127.0.0.1:PORT
# Progress and errors go to stderr. Stop it with:  RGW_DIR=... rgw-down.sh
#
# Environment:
#   RGW_DIR         cluster directory (required); must be absent, empty, or made by this script
#   RGW_PORT        S3 port; 0 or unset = a free port picked by the kernel
#   RGW_ACCESS_KEY  default "test";  RGW_SECRET_KEY  default "testsecret"
#   RGW_TIMEOUT     seconds to wait for each daemon (default 120)
#   RGW_OWNER_PID   if set, a watchdog stops the cluster once that process is gone
#   RGW_NO_INSTALL  1 = never call apt-get for missing packages
#   RGW_EXTRA_CONF  text appended to ceph.conf (start it with a [section] line)
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
DIR=${RGW_DIR:?RGW_DIR must name the cluster directory}
PORT=${RGW_PORT:-0}
ACCESS_KEY=${RGW_ACCESS_KEY:-test}
SECRET_KEY=${RGW_SECRET_KEY:-testsecret}
TIMEOUT=${RGW_TIMEOUT:-120}
STARTED=$EPOCHREALTIME

say() {
  local us=$((${EPOCHREALTIME/./} - ${STARTED/./}))
  printf '[rgw-up %d.%02ds] %s\n' $((us / 1000000)) $((us / 10000 % 100)) "$*" >&2
}
fail() { say "ERROR: $*"; exit 1; }

case $DIR in / | "") fail "refusing RGW_DIR='$DIR'" ;; esac

# --------------------------------------------------------------- packages ---
missing_packages() {
  local -A pkg_of=([ceph-mon]=ceph-mon [ceph-osd]=ceph-osd [radosgw]=radosgw [ceph]=ceph-common
    [ceph-authtool]=ceph-common [monmaptool]=ceph-common [radosgw-admin]=radosgw [python3]=python3)
  local -A need=()
  local cmd
  for cmd in "${!pkg_of[@]}"; do
    command -v "$cmd" >/dev/null || need[${pkg_of[$cmd]}]=1
  done
  echo "${!need[@]}"
}

read -ra need <<<"$(missing_packages)"
if ((${#need[@]})); then
  [[ ${RGW_NO_INSTALL:-0} == 1 ]] && fail "missing packages: ${need[*]} (RGW_NO_INSTALL=1)"
  ((EUID == 0)) || fail "missing packages: ${need[*]} (run as root to install them, or apt-get install them)"
  say "installing ${need[*]} with apt-get"
  apt_log=/tmp/rgw-up-apt.log
  (
    # one installer at a time: parallel launchers would fight over the dpkg lock
    flock 9
    read -ra need <<<"$(missing_packages)" # another launcher may have installed them meanwhile
    ((${#need[@]})) || exit 0
    export DEBIAN_FRONTEND=noninteractive
    opts=(-y -q --no-install-recommends -o DPkg::Lock::Timeout=600)
    apt-get install "${opts[@]}" "${need[@]}" >"$apt_log" 2>&1 ||
      { apt-get update -q -o DPkg::Lock::Timeout=600 >>"$apt_log" 2>&1 &&
        apt-get install "${opts[@]}" "${need[@]}" >>"$apt_log" 2>&1; }
  ) 9>/tmp/rgw-up-apt.lock || { tail -n 20 "$apt_log" >&2; fail "apt-get install failed (see $apt_log)"; }
  read -ra need <<<"$(missing_packages)"
  ((${#need[@]} == 0)) || fail "still missing after apt-get install: ${need[*]}"
  say "packages installed"
fi
PYTHON=$(command -v /usr/bin/python3 || command -v python3)

# -------------------------------------------------------------- directory ---
if [[ -f $DIR/ceph.conf ]]; then
  RGW_DIR=$DIR "$HERE/rgw-down.sh" || true
elif [[ -e $DIR && -n $(ls -A "$DIR") ]]; then
  fail "$DIR is not empty and was not made by rgw-up.sh; refusing to use it"
fi
mkdir -p "$DIR"
DIR=$(cd "$DIR" && pwd)
mkdir -p "$DIR"/{mon,osd,rgw,run,log,pids,crash}
CONF=$DIR/ceph.conf

free_port() { "$PYTHON" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
[[ $PORT == 0 ]] && PORT=$(free_port)
if (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; then fail "port $PORT is already in use"; fi
MON_PORT=$(free_port)
FSID=$(cat /proc/sys/kernel/random/uuid)
OSD_UUID=$(cat /proc/sys/kernel/random/uuid)

# ----------------------------------------------------------------- config ---
# cephx is off; with it off the messenger must be told to use crc mode, or
# radosgw waits forever for a "secure" monitor session.
cat >"$CONF" <<EOF
[global]
fsid = $FSID
mon host = v2:127.0.0.1:$MON_PORT
public addr = 127.0.0.1
cluster addr = 127.0.0.1
ms bind msgr1 = false
ms bind msgr2 = true
ms bind ipv6 = false
auth cluster required = none
auth service required = none
auth client required = none
auth allow insecure global id reclaim = true
mon warn on insecure global id reclaim allowed = false
ms mon client mode = crc
ms client mode = crc
ms service mode = crc
ms cluster mode = crc
keyring = $DIR/keyring
run dir = $DIR/run
crash dir = $DIR/crash
admin socket = $DIR/run/\$name.asok
log file = $DIR/log/\$name.log
log to stderr = false
err to stderr = true
mon cluster log file = $DIR/log/cluster.log
osd pool default size = 1
osd pool default min size = 1
osd pool default pg num = 8
osd pool default pgp num = 8
osd pool default pg autoscale mode = off
osd crush chooseleaf type = 0
mon allow pool size one = true
mon warn on pool no redundancy = false
mon max pg per osd = 1000
mon data avail warn = 1
mon data avail crit = 0
ms async op threads = 2

[mon]
mon data = $DIR/mon
paxos propose interval = 0.05
paxos min wait = 0.01

[osd]
osd data = $DIR/osd
osd objectstore = memstore
memstore device bytes = $((16 << 30))
osd op num shards = 1
osd op num threads per shard = 2
osd scrub min interval = 1000000000
osd scrub max interval = 1000000000
osd deep scrub interval = 1000000000
osd check max object name len on startup = false

[client.rgw]
rgw data = $DIR/rgw
rgw frontends = beast endpoint=127.0.0.1:$PORT
rgw thread pool size = 32
rgw enable lc threads = false
rgw enable quota threads = false
rgw dynamic resharding = false
rgw run sync thread = false
# memstore holds deleted data in RAM until garbage collection (default: 2 h)
rgw gc obj min wait = 30
rgw gc processor period = 30
rgw init timeout = $TIMEOUT
${RGW_EXTRA_CONF:-}
EOF

on_exit() {
  local rc=$?
  ((rc == 0)) && return
  say "start-up failed (rc=$rc); last log lines:"
  local f
  for f in "$DIR"/log/*; do [[ -s $f ]] && { echo "==> $f" >&2; tail -n 10 "$f" >&2; }; done
  RGW_DIR=$DIR "$HERE/rgw-down.sh" || true
}
trap on_exit EXIT

# Run a daemon in the foreground of its own session (so it outlives this
# script) and remember its pid.
launch() { # name command...
  local name=$1
  shift
  setsid "$@" </dev/null >>"$DIR/log/$name.out" 2>&1 &
  echo $! >"$DIR/pids/$name.pid"
}
# An exited daemon stays a zombie child of this shell: check the state letter.
require_alive() {
  local state
  state=$(sed 's/^.*) //' "/proc/$(<"$DIR/pids/$1.pid")/stat" 2>/dev/null | cut -c1) || state=
  [[ -n $state && $state != Z && $state != X ]] || fail "$1 exited (see $DIR/log/)"
}
DEADLINE=$((SECONDS + TIMEOUT))
before_deadline() { ((SECONDS < DEADLINE)) || fail "no $1 after ${TIMEOUT}s"; }

# ---------------------------------------------------------------- monitor ---
ceph-authtool --create-keyring "$DIR/keyring" --gen-key -n mon. --cap mon 'allow *' >/dev/null
monmaptool --create --fsid "$FSID" --addv a "[v2:127.0.0.1:$MON_PORT]" "$DIR/monmap" >/dev/null
ceph-mon -c "$CONF" --mkfs -i a --monmap "$DIR/monmap" >"$DIR/log/mon-mkfs.out" 2>&1 || fail "ceph-mon --mkfs failed"
launch mon ceph-mon -f -c "$CONF" -i a
say "monitor started on port $MON_PORT"

CEPH=(ceph -c "$CONF" --connect-timeout 10)
until OSD_ID=$("${CEPH[@]}" osd new "$OSD_UUID" 2>>"$DIR/log/ceph-cli.out"); do
  require_alive mon
  before_deadline "monitor quorum"
  sleep 0.1
done

# -------------------------------------------------------------------- OSD ---
ceph-osd -c "$CONF" -i "$OSD_ID" --mkfs --osd-uuid "$OSD_UUID" >"$DIR/log/osd-mkfs.out" 2>&1 || fail "ceph-osd --mkfs failed"
launch osd ceph-osd -f -c "$CONF" -i "$OSD_ID"

# radosgw would create its pools lazily on first use (slow first requests):
# create all seven up front, in one CLI session.
for pool in .rgw.root default.rgw.log default.rgw.control default.rgw.meta \
  default.rgw.buckets.index default.rgw.buckets.data default.rgw.buckets.non-ec; do
  printf 'osd pool create %s 8 8 replicated\nosd pool application enable %s rgw\n' "$pool" "$pool"
done | "${CEPH[@]}" >"$DIR/log/pools.out" 2>&1 || fail "creating the rgw pools failed"

# librados requests sent before the OSD is active stall until the 5 s objecter
# tick, so radosgw starts only once the OSD log reports it active.
until grep -q 'state: booting -> active' "$DIR/log/osd.$OSD_ID.log" 2>/dev/null; do
  require_alive mon
  require_alive osd
  before_deadline "active OSD"
  sleep 0.05
done
say "OSD $OSD_ID active, pools created"

radosgw-admin -c "$CONF" user create --uid "$ACCESS_KEY" --display-name "$ACCESS_KEY" \
  --access-key "$ACCESS_KEY" --secret-key "$SECRET_KEY" >"$DIR/log/user.out" 2>&1 || fail "radosgw-admin user create failed"

# ---------------------------------------------------------------- radosgw ---
# radosgw 16.2.15 aborts on some malformed requests (an UploadPartCopy source
# with a stray '%'): a loop restarts it. pids/rgw-loop.pid is the loop,
# pids/rgw.pid the current radosgw.
launch rgw-loop bash -c '
  while :; do
    radosgw -f -c "$1/ceph.conf" -n client.rgw </dev/null >>"$1/log/rgw.out" 2>&1 &
    echo $! >"$1/pids/rgw.pid"
    wait $!
    status=$?
    echo "$(date -Is) radosgw exited ($status); restarting" >>"$1/log/rgw-restarts.log"
    sleep 0.2
  done' rgw-loop "$DIR"
until [[ -s $DIR/pids/rgw.pid ]]; do sleep 0.02; done

# ready = the S3 port answers an HTTP request
http_answers() {
  local status
  exec 3<>"/dev/tcp/127.0.0.1/$PORT" || return 1
  printf 'GET / HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n' >&3
  read -r -t 2 status <&3 || true
  exec 3<&-
  [[ $status == HTTP/* ]]
}
until http_answers 2>/dev/null; do
  require_alive mon
  require_alive osd
  require_alive rgw-loop
  before_deadline "radosgw answering on port $PORT"
  sleep 0.05
done

if [[ -n ${RGW_OWNER_PID:-} ]]; then
  # stop everything once the owner is gone, even if it died without cleaning up
  launch watchdog bash -c '
    while [[ -d /proc/$1 ]] && [[ $(sed "s/^.*) //" /proc/$1/stat 2>/dev/null | cut -c1) != Z ]]; do sleep 1; done
    RGW_DIR=$2 exec "$3/rgw-down.sh"' watchdog "$RGW_OWNER_PID" "$DIR" "$HERE"
fi

printf 'RGW_ENDPOINT=http://127.0.0.1:%s\nRGW_ACCESS_KEY=%s\nRGW_SECRET_KEY=%s\nRGW_DIR=%s\n' \
  "$PORT" "$ACCESS_KEY" "$SECRET_KEY" "$DIR" >"$DIR/env"
trap - EXIT
say "ready on port $PORT"
echo "endpoint=http://127.0.0.1:$PORT"
