#!/bin/bash
# hosts.sh - N Debian 12 target hosts behind a bastion, made of Linux namespaces.
#
#   machine --veth 10.251.I.1/30 <-> 10.251.I.2 -- bastion -- bridge (netns P-priv) -- h01 10.252.0.11
#                                                   10.252.0.1                      \-- h02 10.252.0.12 ...
# Every host (the bastion too) = the shared read-only root ($TESTHOSTS/root, prepare.sh) under a
# private overlayfs upper dir, its own net, mount, pid, uts and ipc namespaces, its own sshd (PID 1),
# its own freshly generated ed25519 host key and hostname. The targets have no route to the
# machine and the machine has none to them: only the bastion's sshd (AllowTcpForwarding yes,
# ip_forward off) gets from one side to the other.
#
# Usage:
#   hosts.sh up N            start the bastion and h01..hN (brings a running set to N)
#   hosts.sh vm-up NAME      start VM host NAME (vm01..vm09, at 10.252.1.1N) on the same private
#                            network: QEMU/TCG from vm-image.sh's disk, a kernel of its own (audit,
#                            systemd); about 40 s to SSH. QEMU runs in the VM's network namespace
#                            and forwards the address's port 22 to the guest.
#   hosts.sh down            stop everything `up` started; remove namespaces, veths, state
#   hosts.sh status          one line per host: name address state pid
#   hosts.sh ssh NAME [cmd]  ssh root@NAME through the bastion (NAME may be `bastion`)
#   hosts.sh exec NAME cmd   run cmd inside the host's namespaces (nsenter, same capability drop)
#   faults for tests:
#   hosts.sh rekey NAME      new host key for NAME, sshd reloaded: known_hosts is now wrong for it
#   hosts.sh stop-sshd NAME  kill the host's processes, keep its address: connections are refused
#   hosts.sh freeze NAME / thaw NAME   SIGSTOP/SIGCONT its sshd: TCP connects, no SSH banner (a hung host)
#   hosts.sh hide-oscap NAME / show-oscap NAME   move /usr/bin/oscap away (in its overlay) / back
#
# Written for clients ($RUN = $TESTHOSTS/run, or $TESTHOSTS/run-I for instance I):
#   $RUN/known_hosts   the bastion (by 10.251.I.2) and every target (by its private address)
#   $RUN/hosts.txt     "name address" per target;  $RUN/bastion.txt  "bastion address"
#   $RUN/ssh_config    for `ssh -F` / oscap-ssh (SSH_ADDITIONAL_OPTIONS="-F $RUN/ssh_config")
#   $TESTHOSTS/keys/id_ed25519  the operator key, authorized for root and for `hardenctl` (sudo)
# env: TESTHOSTS (default /tmp/hardenctl-testhosts)
#      HC_INSTANCE=I (0..63, default 0): independent sets side by side (the Go tests use 1..):
#      namespaces hc-* (I=0) or hcI-*, machine veth hc-bst / hcI-bst, bastion at 10.251.I.2.
#
# Host safety (remediation runs as root inside and shares the machine's kernel):
#  * /proc/sys read-only (kernel.*, fs.*, vm.* are global); only /proc/sys/net (per netns) is rw.
#  * /sys read-only, minimal /dev (no block devices), own mount namespace (remounts stay inside),
#    own pid namespace (the kernel refuses audit rule changes from it), pivot_root (no chroot
#    escape), capability bounding set without sys_admin, sys_module, sys_boot, sys_time, ...
#  * the root has no apt lists and the hosts no route out: apt-get fixes fail at once.
set -euo pipefail

