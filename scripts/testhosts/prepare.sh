#!/bin/bash
# prepare.sh - everything the namespace test hosts need, built once (make testhosts-up).
#
# Idempotent: a stamp file records a finished build; a second run only checks it (well under 1 s).
# Builds, under $TESTHOSTS (default /tmp/hardenctl-testhosts):
#   root/      Debian 12 (bookworm) root, debootstrap from the configured mirror, shared
#              read-only by every host (hosts.sh mounts an overlay per host). No ssh host keys,
#              no apt lists (remediation's apt-get fails at once), admin user `hardenctl`
#              with passwordless sudo, key-only root login.
#   content/   the operator-side SCAP content: trixie's ssg-debian 0.1.76 (+ ssg-base), fetched
#              with a PRIVATE apt configuration (apt-alt/; the machine's apt setup is untouched),
#              unpacked: content/ssg-debian12-ds.xml and the other ssg files.
#   keys/      the operator key pair id_ed25519 (authorized on every host by hosts.sh).
#   cache/     .deb cache for debootstrap (re-runs after `rm -rf root` are faster).
# On the machine: debootstrap, openscap-scanner, openscap-utils (oscap-ssh, the baseline), iproute2.
#
# env: TESTHOSTS, SSG_VERSION (default 0.1.76-1), FORCE=1 (rebuild root and content)
set -euo pipefail

TESTHOSTS=${TESTHOSTS:-/tmp/hardenctl-testhosts}
SSG_VERSION=${SSG_VERSION:-0.1.76-1}
ROOT_PKGS="openssh-server,openscap-scanner,auditd,sudo,linux-base,iproute2,procps"
# bump when what the root or content contains changes: an old stamp then forces a rebuild
STAMP_VERSION="v1 $ROOT_PKGS ssg=$SSG_VERSION"
STAMP=$TESTHOSTS/.prepared
SUITE=bookworm
APT_OPTS=(-o DPkg::Lock::Timeout=900 -y -q)

log() { echo "prepare: $*" >&2; }
die() { echo "prepare: $*" >&2; exit 1; }

[ "$(id -u)" = 0 ] || die "must run as root (debootstrap, namespaces)"

