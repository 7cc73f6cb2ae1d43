#!/bin/bash
# platform.sh - what real servers on the test bed need, after up.sh and testhosts/prepare.sh.
# Idempotent; every part looks first and builds only what is missing.
#
#   platform.sh [all]    network + mirror + serve + image + keypair
#   platform.sh keypair  the demo user's key pair "ops" (the sample's fleets) = the test hosts' key
#   platform.sh serve    bridge + bastion (hosts.sh instance 0) + the mirror's HTTP server, if absent
#   platform.sh network  Neutron network `platform` (shared, 10.252.0.0/16 = the testhosts bridge)
#   platform.sh mirror   Debian package repository $TESTHOSTS/mirror/debian (apt-ftparchive) from
#                        prepare.sh's debootstrap cache + $MIRROR_EXTRA (apt-get download); served
#                        by server.sh net-up at http://10.252.0.2:8080/debian in netns hcvirt0-mirror:
#                          deb [trusted=yes] http://10.252.0.2:8080/debian bookworm main
#                        and bookworm-updates; $TESTHOSTS/mirror/debian-security with
#                        bookworm-security (empty): the sample platform's mirrors, every suite
#                        signed with the test bed's key ($TESTHOSTS/mirror/hardenctl-testbed.asc)
#   platform.sh image    public Glance image debian-12-base = tar.gz of $TESTHOSTS/root, which
#                        trusts that key (raw/bare, os_distro=debian os_version=12, tag base),
#                        replaced when the archive is newer than it
# env: OSDEV, TESTHOSTS, ADMIN_PW, MIRROR_EXTRA (default "hello tree")
set -euo pipefail
export PATH=/usr/sbin:/usr/bin:/sbin:/bin LC_ALL=C.UTF-8 PYTHONDONTWRITEBYTECODE=1
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
OSDEV=${OSDEV:-/tmp/hardenctl-devcloud}; OSDEV=${OSDEV%/}
TESTHOSTS=${TESTHOSTS:-/tmp/hardenctl-testhosts}
MIRROR_EXTRA=${MIRROR_EXTRA:-hello tree}
IMAGE=debian-12-base
GNUPG=$TESTHOSTS/mirror/gnupg KEY=$TESTHOSTS/mirror/hardenctl-testbed.asc
TRUSTED=etc/apt/trusted.gpg.d/hardenctl-testbed-mirror.asc
export OSDEV TESTHOSTS
die() { echo "platform.sh: $*" >&2; exit 1; }
log() { echo "platform.sh: $*" >&2; }
[ "$(id -u)" = 0 ] || die "must run as root"

network() { /usr/bin/python3 "$HERE/py/hardenctl_platform.py" network; }