TESTHOSTS=${TESTHOSTS:-/tmp/hardenctl-testhosts}
I=${HC_INSTANCE:-0}
[[ $I =~ ^[0-9]+$ ]] && [ "$I" -le 63 ] || { echo "hosts.sh: HC_INSTANCE must be 0..63" >&2; exit 1; }
if [ "$I" = 0 ]; then P=hc; RUN=$TESTHOSTS/run; else P=hc$I; RUN=$TESTHOSTS/run-$I; fi
BASE=$TESTHOSTS/root
VMDIR=$TESTHOSTS/vm
KEY=$TESTHOSTS/keys/id_ed25519
BASTION_ADDR=10.251.$I.2
BASTION_MACHINE_ADDR=10.251.$I.1
BASTION_PRIV_ADDR=10.252.0.1
MAXHOSTS=240
SELF=$(readlink -f "$0")
DROP_CAPS="-sys_admin,-sys_module,-sys_boot,-sys_time,-sys_rawio,-mknod,-dac_read_search,-syslog,-mac_admin,-mac_override,-sys_pacct,-wake_alarm,-block_suspend"

die() { echo "hosts.sh: $*" >&2; exit 1; }
running() { local st; st=$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null) && [ -n "$st" ] && [ "$st" != Z ]; }
target_addr() { echo "10.252.0.$((10 + 10#${1#h}))"; }   # h01 -> 10.252.0.11
vm_addr() { echo "10.252.1.$((10 + 10#${1#vm}))"; }       # vm01 -> 10.252.1.11
addr_of() { if [ "$1" = bastion ]; then echo "$BASTION_ADDR"; else cat "$RUN/hosts/$1/addr"; fi; }
pid1_of() {   # the namespace's PID 1 (sshd), as seen from the machine
  local d=$RUN/hosts/$1 pid
  [ -f "$d/pid" ] || die "$1 is not running"
  pid=$(cat "$d/pid")
  awk '{print $1}' "/proc/$pid/task/$pid/children" 2>/dev/null
}
is_up() { local d=$RUN/hosts/$1; [ -f "$d/pid" ] && running "$(cat "$d/pid")"; }
listening() { [ -n "$(ss -N "$P-$1" -ltnH 'sport = :22' 2>/dev/null)" ]; }

# ------------------------------------------------------------------------------------------------
inner() {   # PID 1 of the host's new pid namespace, in its new mount namespace
  local name=$1 d=$RUN/hosts/$1 m=$RUN/hosts/$1/merged n
  mount -t overlay overlay -o "lowerdir=$BASE,upperdir=$d/upper,workdir=$d/work,volatile" "$m"
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
  exec /usr/bin/env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root \
    /bin/sh -c "umount -l /.oldroot && rmdir /.oldroot && exec setpriv --bounding-set $DROP_CAPS /usr/sbin/sshd -D -e"
}

seed() {   # per-host files, written into the upper dir before the overlay is mounted
  local name=$1 d=$RUN/hosts/$1 up=$RUN/hosts/$1/upper uid gid
  mkdir -p "$up/etc/ssh/sshd_config.d" "$d/work" "$d/merged"
  ssh-keygen -q -t ed25519 -N '' -C "$name" -f "$up/etc/ssh/ssh_host_ed25519_key"
  mkdir -p -m 700 "$up/root/.ssh"
  install -m 600 "$KEY.pub" "$up/root/.ssh/authorized_keys"
  uid=$(awk -F: '$1=="hardenctl"{print $3}' "$BASE/etc/passwd")
  gid=$(awk -F: '$1=="hardenctl"{print $4}' "$BASE/etc/passwd")
  mkdir -p "$up/home/hardenctl"
  chown "$uid:$gid" "$up/home/hardenctl"; chmod 755 "$up/home/hardenctl"
  install -d -m 700 -o "$uid" -g "$gid" "$up/home/hardenctl/.ssh"
  install -m 600 -o "$uid" -g "$gid" "$KEY.pub" "$up/home/hardenctl/.ssh/authorized_keys"
  echo "$name" >"$up/etc/hostname"
  printf '127.0.0.1 localhost\n127.0.1.1 %s\n::1 localhost ip6-localhost ip6-loopback\n' "$name" >"$up/etc/hosts"
  if [ "$name" = bastion ]; then
    printf '# bastion: forwards SSH to the private network, does not route\nAllowTcpForwarding yes\nMaxSessions 1000\nMaxStartups 200:30:400\n' \
      >"$up/etc/ssh/sshd_config.d/20-bastion.conf"
  fi
  echo "$(addr_of "$name") $(cut -d' ' -f1,2 "$up/etc/ssh/ssh_host_ed25519_key.pub")" >"$d/known"
}

