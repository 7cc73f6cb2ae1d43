#!/bin/bash
# platform.sh - what real servers on the test bed need, after up.sh and testhosts/prepare.sh.
# Idempotent; every part looks first and builds only what is missing.
#
#   platform.sh [all]    network + mirror + serve + image
#   platform.sh serve    bridge + bastion (hosts.sh instance 0) + the mirror's HTTP server, if absent
#   platform.sh network  Neutron network `platform` (shared, 10.252.0.0/16 = the testhosts bridge)
#   platform.sh mirror   Debian package repository $TESTHOSTS/mirror/debian (apt-ftparchive) from
#                        prepare.sh's debootstrap cache + $MIRROR_EXTRA (apt-get download); served
#                        by server.sh net-up at http://10.252.0.2:8080/debian in netns hcvirt0-mirror:
#                          deb [trusted=yes] http://10.252.0.2:8080/debian bookworm main
#   platform.sh image    public Glance image debian-12-base = tar.gz of $TESTHOSTS/root
#                        (raw/bare, os_distro=debian os_version=12), only if not present
# env: OSDEV, TESTHOSTS, ADMIN_PW, MIRROR_EXTRA (default "hello tree")
set -euo pipefail
export PATH=/usr/sbin:/usr/bin:/sbin:/bin LC_ALL=C.UTF-8 PYTHONDONTWRITEBYTECODE=1
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
OSDEV=${OSDEV:-/tmp/hardenctl-devcloud}; OSDEV=${OSDEV%/}
TESTHOSTS=${TESTHOSTS:-/tmp/hardenctl-testhosts}
MIRROR_EXTRA=${MIRROR_EXTRA:-hello tree}
IMAGE=debian-12-base
export OSDEV TESTHOSTS
die() { echo "platform.sh: $*" >&2; exit 1; }
log() { echo "platform.sh: $*" >&2; }
[ "$(id -u)" = 0 ] || die "must run as root"

network() { /usr/bin/python3 "$HERE/py/hardenctl_platform.py" network; }

mirror() {
  local m=$TESTHOSTS/mirror/debian stamp=$TESTHOSTS/mirror/.built want
  want="v1 $(ls "$TESTHOSTS/cache/debs" 2>/dev/null | wc -l) $MIRROR_EXTRA"
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && [ -f "$m/dists/bookworm/Release" ]; then
    log "mirror already built ($m)"; return 0
  fi
  command -v apt-ftparchive >/dev/null || {
    DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=900 install -y -q --no-install-recommends apt-utils >&2; }
  ls "$TESTHOSTS"/cache/debs/*.deb >/dev/null 2>&1 || die "no $TESTHOSTS/cache/debs: run scripts/testhosts/prepare.sh"
  mkdir -p "$TESTHOSTS/mirror"
  exec 6>"$TESTHOSTS/mirror/.lock"; flock 6
  local tmp=$TESTHOSTS/mirror/debian.tmp extra=$TESTHOSTS/mirror/extra
  rm -rf "$tmp"; mkdir -p "$tmp/pool/main" "$tmp/dists/bookworm/main/binary-amd64" "$extra"
  # a couple of small packages that are not in the base root, to install from the mirror
  # shellcheck disable=SC2086
  (cd "$extra" && for p in $MIRROR_EXTRA; do ls ${p}_*.deb >/dev/null 2>&1 || apt-get -q download "$p" >&2; done)
  cp -l "$TESTHOSTS"/cache/debs/*.deb "$extra"/*.deb "$tmp/pool/main/" 2>/dev/null ||
    cp "$TESTHOSTS"/cache/debs/*.deb "$extra"/*.deb "$tmp/pool/main/"
  (cd "$tmp" && apt-ftparchive packages pool > dists/bookworm/main/binary-amd64/Packages &&
    gzip -9k dists/bookworm/main/binary-amd64/Packages &&
    apt-ftparchive -o APT::FTPArchive::Release::Origin=hardenctl-testbed \
      -o APT::FTPArchive::Release::Suite=bookworm -o APT::FTPArchive::Release::Codename=bookworm \
      -o APT::FTPArchive::Release::Components=main -o APT::FTPArchive::Release::Architectures=amd64 \
      release dists/bookworm > dists/bookworm/Release.tmp && mv dists/bookworm/Release.tmp dists/bookworm/Release)
  rm -rf "$m"; mv "$tmp" "$m"
  echo "$want" > "$stamp"
  log "mirror built: $(ls "$m/pool/main" | wc -l) packages in $m"
}

image() {
  [ -x "$TESTHOSTS/root/usr/sbin/sshd" ] || die "no root at $TESTHOSTS/root: run scripts/testhosts/prepare.sh"
  local tgz=$TESTHOSTS/$IMAGE.tar.gz gz=gzip
  command -v pigz >/dev/null && gz=pigz
  if [ ! -s "$tgz" ] || [ "$TESTHOSTS/.prepared" -nt "$tgz" ]; then
    log "archiving $TESTHOSTS/root"
    tar -C "$TESTHOSTS/root" --one-file-system --numeric-owner --xattrs --acls -cf - . | $gz -1 > "$tgz.tmp"
    mv "$tgz.tmp" "$tgz"
  fi
  /usr/bin/python3 "$HERE/py/hardenctl_platform.py" image "$IMAGE" "$tgz"
}

serve() {   # bridge + bastion + the mirror's http server (server.sh; spawns do it too)
  bash "$HERE/servers/server.sh" net-up
}

case "${1:-all}" in
  network) network ;;
  mirror) mirror ;;
  image) image ;;
  all) network; mirror; serve; image ;;
  *) sed -n '2,16p' "$0"; exit 1 ;;
esac