if [ -z "${FORCE:-}" ] && [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$STAMP_VERSION" ] \
   && [ -x "$TESTHOSTS/root/usr/sbin/sshd" ] && [ -f "$TESTHOSTS/content/ssg-debian12-ds.xml" ] \
   && [ -f "$TESTHOSTS/keys/id_ed25519" ]; then
  log "already prepared ($TESTHOSTS)"
  exit 0
fi

t0=$(date +%s.%N)
mkdir -p "$TESTHOSTS"
exec 9>"$TESTHOSTS/.prepare.lock"
flock 9   # two concurrent prepares: the second waits, then finds the stamp

# --- machine packages --------------------------------------------------------------------------
need=()
for p in debootstrap openscap-scanner openscap-utils iproute2 openssh-client util-linux; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || need+=("$p")
done
if [ ${#need[@]} -gt 0 ]; then
  log "apt-get install ${need[*]}"
  DEBIAN_FRONTEND=noninteractive apt-get "${APT_OPTS[@]}" install --no-install-recommends "${need[@]}" >&2 \
    || { DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=900 -q update >&2 \
         && DEBIAN_FRONTEND=noninteractive apt-get "${APT_OPTS[@]}" install --no-install-recommends "${need[@]}" >&2; }
fi

# --- the configured Debian mirror ----------------------------------------------------------------
MIRROR=
if [ -f /etc/apt/sources.list.d/debian.sources ]; then
  MIRROR=$(awk '/^URIs:/{print $2; exit}' /etc/apt/sources.list.d/debian.sources)
fi
if [ -z "$MIRROR" ] && [ -f /etc/apt/sources.list ]; then
  MIRROR=$(awk '$1=="deb" {for (i=2;i<=NF;i++) if ($i ~ /^[a-z]+:\/\//) {print $i; exit}}' /etc/apt/sources.list)
fi
[ -n "$MIRROR" ] || die "no Debian mirror found in /etc/apt/sources.list.d/debian.sources or /etc/apt/sources.list"
log "mirror $MIRROR"

# --- operator key --------------------------------------------------------------------------------
mkdir -p -m 700 "$TESTHOSTS/keys"
[ -f "$TESTHOSTS/keys/id_ed25519" ] || ssh-keygen -q -t ed25519 -N '' -C hardenctl-testhosts -f "$TESTHOSTS/keys/id_ed25519"

# --- content: trixie's ssg-debian via a private apt configuration --------------------------------
fetch_content() {
  local alt=$TESTHOSTS/apt-alt dl=$TESTHOSTS/apt-alt/debs out=$TESTHOSTS/content
  mkdir -p "$alt/state/lists/partial" "$alt/cache/archives/partial" "$alt/sources.list.d" "$alt/preferences.d" "$dl"
  : >"$alt/state/status"
  echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $MIRROR trixie main" >"$alt/sources.list"
  cat >"$alt/apt.conf" <<EOF
Dir::State "$alt/state";
Dir::State::lists "$alt/state/lists";
Dir::State::status "$alt/state/status";
Dir::Cache "$alt/cache";
Dir::Etc::sourcelist "$alt/sources.list";
Dir::Etc::sourceparts "$alt/sources.list.d";
Dir::Etc::preferences "$alt/preferences";
Dir::Etc::preferencesparts "$alt/preferences.d";
APT::Architecture "$(dpkg --print-architecture)";
Acquire::Languages "none";
Acquire::IndexTargets::deb::DEP-11::DefaultEnabled "false";
Acquire::IndexTargets::deb::DEP-11-icons::DefaultEnabled "false";
Acquire::IndexTargets::deb::DEP-11-icons-small::DefaultEnabled "false";
APT::Sandbox::User "root";
EOF
  log "fetching ssg-debian=$SSG_VERSION ssg-base=$SSG_VERSION from trixie (private apt config $alt/apt.conf)"
  APT_CONFIG=$alt/apt.conf apt-get -q update >&2
  (cd "$dl" && rm -f ./*.deb && APT_CONFIG=$alt/apt.conf apt-get -q download "ssg-debian=$SSG_VERSION" "ssg-base=$SSG_VERSION" >&2)
  rm -rf "$out" "$out.tmp"
  mkdir -p "$out.tmp/pkg"
  local d
  for d in "$dl"/*.deb; do dpkg-deb -x "$d" "$out.tmp/pkg"; done
  # content/ holds the datastreams and the other ssg files flat, the way an operator keeps them
  cp -a "$out.tmp/pkg/usr/share/xml/scap/ssg/content/." "$out.tmp/"
  rm -rf "$out.tmp/pkg"
  [ -f "$out.tmp/ssg-debian12-ds.xml" ] || die "ssg-debian $SSG_VERSION has no ssg-debian12-ds.xml"
  sha256sum "$out.tmp/ssg-debian12-ds.xml" | sed "s| .*/| |" >"$out.tmp/SHA256SUMS"
  echo "ssg-debian $SSG_VERSION (trixie) from $MIRROR" >"$out.tmp/SOURCE"
  mv "$out.tmp" "$out"
}

# --- the Debian 12 root ---------------------------------------------------------------------------
build_root() {
  local dest=$TESTHOSTS/root tmp=$TESTHOSTS/root.tmp cache=$TESTHOSTS/cache/debs
  if grep -qE " ($(readlink -f "$TESTHOSTS")/run[^ ]*|$(readlink -f "$dest"))[/ ]" /proc/mounts; then
    die "$dest is in use (mounts below it): run hosts.sh down first"
  fi
  if ls "$TESTHOSTS"/run*/hosts/*/pid >/dev/null 2>&1; then
    die "test hosts are running on $dest: run hosts.sh down first"
  fi
  rm -rf --one-file-system "$tmp"
  mkdir -p "$cache" "$tmp"
  log "debootstrap $SUITE ($ROOT_PKGS)"
  debootstrap --variant=minbase --cache-dir="$cache" --include="$ROOT_PKGS" "$SUITE" "$tmp" "$MIRROR" \
    >"$TESTHOSTS/debootstrap.log" 2>&1 || { tail -20 "$TESTHOSTS/debootstrap.log" >&2; die "debootstrap failed"; }

  echo "deb $MIRROR $SUITE main" >"$tmp/etc/apt/sources.list"
  echo debian12 >"$tmp/etc/hostname"
  printf '127.0.0.1 localhost\n127.0.1.1 debian12\n::1 localhost ip6-localhost ip6-loopback\n' >"$tmp/etc/hosts"
  # host keys are made per host (hosts.sh); never shared
  rm -f "$tmp"/etc/ssh/ssh_host_*
  mkdir -p "$tmp/etc/ssh/sshd_config.d" "$tmp/run/sshd"
  cat >"$tmp/etc/ssh/sshd_config.d/10-testhosts.conf" <<'EOF'
# hardenctl test hosts (scripts/testhosts/prepare.sh)
HostKey /etc/ssh/ssh_host_ed25519_key
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
UseDNS no
EOF
  # the admin path the tests use: a non-root user with passwordless sudo
  chroot "$tmp" useradd -m -s /bin/bash -c "hardenctl admin" hardenctl
  chroot "$tmp" usermod -p '*' hardenctl   # no password, but not "locked" for key logins
  echo 'hardenctl ALL=(ALL:ALL) NOPASSWD: ALL' >"$tmp/etc/sudoers.d/hardenctl"
  chmod 0440 "$tmp/etc/sudoers.d/hardenctl"
  mkdir -p -m 700 "$tmp/root/.ssh"
  # no package lists: a remediation's apt-get install fails at once instead of waiting on a
  # network the hosts do not have
  rm -rf "$tmp"/var/lib/apt/lists/* "$tmp"/var/cache/apt/*.bin "$tmp"/var/cache/apt/archives/*.deb
  rm -rf --one-file-system "$dest"
  mv "$tmp" "$dest"
}

rm -f "$STAMP"
build_root &
root_pid=$!
fetch_content &
content_pid=$!
rc=0
wait $root_pid || rc=$?
wait $content_pid || rc=$?
[ $rc = 0 ] || die "failed (see above)"

echo "$STAMP_VERSION" >"$STAMP"
t1=$(date +%s.%N)
printf 'prepare: done in %.1f s: root %s (%s packages, Debian %s), content %s\n' \
  "$(awk -v a="$t0" -v b="$t1" 'BEGIN{print b-a}')" \
  "$(du -sh --one-file-system "$TESTHOSTS/root" | cut -f1)" \
  "$(chroot "$TESTHOSTS/root" dpkg-query -W -f='.\n' | wc -l)" \
  "$(cat "$TESTHOSTS/root/etc/debian_version")" \
  "$TESTHOSTS/content/ssg-debian12-ds.xml" >&2