new_netns() {   # new_netns NAME: a fresh network namespace $P-NAME with lo up
  local ns=$P-$1
  if [ -e "/run/netns/$ns" ]; then kill_ns "$ns"; ip netns del "$ns"; fi   # left by a crash
  ip -n "$P-priv" link del "$1" 2>/dev/null || true   # a veth whose other end is still dying
  ip netns add "$ns"
  ip -n "$ns" link set lo up
}

join_bridge() {   # join_bridge NAME ADDR: eth0 of $P-NAME on the private bridge, with ADDR/16
  local ns=$P-$1
  ip -n "$P-priv" link add "$1" type veth peer name eth0 netns "$ns"
  ip -n "$P-priv" link set "$1" master br0 up
  ip -n "$ns" addr add "$2/16" dev eth0
  ip -n "$ns" link set eth0 up
}

start_host() {   # start_host NAME: network, namespaces, sshd; returns when sshd listens
  local name=$1 d=$RUN/hosts/$1 ns=$P-$1 addr i
  mkdir -p "$d"
  if [ "$name" = bastion ]; then addr=$BASTION_ADDR; else addr=$(target_addr "$name"); echo "$addr" >"$d/addr"; fi
  [ -f "$d/known" ] || seed "$name"
  if [ "$name" = bastion ]; then ip link del "$P-bst" 2>/dev/null || true; fi
  new_netns "$name"
  if [ "$name" = bastion ]; then
    ip link add "$P-bst" type veth peer name eth0 netns "$ns"
    ip addr add "$BASTION_MACHINE_ADDR/30" dev "$P-bst"
    ip link set "$P-bst" up
    ip -n "$ns" addr add "$BASTION_ADDR/30" dev eth0
    ip -n "$ns" link set eth0 up
    ip -n "$P-priv" link add bastion type veth peer name eth1 netns "$ns"
    ip -n "$P-priv" link set bastion master br0 up
    ip -n "$ns" addr add "$BASTION_PRIV_ADDR/16" dev eth1
    ip -n "$ns" link set eth1 up
    ip netns exec "$ns" sysctl -qw net.ipv4.ip_forward=0 net.ipv6.conf.all.forwarding=0
  else
    join_bridge "$name" "$addr"
  fi
  setsid ip netns exec "$ns" unshare --mount --uts --ipc --pid --fork --kill-child=SIGKILL \
      --propagation private "$SELF" _inner "$name" >"$d/console.log" 2>&1 </dev/null 8>&- &
  echo $! >"$d/pid"
  for i in $(seq 1 400); do
    listening "$name" && return 0
    running "$(cat "$d/pid")" || { cat "$d/console.log" >&2; die "$name died while starting"; }
    sleep 0.025
  done
  die "$name: sshd not listening after 10 s"
}

