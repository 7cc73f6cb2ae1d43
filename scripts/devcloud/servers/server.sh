#!/bin/bash
# server.sh - the hosts behind the test bed's Nova servers (driver: py/hardenctl_virt.py).
#
# Every Nova server that boots from a root filesystem archive becomes a namespace host like
# scripts/testhosts/hosts.sh's: the image, extracted once per image id, is the read-only overlay
# lower dir; each server has its own upper dir, net/mount/pid/uts/ipc namespaces, hostname,
# sshd (PID 1 of its pid namespace) and ed25519 host key made at its first boot (printed to the
# console the way cloud-init does). Its network: a veth on the private bridge of hosts.sh
# instance $HC_INSTANCE (netns hc-priv, 10.252.0.0/16, behind the bastion 10.251.0.2) with the
# fixed address Neutron gave the server's port. No route out.
#
# Usage (as root; the driver calls these, people may too):
#   server.sh net-up                 bridge + bastion (hosts.sh) + package mirror, if absent
#   server.sh start UUID             (re)start the host of a prepared state dir (see below)
#   server.sh stop UUID              kill its processes; keep its disk (upper dir) and network
#   server.sh destroy UUID           stop, remove network namespace and state
#   server.sh snapshot UUID FILE     tar.gz of the host's root (running or not), to FILE
#   server.sh status                 one line per server: uuid name address state pid
#   server.sh down-all               destroy every server and stop the mirror (down.sh calls it)
#   server.sh exec UUID cmd...       run cmd inside the host (nsenter)
# State: $HCVIRT_STATE (default $OSDEV/servers)/UUID/{name,addr,mac,lower,upper/,work/,pid,console.log}
# The driver writes name, addr ("10.252.1.5/16" or empty), mac (the port's), lower and the
# upper-dir seed files.
set -euo pipefail
export PATH=/usr/sbin:/usr/bin:/sbin:/bin

OSDEV=${OSDEV:-/tmp/hardenctl-devcloud}; OSDEV=${OSDEV%/}
STATE=${HCVIRT_STATE:-$OSDEV/servers}
TESTHOSTS=${TESTHOSTS:-/tmp/hardenctl-testhosts}
I=${HC_INSTANCE:-0}
if [ "$I" = 0 ]; then P=hc; THRUN=$TESTHOSTS/run; else P=hc$I; THRUN=$TESTHOSTS/run-$I; fi
BRNS=$P-priv                       # the bridge's namespace (hosts.sh)
NSP=hcvirt$I                       # our namespaces: $NSP-UUID, $NSP-mirror
MIRROR_DIR=${HCVIRT_MIRROR_DIR:-$TESTHOSTS/mirror}
MIRROR_ADDR=10.252.0.2 MIRROR_PORT=8080
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SELF=$HERE/server.sh
HOSTS_SH=$(cd "$HERE/../../testhosts" && pwd)/hosts.sh
DROP_CAPS="-sys_admin,-sys_module,-sys_boot,-sys_time,-sys_rawio,-mknod,-dac_read_search,-syslog,-mac_admin,-mac_override,-sys_pacct,-wake_alarm,-block_suspend"
START_WAIT=${HCVIRT_START_WAIT:-120}   # seconds for sshd to listen (the machine is loaded)

die() { echo "server.sh: $*" >&2; exit 1; }
running() { local st; st=$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null) && [ -n "$st" ] && [ "$st" != Z ]; }
ns_of() { echo "$NSP-$1"; }
veth_of() { echo "v${1:0:8}${1:9:4}"; }          # <= 15 chars, unique enough per test bed
is_up() { local d=$STATE/$1; [ -f "$d/pid" ] && running "$(cat "$d/pid")"; }
pid1_of() { awk '{print $1}' "/proc/$1/task/$1/children" 2>/dev/null; }

# ------------------------------------------------------------------------------------------------
net_up() {   # idempotent: bridge + bastion (hosts.sh instance $I), mirror
  mkdir -p "$STATE"
  exec 7>"$STATE/.net.lock"; flock 7
  if ! { [ -e "/run/netns/$BRNS" ] && [ -f "$THRUN/hosts/bastion/pid" ] && running "$(cat "$THRUN/hosts/bastion/pid")"; }; then
    # `hosts.sh up N` keeps targets 1..N running: pass the number it already has
    local n=0 d
    for d in "$THRUN"/hosts/h*/; do [ -d "$d" ] && n=$((n + 1)); done
    # without the test bed's process mark: the bastion belongs to testhosts, and devcloud's
    # down.sh must not kill it (`make testhosts-down` stops it)
    env -u HARDENCTL_DEVCLOUD HC_INSTANCE="$I" TESTHOSTS="$TESTHOSTS" bash "$HOSTS_SH" up "$n" 7>&- >&2
  fi
  mirror_up
}

