#!/bin/bash
# Stop the devcloud test bed in $OSDEV and delete its state. Stops only processes up.sh started:
# the process groups it recorded in $OSDEV/run/*.pid (pid + start time, so a reused pid is never
# hit) and any process carrying HARDENCTL_DEVCLOUD=$OSDEV in its environment (e.g. rabbit's epmd).
export PATH=/usr/sbin:/usr/bin:/sbin:/bin
OSDEV=${OSDEV:-/tmp/hardenctl-devcloud}; OSDEV=${OSDEV%/}
RUN=$OSDEV/run
T0=$(date +%s%N)
[ "$(id -u)" = 0 ] || { echo "down.sh: must run as root" >&2; exit 1; }
case "$OSDEV" in /|/tmp|/root|/home|/usr|/var|"") echo "down.sh: refusing OSDEV=$OSDEV" >&2; exit 1;; esac
if [ -z "${DEVCLOUD_LOCKED:-}" ]; then exec 9>"$OSDEV.lock"; flock -w 300 9; fi

# /proc/PID/stat fields after "pid (comm) ": 1 state, 2 ppid, 3 pgrp, ..., 20 starttime
statf() { local l n=$2; read -r l 2>/dev/null < /proc/$1/stat || return 1; l=${l##*) }; set -- $l; echo "${!n}"; }
# pids never to touch: this script and its ancestors
self=" $$ "; p=$$
while [ "${p:-0}" -gt 1 ]; do p=$(statf $p 2) || break; self+="$p "; done

targets() { # all our live processes, one pid a line
  local groups=" " marked f pid st q pg l
  marked=" $(grep -lzxF "HARDENCTL_DEVCLOUD=$OSDEV" /proc/[0-9]*/environ 2>/dev/null | cut -d/ -f3 | tr '\n' ' ') "
  for f in "$RUN"/*.pid; do
    [ -e "$f" ] || continue
    read -r pid st < "$f" || continue
    [ "$(statf "$pid" 20)" = "$st" ] && groups+="$pid "
  done
  for q in /proc/[0-9]*; do
    read -r l 2>/dev/null < $q/stat || continue   # no fork per process: this runs under load
    l=${l##*) }; set -- $l; pg=$3
    q=${q#/proc/}
    [[ $self == *" $q "* ]] && continue
    # in a recorded group whose leader is the recorded process, or carrying our mark
    # (a recorded group whose leader is gone counts through its marked members)
    if [[ $groups == *" $pg "* || $marked == *" $q "* ]]; then echo $q; fi
  done
}

pids=$(targets)
if [ -n "$pids" ]; then
  kill -TERM $pids 2>/dev/null
  for i in $(seq 1 12); do          # up to 3 s for a clean shutdown (state is deleted anyway)
    left=""; for p in $pids; do st=$(statf $p 1) && [ "$st" != Z ] && left+="$p "; done
    [ -z "$left" ] && break; sleep 0.25
  done
  [ -n "$left" ] && { echo "down.sh: killing $left"; kill -KILL $left 2>/dev/null; }
  # anything started meanwhile by a dying parent
  late=$(targets); [ -n "$late" ] && kill -KILL $late 2>/dev/null
fi
# the hosts behind real servers (py/hardenctl_virt.py): namespaces, veths, mirror
OSDEV="$OSDEV" bash "$(dirname "${BASH_SOURCE[0]}")/servers/server.sh" down-all 2>/dev/null || true
rm -rf "$OSDEV"
echo "devcloud: stopped $(echo $pids | wc -w) processes and removed $OSDEV ($(( ($(date +%s%N) - T0) / 1000000 )) ms)"