start_vm() {   # start_vm NAME: QEMU/TCG on the private network; returns when the guest's sshd answers
  local name=$1 d=$RUN/hosts/$1 ns=$P-$1 addr i t0
  [ -f "$VMDIR/debian12.qcow2" ] || die "no VM image at $VMDIR: run scripts/testhosts/vm-image.sh"
  addr=$(vm_addr "$name")
  mkdir -p "$d"; echo "$addr" >"$d/addr"; touch "$d/vm"
  echo "$addr $(cut -d' ' -f1,2 "$VMDIR/ssh_host_ed25519_key.pub")" >"$d/known"
  new_netns "$name"
  join_bridge "$name" "$addr"
  # the guest writes to its own overlay; the built image stays as it is
  rm -f "$d/disk.qcow2"
  qemu-img create -q -f qcow2 -F qcow2 -b "$VMDIR/debian12.qcow2" "$d/disk.qcow2"
  t0=$(date +%s.%N)
  # QEMU's user network, in a namespace whose only link is the private bridge: the guest reaches
  # what the other targets reach (the private network; no route out), and $addr:22 comes in.
  # (restrict=on would confine it further but, in this QEMU, also stops the forwarded port.)
  ip netns exec "$ns" qemu-system-x86_64 -accel tcg,thread=multi -cpu max -m "${VM_MEM:-1536}" -smp 2 \
    -nodefaults -display none -monitor none \
    -kernel "$VMDIR/vmlinuz" -initrd "$VMDIR/initrd.img" -append "root=LABEL=root rw console=ttyS0 quiet" \
    -drive file="$d/disk.qcow2",if=virtio,format=qcow2,cache=unsafe \
    -netdev "user,id=n0,hostfwd=tcp:$addr:22-:22" -device virtio-net-pci,netdev=n0 \
    -device virtio-rng-pci -serial file:"$d/console.log" -pidfile "$d/pid" -daemonize 8>&- \
    || die "$name: qemu did not start"
  for i in $(seq 1 600); do
    if ip netns exec "$ns" ssh -F /dev/null -o UserKnownHostsFile="$d/known" -o StrictHostKeyChecking=yes \
         -o BatchMode=yes -o ConnectTimeout=3 -o LogLevel=ERROR -i "$KEY" "root@$addr" true 2>/dev/null; then
      printf 'hosts.sh: %s (VM) SSH-able at %s after %.1f s\n' "$name" "$addr" "$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN{print b-a}')" >&2
      return 0
    fi
    running "$(cat "$d/pid" 2>/dev/null || echo 0)" || { tail -20 "$d/console.log" >&2; die "$name: qemu exited"; }
    sleep 1
  done
  tail -30 "$d/console.log" >&2; die "$name: not SSH-able after 600 s"
}