mirror_up() {   # python3 -m http.server in namespace $NSP-mirror at 10.252.0.2:8080, if built
  [ -f "$MIRROR_DIR/debian/dists/bookworm/Release" ] || return 0
  local ns=$NSP-mirror pidf=$STATE/mirror.pid
  if [ -e "/run/netns/$ns" ] && ip -n "$ns" -br addr show eth0 2>/dev/null | grep -q "$MIRROR_ADDR/"; then
    [ -f "$pidf" ] && running "$(cat "$pidf")" && return 0
  else   # (re)plumb; the veth goes when the bridge's namespace goes (`hosts.sh down`)
    pkill_ns "$ns"
    ip netns del "$ns" 2>/dev/null || true
    ip -n "$BRNS" link del "m$NSP" 2>/dev/null || true
    ip netns add "$ns"
    ip -n "$ns" link set lo up
    ip -n "$BRNS" link add "m$NSP" type veth peer name eth0 netns "$ns"
    ip -n "$BRNS" link set "m$NSP" master br0 up
    ip -n "$ns" addr add "$MIRROR_ADDR/16" dev eth0
    ip -n "$ns" link set eth0 up
  fi
  setsid ip netns exec "$ns" /usr/bin/python3 -m http.server --bind "$MIRROR_ADDR" --directory "$MIRROR_DIR" \
    "$MIRROR_PORT" >"$STATE/mirror.log" 2>&1 </dev/null 7>&- 8>&- 9>&- &
  echo $! >"$pidf"
  local i
  for i in $(seq 1 200); do
    [ -n "$(ss -N "$ns" -ltnH "sport = :$MIRROR_PORT" 2>/dev/null)" ] && return 0
    running "$(cat "$pidf")" || { cat "$STATE/mirror.log" >&2; die "mirror died"; }
    sleep 0.1
  done
  die "mirror not listening after 20 s"
}

mirror_down() {
  local pidf=$STATE/mirror.pid
  if [ -f "$pidf" ]; then kill "$(cat "$pidf")" 2>/dev/null || true; rm -f "$pidf"; fi
  pkill_ns "$NSP-mirror"
  ip netns del "$NSP-mirror" 2>/dev/null || true
}

pkill_ns() {   # kill every process in netns $1
  local pids
  [ -e "/run/netns/$1" ] || return 0
  pids=$(ip netns pids "$1" 2>/dev/null || true)
  [ -n "$pids" ] && kill -KILL $pids 2>/dev/null
  return 0
}

# ------------------------------------------------------------------------------------------------
inner() {   # PID 1 of the host's new pid namespace, in its new mount namespace
  local id=$1 d=$STATE/$1 m=$STATE/$1/merged name n
  name=$(cat "$d/name")
  mount -t overlay overlay -o "lowerdir=$(cat "$d/lower"),upperdir=$d/upper,workdir=$d/work" "$m"
  mount -t proc -o nosuid,nodev,noexec proc "$m/proc"
  mount --bind "$m/proc/sys" "$m/proc/sys"
  mount -o remount,bind,ro "$m/proc/sys"
  mount --bind "$m/proc/sys/net" "$m/proc/sys/net"
  mount -o remount,bind,rw "$m/proc/sys/net"
  if [ -e "$m/proc/sysrq-trigger" ]; then
    mount --bind "$m/proc/sysrq-trigger" "$m/proc/sysrq-trigger"
    mount -o remount,bind,ro "$m/proc/sysrq-trigger"
  fi
  mount -t sysfs -o ro,nosuid,nodev,noexec sysfs "$m/sys"
  mount -t tmpfs -o nosuid,noexec,mode=755,size=1m tmpfs "$m/dev"
  for n in null zero full random urandom tty; do touch "$m/dev/$n"; mount --bind "/dev/$n" "$m/dev/$n"; done
  mkdir -p "$m/dev/pts" "$m/dev/shm"
  mount -t devpts -o newinstance,ptmxmode=0666,mode=620,gid=5 devpts "$m/dev/pts"
  ln -s pts/ptmx "$m/dev/ptmx"; ln -s /proc/self/fd "$m/dev/fd"
  ln -s /proc/self/fd/0 "$m/dev/stdin"; ln -s /proc/self/fd/1 "$m/dev/stdout"; ln -s /proc/self/fd/2 "$m/dev/stderr"
  mount -t tmpfs -o nosuid,nodev,mode=1777,size=64m tmpfs "$m/dev/shm"
  mount -t tmpfs -o nosuid,nodev,mode=755,size=32m tmpfs "$m/run"
  mkdir -p "$m/run/sshd" "$m/run/lock"
  hostname "$name"
  cd "$m"
  mkdir -p .oldroot
  pivot_root . .oldroot
  cd /
  # first boot (no host key yet): make one and print it the way cloud-init's keys-to-console does
  exec /usr/bin/env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root \
    HCNAME="$name" /bin/sh -c '
umount -l /.oldroot && rmdir /.oldroot
echo "[hardenctl-virt] booting $HCNAME ($(date -u +%FT%TZ))"
k=/etc/ssh/ssh_host_ed25519_key
if [ ! -s $k ]; then
  mkdir -p /etc/ssh
  rm -f $k $k.pub
  ssh-keygen -q -t ed25519 -N "" -C "root@$HCNAME" -f $k || exit 1
  echo "-----BEGIN SSH HOST KEY FINGERPRINTS-----"
  ssh-keygen -l -f $k.pub
  echo "-----END SSH HOST KEY FINGERPRINTS-----"
  echo "-----BEGIN SSH HOST KEY KEYS-----"
  cat $k.pub
  echo "-----END SSH HOST KEY KEYS-----"
fi
echo "[hardenctl-virt] $HCNAME: sshd starting"
exec setpriv --bounding-set '"$DROP_CAPS"' /usr/sbin/sshd -D -e' 
}