mirror() {
  local m=$TESTHOSTS/mirror/debian sec=$TESTHOSTS/mirror/debian-security stamp=$TESTHOSTS/mirror/.built want
  want="v2 $(ls "$TESTHOSTS/cache/debs" 2>/dev/null | wc -l) $MIRROR_EXTRA"
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && [ -f "$m/dists/bookworm/InRelease" ] &&
    [ -f "$sec/dists/bookworm-security/InRelease" ] && [ -s "$KEY" ]; then
    log "mirror already built ($m, $sec)"; return 0
  fi
  command -v apt-ftparchive >/dev/null || {
    DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=900 install -y -q --no-install-recommends apt-utils >&2; }
  command -v gpg >/dev/null || {
    DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=900 install -y -q --no-install-recommends gpg >&2; }
  ls "$TESTHOSTS"/cache/debs/*.deb >/dev/null 2>&1 || die "no $TESTHOSTS/cache/debs: run scripts/testhosts/prepare.sh"
  mkdir -p "$TESTHOSTS/mirror"
  exec 6>"$TESTHOSTS/mirror/.lock"; flock 6
  signing_key
  local tmp=$TESTHOSTS/mirror/debian.tmp stmp=$TESTHOSTS/mirror/debian-security.tmp extra=$TESTHOSTS/mirror/extra
  rm -rf "$tmp" "$stmp"; mkdir -p "$tmp/pool/main" "$extra"
  # a couple of small packages that are not in the base root, to install from the mirror
  # shellcheck disable=SC2086
  (cd "$extra" && for p in $MIRROR_EXTRA; do ls ${p}_*.deb >/dev/null 2>&1 || apt-get -q download "$p" >&2; done)
  cp -l "$TESTHOSTS"/cache/debs/*.deb "$extra"/*.deb "$tmp/pool/main/" 2>/dev/null ||
    cp "$TESTHOSTS"/cache/debs/*.deb "$extra"/*.deb "$tmp/pool/main/"
  # The sample platform's mirrors (testdata/platform/images.hcl): debian with bookworm and
  # bookworm-updates (no updates: an empty suite), debian-security with bookworm-security
  # (empty); each suite is signed with the test bed's key (InRelease, Release.gpg), so the
  # untrusted debian-security mirror is checked as a real one is.
  suite "$tmp" bookworm pool
  suite "$tmp" bookworm-updates ""
  mkdir -p "$stmp"
  suite "$stmp" bookworm-security ""
  gpgconf --homedir "$GNUPG" --kill gpg-agent 2>/dev/null || true   # signing started one: no daemon left behind
  rm -rf "$m" "$sec"; mv "$tmp" "$m"; mv "$stmp" "$sec"
  echo "$want" > "$stamp"
  log "mirror built: $(ls "$m/pool/main" | wc -l) packages in $m; suites bookworm, bookworm-updates, and $sec bookworm-security; signed by $KEY"
}

# suite REPO SUITE POOL: dists/SUITE of REPO with the packages under POOL ("" for none), signed.
suite() {
  local repo=$1 s=$2 pool=$3 d=$1/dists/$2
  mkdir -p "$d/main/binary-amd64"
  if [ -n "$pool" ]; then (cd "$repo" && apt-ftparchive packages "$pool") > "$d/main/binary-amd64/Packages"
  else : > "$d/main/binary-amd64/Packages"; fi
  gzip -9kf "$d/main/binary-amd64/Packages"
  apt-ftparchive -o APT::FTPArchive::Release::Origin=hardenctl-testbed \
    -o APT::FTPArchive::Release::Suite="$s" -o APT::FTPArchive::Release::Codename="$s" \
    -o APT::FTPArchive::Release::Components=main -o APT::FTPArchive::Release::Architectures=amd64 \
    release "$d" > "$d/Release.tmp" && mv "$d/Release.tmp" "$d/Release"
  gpg --homedir "$GNUPG" --batch --yes --clearsign -o "$d/InRelease" "$d/Release"
  gpg --homedir "$GNUPG" --batch --yes -abs -o "$d/Release.gpg" "$d/Release"
}

# signing_key: the test bed's mirror signing key (made once), public part in $KEY. The base
# image trusts it (/etc/apt/trusted.gpg.d), as a company's base image trusts its mirrors.
signing_key() {
  mkdir -p "$GNUPG"; chmod 700 "$GNUPG"
  if ! gpg --homedir "$GNUPG" --batch --list-secret-keys 2>/dev/null | grep -q sec; then
    gpg --homedir "$GNUPG" --batch --passphrase '' --quick-gen-key \
      'hardenctl test bed mirror <mirror@testbed.invalid>' ed25519 sign never >&2
  fi
  gpg --homedir "$GNUPG" --batch --export --armor > "$KEY.tmp" && mv "$KEY.tmp" "$KEY"
}

image() {
  [ -x "$TESTHOSTS/root/usr/sbin/sshd" ] || die "no root at $TESTHOSTS/root: run scripts/testhosts/prepare.sh"
  local tgz=$TESTHOSTS/$IMAGE.tar.gz gz=gzip
  command -v pigz >/dev/null && gz=pigz
  [ -s "$KEY" ] || die "no mirror signing key $KEY: run platform.sh mirror"
  cmp -s "$KEY" "$TESTHOSTS/root/$TRUSTED" || install -m 0644 "$KEY" "$TESTHOSTS/root/$TRUSTED"
  if [ ! -s "$tgz" ] || [ "$TESTHOSTS/.prepared" -nt "$tgz" ] || [ "$TESTHOSTS/root/$TRUSTED" -nt "$tgz" ]; then
    log "archiving $TESTHOSTS/root"
    tar -C "$TESTHOSTS/root" --one-file-system --numeric-owner --xattrs --acls -cf - . | $gz -1 > "$tgz.tmp"
    mv "$tgz.tmp" "$tgz"
  fi
  /usr/bin/python3 "$HERE/py/hardenctl_platform.py" image "$IMAGE" "$tgz"
}

keypair() {   # the sample platform's fleets boot with key pair "ops": the test hosts' operator key
  [ -s "$TESTHOSTS/keys/id_ed25519.pub" ] || die "no $TESTHOSTS/keys/id_ed25519.pub: run scripts/testhosts/prepare.sh"
  /usr/bin/python3 "$HERE/py/hardenctl_platform.py" keypair ops "$TESTHOSTS/keys/id_ed25519.pub"
}

serve() {   # bridge + bastion + the mirror's http server (server.sh; spawns do it too)
  bash "$HERE/servers/server.sh" net-up
}

case "${1:-all}" in
  network) network ;;
  mirror) mirror ;;
  image) image ;;
  keypair) keypair ;;
  all) network; mirror; serve; image; keypair ;;
  *) sed -n '2,16p' "$0"; exit 1 ;;
esac
