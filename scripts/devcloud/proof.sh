#!/bin/bash
# proof.sh - prove that the test bed needs nothing of the machine's OpenStack directories, on a
# machine that has them: a second test bed, in network and mount namespaces of its own (its
# 127.0.0.1 ports, /run/netns and processes are apart from any other bed's), where /etc and
# /var/lib are overlays holding what another OpenStack installation leaves there, each piece of
# which breaks the bed or marks its logs if read: conf.d files (keystone's names a missing identity
# driver; all set log_date_format to POISONED-...), unparsable policy.yaml, policy.d,
# schema-image.json and provider configs, a fernet key repository in /etc/keystone, /var/lib/* mode 000,
# a swift.conf with an invalid storage policy.
#
#   proof.sh [isolated]   up.sh as it is: must come up healthy with no POISONED log line (exit 0)
#   proof.sh control      the same with DEVCLOUD_ISOLATE=0: must fail, else the poison proves nothing
#
# Needs the packages (run after up.sh once); takes about as long as a fresh up.sh. Tears its bed
# down at the end. Env: PROOF_OSDEV (default /tmp/hardenctl-devcloud-proof-MODE).
set -u
export PATH=/usr/sbin:/usr/bin:/sbin:/bin
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
MODE=${1:-isolated}
case $MODE in isolated) ISO=1;; control) ISO=0;; *) sed -n '2,13p' "$0"; exit 2;; esac
P=${PROOF_OSDEV:-/tmp/hardenctl-devcloud-proof-$MODE}; P=${P%/}
[ "$(id -u)" = 0 ] || { echo "proof.sh: must run as root" >&2; exit 1; }
[ "$P" != "${OSDEV:-/tmp/hardenctl-devcloud}" ] && [ "$P" != /tmp/hardenctl-devcloud ] ||
  { echo "proof.sh: PROOF_OSDEV must not be the test bed's own OSDEV" >&2; exit 1; }
[ -e "$P" ] && { echo "proof.sh: $P exists (a proof running?); remove it first" >&2; exit 1; }
mkdir -p /run/netns "$P.ovl"
# HC_INSTANCE / TESTHOSTS of no real bed: down.sh's server clean-up can touch nothing of theirs
export PROOF_P=$P PROOF_ISO=$ISO PROOF_HERE=$HERE
unshare --net --mount --propagation private env OSDEV="$P" HC_INSTANCE=9 TESTHOSTS="$P.testhosts" \
  SKIP_INSTALL=1 DEVCLOUD_ISOLATE="$ISO" bash -c '
  set -u
  ip link set lo up
  mount -t tmpfs -o mode=755 proof-netns /run/netns       # the namespaces of no other bed in sight
  O=$PROOF_P.ovl; mount -t tmpfs proof-ovl "$O"
  for t in etc var/lib; do
    n=${t//\//_}; mkdir -p "$O/$n.u" "$O/$n.w"
    mount -t overlay -o "lowerdir=/$t,upperdir=$O/$n.u,workdir=$O/$n.w" proof-ovl "/$t"
  done
  for p in keystone nova neutron glance placement; do
    mkdir -p /etc/$p/$p.conf.d /etc/$p/policy.d /var/lib/$p
    # conf.d files are parsed before --config-file: only options the bed leaves unset bite
    printf "[DEFAULT]\nlog_date_format = POISONED-%%Y\n" > /etc/$p/$p.conf.d/zz-poison.conf
    echo "not yaml: [" > /etc/$p/policy.yaml
    echo "not yaml: [" > /etc/$p/policy.d/poison.yaml
    chmod 000 /var/lib/$p
  done
  printf "[identity]\ndriver = poison\n" >> /etc/keystone/keystone.conf.d/zz-poison.conf
  mkdir -p /etc/keystone/fernet-keys
  for k in 0 1; do head -c 32 /dev/urandom | base64 -w0 | tr "+/" "-_" > /etc/keystone/fernet-keys/$k; done
  echo "{not json" > /etc/glance/schema-image.json
  # swift reads /etc/swift/swift.conf at import unless told otherwise: an invalid policy exits it
  mkdir -p /etc/swift /var/lib/swift /var/cache/swift
  printf "[swift-hash]\nswift_hash_path_suffix = POISONED\n[storage-policy:poison]\nname = poison\n" > /etc/swift/swift.conf
  chmod 000 /var/lib/swift /var/cache/swift
  mkdir -p /etc/nova/provider_config; echo "not yaml: [" > /etc/nova/provider_config/poison.yaml
  t0=$(date +%s)
  bash "$PROOF_HERE/up.sh"; up=$?
  t1=$(date +%s)
  bash "$PROOF_HERE/status.sh" -q; st=$?
  poisoned=$(cat "$OSDEV"/log/*.log 2>/dev/null | grep -c POISONED)
  echo "proof.sh: DEVCLOUD_ISOLATE=$PROOF_ISO: up.sh exit $up after $((t1 - t0)) s, status.sh exit $st, $poisoned log lines with the poisoned setting"
  DEVCLOUD_LOCKED= bash "$PROOF_HERE/down.sh" >/dev/null 2>&1
  if [ "$PROOF_ISO" = 1 ]; then [ $up = 0 ] && [ $st = 0 ] && [ "$poisoned" = 0 ]
  else [ $up != 0 ] || [ $st != 0 ] || [ "$poisoned" != 0 ]; fi
'
rc=$?
rm -rf "$P.ovl" "$P.lock"
if [ $rc = 0 ]; then
  echo "proof.sh $MODE: PASS"
else
  echo "proof.sh $MODE: FAIL" >&2
fi
exit $rc