start() {   # start UUID: network namespace (kept across stop/start), then the host
  local id=$1 d=$STATE/$1 ns veth addr mac i pid
  [ -f "$d/name" ] && [ -f "$d/lower" ] || die "$id: no prepared state in $d"
  is_up "$id" && return 0
  ns=$(ns_of "$id"); veth=$(veth_of "$id"); addr=$(cat "$d/addr" 2>/dev/null || true)
  mkdir -p "$d/upper" "$d/work" "$d/merged"
  if [ ! -e "/run/netns/$ns" ]; then
    ip netns add "$ns"
    ip -n "$ns" link set lo up
  fi
  # (re)plumb: the veth goes when the bridge's namespace goes (`hosts.sh down` of instance $I)
  if [ -n "$addr" ] && ! ip -n "$ns" link show eth0 >/dev/null 2>&1; then
    net_up
    ip -n "$BRNS" link del "$veth" 2>/dev/null || true
    # the port's MAC: stable across rebuild, so neighbours' ARP caches stay right
    mac=$(cat "$d/mac" 2>/dev/null || true)
    ip -n "$BRNS" link add "$veth" type veth peer name eth0 ${mac:+address "$mac"} netns "$ns"
    ip -n "$BRNS" link set "$veth" master br0 up
    ip -n "$ns" addr add "$addr" dev eth0
    ip -n "$ns" link set eth0 up
  fi
  setsid ip netns exec "$ns" unshare --mount --uts --ipc --pid --fork --kill-child=SIGKILL \
      --propagation private "$SELF" _inner "$id" >>"$d/console.log" 2>&1 </dev/null 7>&- 8>&- 9>&- &
  pid=$!
  echo "$pid" >"$d/pid"
  for ((i = 0; i < START_WAIT * 10; i++)); do
    [ -n "$(ss -N "$ns" -ltnH 'sport = :22' 2>/dev/null)" ] && return 0
    running "$pid" || { tail -n 20 "$d/console.log" >&2; die "$id died while starting"; }
    sleep 0.1
  done
  die "$id: sshd not listening after $START_WAIT s"
}

stop() {   # kill every process of the host (its pid namespace); keep network and disk
  local d=$STATE/$1 pid pid1 alive
  [ -f "$d/pid" ] || return 0
  pid=$(cat "$d/pid")
  if running "$pid"; then
    # `unshare --fork` ignores SIGTERM: SIGKILL the namespace's PID 1, which ends the namespace
    pid1=$(pid1_of "$pid" || true)
    [ -n "$pid1" ] && kill -KILL "$pid1" 2>/dev/null || true
    for _ in $(seq 1 250); do
      alive=0
      running "$pid" && alive=1
      [ -n "$pid1" ] && running "$pid1" && alive=1
      [ $alive = 0 ] && break
      sleep 0.02
    done
    running "$pid" && kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -f "$d/pid"
}