kill_host() {   # kill every process of the host (its pid namespace); keep network and state
  local d=$RUN/hosts/$1 pid pid1 alive
  [ -f "$d/pid" ] || return 0
  pid=$(cat "$d/pid")
  if [ -e "$d/vm" ]; then   # a VM: qemu is the whole host
    if running "$pid"; then
      kill -TERM "$pid" 2>/dev/null || true
      for _ in $(seq 1 250); do running "$pid" || break; sleep 0.02; done
      running "$pid" && kill -KILL "$pid" 2>/dev/null || true
    fi
  elif running "$pid"; then
    # `unshare --fork` ignores SIGTERM: SIGKILL the namespace's PID 1, which ends the namespace
    pid1=$(awk '{print $1}' "/proc/$pid/task/$pid/children" 2>/dev/null || true)
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

kill_ns() {   # kill_ns NS: SIGKILL whatever still runs in netns NS (an orphan of a crashed up)
  local pids; pids=$(ip netns pids "$1" 2>/dev/null || true)
  [ -n "$pids" ] && kill -KILL $pids 2>/dev/null || true
}

stop_host() {
  local name=$1
  kill_host "$name"
  ip netns del "$P-$name" 2>/dev/null || true   # takes its veth pair with it
  [ "$name" = bastion ] && ip link del "$P-bst" 2>/dev/null || true
  rm -rf --one-file-system "${RUN:?}/hosts/$name"
}

write_files() {
  local d name
  : >"$RUN/known_hosts.tmp"; : >"$RUN/hosts.txt.tmp"
  for d in "$RUN"/hosts/*/; do
    name=$(basename "$d")
    [ -f "$d/known" ] || continue
    cat "$d/known" >>"$RUN/known_hosts.tmp"
    [ "$name" = bastion ] || echo "$name $(cat "$d/addr")" >>"$RUN/hosts.txt.tmp"
  done
  sort -V -o "$RUN/hosts.txt.tmp" "$RUN/hosts.txt.tmp"
  mv "$RUN/known_hosts.tmp" "$RUN/known_hosts"; mv "$RUN/hosts.txt.tmp" "$RUN/hosts.txt"
  echo "bastion $BASTION_ADDR" >"$RUN/bastion.txt"
  cat >"$RUN/ssh_config" <<EOF
# hardenctl test hosts, instance $I (scripts/testhosts/hosts.sh)
Host bastion $BASTION_ADDR
  HostName $BASTION_ADDR
Host 10.252.*
  ProxyJump root@$BASTION_ADDR
Host *
  User root
  IdentityFile $KEY
  IdentitiesOnly yes
  UserKnownHostsFile $RUN/known_hosts
  StrictHostKeyChecking yes
  BatchMode yes
  ConnectTimeout 10
  LogLevel ERROR
EOF
}

lock_and_bastion() {   # take the instance's lock; make the private bridge and the bastion if missing
  [ -x "$BASE/usr/sbin/sshd" ] && [ -f "$KEY" ] || die "no root at $BASE: run scripts/testhosts/prepare.sh (make testhosts-up)"
  mkdir -p "$RUN/hosts"
  exec 8>"$RUN/.lock"; flock 8
  if [ ! -e "/run/netns/$P-priv" ]; then
    ip netns add "$P-priv"
    ip -n "$P-priv" link add br0 type bridge
    ip -n "$P-priv" link set br0 up
    ip -n "$P-priv" link set lo up
  fi
  is_up bastion || { [ -e "/run/netns/$P-bastion" ] && stop_host bastion; start_host bastion; }
}

vm_up() {
  local name=$1
  [[ $name =~ ^vm0[1-9]$ ]] || die "vm-up: NAME must be vm01..vm09"
  lock_and_bastion
  is_up "$name" && { echo "hosts.sh: $name already up" >&2; return 0; }
  stop_host "$name"
  start_vm "$name" || { write_files; exit 1; }
  write_files
}

up() {
  local n=$1 i name pids=() rc=0
  [[ $n =~ ^[0-9]+$ ]] && [ "$n" -le $MAXHOSTS ] || die "up: N must be 0..$MAXHOSTS"
  local t0; t0=$(date +%s.%N)
  lock_and_bastion
  # hosts beyond N go; stopped or crashed ones within N are restarted fresh
  for d in "$RUN"/hosts/h*/; do
    [ -d "$d" ] || continue
    name=$(basename "$d"); i=$((10#${name#h}))
    if [ "$i" -gt "$n" ] || ! is_up "$name"; then stop_host "$name"; fi
  done
  local started=0
  for i in $(seq 1 "$n"); do
    name=$(printf 'h%02d' "$i")
    is_up "$name" && continue
    start_host "$name" & pids+=($!); started=$((started + 1))
  done
  for p in "${pids[@]}"; do wait "$p" || rc=1; done
  write_files
  [ $rc = 0 ] || die "some hosts failed to start (see above)"
  printf 'hosts.sh: instance %s: bastion %s, %s targets up (%s started) in %.1f s; known_hosts %s\n' \
    "$I" "$BASTION_ADDR" "$n" "$started" "$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN{print b-a}')" "$RUN/known_hosts" >&2
}

down() {
  mkdir -p "$RUN"
  exec 8>"$RUN/.lock"; flock 8
  local d pids=()
  for d in "$RUN"/hosts/*/; do
    [ -d "$d" ] || continue
    stop_host "$(basename "$d")" & pids+=($!)
  done
  for p in "${pids[@]}"; do wait "$p" || true; done
  # namespaces of this instance whose state is gone (an interrupted up or down)
  local ns
  for ns in $(ip netns list | awk -v p="$P-" 'index($1, p) == 1 {print $1}'); do
    [[ ${ns#"$P-"} =~ ^(h[0-9]+|vm[0-9]+|bastion|priv)$ ]] && { kill_ns "$ns"; ip netns del "$ns"; }
  done
  ip netns del "$P-priv" 2>/dev/null || true
  ip link del "$P-bst" 2>/dev/null || true
  rm -rf --one-file-system "${RUN:?}"
  echo "hosts.sh: instance $I down" >&2
}

status() {
  [ -d "$RUN/hosts" ] || { echo "instance $I: down"; return 0; }
  local d name st
  for d in "$RUN"/hosts/bastion/ $(ls -d "$RUN"/hosts/h*/ 2>/dev/null | sort -V); do
    [ -d "$d" ] || continue
    name=$(basename "$d")
    if is_up "$name"; then st="up pid=$(cat "$d/pid")"
      [ -e "$d/oscap-hidden" ] && st="$st oscap-hidden"
      [ -e "$d/frozen" ] && st="$st frozen"
    elif [ -e "$d/sshd-stopped" ]; then st="sshd-stopped"; else st=down; fi
    echo "$name $(addr_of "$name") $st"
  done
}

nsexec() {   # nsexec NAME cmd...: run inside the host, with the host's capability limits
  local pid1; pid1=$(pid1_of "$1"); shift
  [ -n "$pid1" ] || die "no PID 1"
  nsenter -t "$pid1" -m -u -i -n -p -r -w setpriv --bounding-set "$DROP_CAPS" "$@"
}

case "${1:-}" in
  _inner) shift; inner "$@" ;;
  up) [ $# -eq 2 ] || die "usage: up N"; up "$2" ;;
  vm-up) [ $# -eq 2 ] || die "usage: vm-up NAME"; vm_up "$2" ;;
  down) down ;;
  status) status ;;
  exec) [ $# -ge 3 ] || die "usage: exec NAME cmd..."; name=$2; shift 2; nsexec "$name" "$@" ;;
  ssh) [ $# -ge 2 ] || die "usage: ssh NAME [cmd...]"; name=$2; shift 2
       exec ssh -F "$RUN/ssh_config" "root@$(addr_of "$name")" "$@" ;;
  rekey) [ $# -eq 2 ] || die "usage: rekey NAME"; name=$2
    nsexec "$name" sh -c "rm -f /etc/ssh/ssh_host_ed25519_key /etc/ssh/ssh_host_ed25519_key.pub &&
      ssh-keygen -q -t ed25519 -N '' -C '$name rekeyed' -f /etc/ssh/ssh_host_ed25519_key"
    kill -HUP "$(pid1_of "$name")"   # sshd re-executes itself and loads the new key
    sleep 0.2
    for _ in $(seq 1 200); do listening "$name" && break; sleep 0.025; done
    listening "$name" || die "$name: sshd did not come back after rekey"
    echo "hosts.sh: $name rekeyed: $(nsexec "$name" ssh-keygen -l -f /etc/ssh/ssh_host_ed25519_key.pub | cut -d' ' -f2) (known_hosts not updated)" >&2 ;;
  stop-sshd) [ $# -eq 2 ] || die "usage: stop-sshd NAME"; name=$2
    is_up "$name" || die "$name is not running"
    kill_host "$name"; touch "$RUN/hosts/$name/sshd-stopped"
    echo "hosts.sh: $name: sshd stopped, address $(addr_of "$name") refuses connections" >&2 ;;
  freeze) [ $# -eq 2 ] || die "usage: freeze NAME"; name=$2
    kill -STOP "$(pid1_of "$name")"; touch "$RUN/hosts/$name/frozen"
    echo "hosts.sh: $name: sshd frozen (connections are accepted, nothing answers)" >&2 ;;
  thaw) [ $# -eq 2 ] || die "usage: thaw NAME"; name=$2
    kill -CONT "$(pid1_of "$name")"; rm -f "$RUN/hosts/$name/frozen" ;;
  hide-oscap) [ $# -eq 2 ] || die "usage: hide-oscap NAME"; name=$2
    nsexec "$name" mv /usr/bin/oscap /usr/bin/oscap.hidden; touch "$RUN/hosts/$name/oscap-hidden" ;;
  show-oscap) [ $# -eq 2 ] || die "usage: show-oscap NAME"; name=$2
    nsexec "$name" mv /usr/bin/oscap.hidden /usr/bin/oscap; rm -f "$RUN/hosts/$name/oscap-hidden" ;;
  *) sed -n '2,/^set -euo/{/^#/p}' "$0"; exit 1 ;;
esac