destroy() {
  local id=$1
  stop "$id"
  pkill_ns "$(ns_of "$id")"
  ip netns del "$(ns_of "$id")" 2>/dev/null || true   # takes its veth pair with it
  ip -n "$BRNS" link del "$(veth_of "$id")" 2>/dev/null || true
  [ -d "$STATE/$id" ] && rm -rf --one-file-system "${STATE:?}/$id"
  return 0
}

snapshot() {   # snapshot UUID FILE: the host's root as tar.gz, without /proc /sys /dev /run contents
  local id=$1 out=$2 d=$STATE/$1 pid pid1 gz=gzip
  command -v pigz >/dev/null && gz="pigz -p 2"
  [ -d "$d/upper" ] || die "$id: no disk"
  local excl=("--exclude=./proc/*" "--exclude=./sys/*" "--exclude=./dev/*" "--exclude=./run/*" "--exclude=./.oldroot")
  if is_up "$id" && pid1=$(pid1_of "$(cat "$d/pid")") && [ -n "$pid1" ]; then
    # the merged root as the host sees it; --one-file-system skips its proc/sys/dev/run mounts
    set +e
    tar -C "/proc/$pid1/root" --one-file-system --numeric-owner --xattrs --acls --warning=no-file-changed \
      --ignore-failed-read "${excl[@]}" -cf - . | $gz -1 >"$out"
    local rc=("${PIPESTATUS[@]}")
    set -e
    # tar exit 1 = files changed while read (a running host): a live snapshot's usual state
    [ "${rc[0]}" -le 1 ] && [ "${rc[1]}" = 0 ] || die "$id: tar/gzip failed (${rc[*]})"
  else
    # stopped: mount the overlay in a private mount namespace of our own
    unshare --mount --propagation private /bin/sh -c '
      mount -t overlay overlay -o "lowerdir=$1,upperdir=$2/upper,workdir=$2/work" "$2/merged" || exit 1
      tar -C "$2/merged" --numeric-owner --xattrs --acls --warning=no-file-changed --exclude="./proc/*" \
        --exclude="./sys/*" --exclude="./dev/*" --exclude="./run/*" -cf - .
      rc=$?; [ $rc -le 1 ]   # 1: "file changed as we read it" (overlay ctimes): harmless' sh "$(cat "$d/lower")" "$d" | $gz -1 >"$out"
  fi
  [ -s "$out" ] || die "$id: empty snapshot"
}

status() {
  local d id
  for d in "$STATE"/*/; do
    [ -f "$d/name" ] || continue
    id=$(basename "$d")
    if is_up "$id"; then st="up pid=$(cat "$d/pid")"; else st=stopped; fi
    echo "$id $(cat "$d/name") $(cat "$d/addr" 2>/dev/null || echo -) $st"
  done
  if [ -f "$STATE/mirror.pid" ] && running "$(cat "$STATE/mirror.pid")"; then
    echo "mirror http://$MIRROR_ADDR:$MIRROR_PORT/debian up pid=$(cat "$STATE/mirror.pid")"
  fi
}

down_all() {
  local d pids=() ns
  for d in "$STATE"/*/; do
    [ -f "$d/name" ] || continue
    destroy "$(basename "$d")" & pids+=($!)
  done
  for p in "${pids[@]}"; do wait "$p" || true; done
  # namespaces whose state is gone (a removed $OSDEV, an interrupted destroy)
  for ns in $(ip netns list | awk -v p="$NSP-" 'index($1, p) == 1 {print $1}'); do
    [ "$ns" = "$NSP-mirror" ] && continue
    pkill_ns "$ns"; ip netns del "$ns" 2>/dev/null || true
  done
  mirror_down
  echo "server.sh: all servers and the mirror stopped" >&2
}

case "${1:-}" in
  _inner) shift; inner "$@" ;;
  net-up) net_up ;;
  start) [ $# -eq 2 ] || die "usage: start UUID"; start "$2" ;;
  stop) [ $# -eq 2 ] || die "usage: stop UUID"; stop "$2" ;;
  destroy) [ $# -eq 2 ] || die "usage: destroy UUID"; destroy "$2" ;;
  snapshot) [ $# -eq 3 ] || die "usage: snapshot UUID FILE"; snapshot "$2" "$3" ;;
  status) status ;;
  down-all) down_all ;;
  exec) [ $# -ge 3 ] || die "usage: exec UUID cmd..."; id=$2; shift 2
    pid1=$(pid1_of "$(cat "$STATE/$id/pid")"); [ -n "$pid1" ] || die "$id is not running"
    nsenter -t "$pid1" -m -u -i -n -p -r -w setpriv --bounding-set "$DROP_CAPS" "$@" ;;
  *) sed -n '2,24p' "$0"; exit 1 ;;
esac
