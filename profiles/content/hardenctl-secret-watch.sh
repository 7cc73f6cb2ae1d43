#!/bin/sh
# hardenctl-secret-watch: keep an auditd watch on every tmpfs mount whose path contains PATTERN
# (kubelet mounts secrets at .../volumes/kubernetes.io~secret/NAME), adding the rule when the
# secret is mounted and removing it when it is unmounted. Installed by `hardenctl harden`.
#
# usage: hardenctl-secret-watch [PATTERN [KEY]]
pattern=${1:-~secret}
key=${2:-hardenctl_secret}

log() { echo "hardenctl-secret-watch: $*" >&2; }

# findmnt -r escapes blanks and backslashes as \xNN; decode them for auditctl.
decode() { printf '%s\n' "$1" | sed -e 's/\\x20/ /g' -e 's/\\x09/\t/g' -e 's/\\x0a/\n/g' -e 's/\\x5c/\\/g'; }

watch() {
	if auditctl -w "$1" -p rwa -k "$key" >/dev/null 2>&1; then
		log "watching $1"
	else
		log "auditctl -w $1 failed: $(auditctl -w "$1" -p rwa -k "$key" 2>&1)"
	fi
}

unwatch() {
	auditctl -W "$1" -p rwa -k "$key" >/dev/null 2>&1 && log "stopped watching $1"
}

matches() {
	case "$1" in *"$pattern"*) return 0 ;; esac
	return 1
}

log "started (pattern \"$pattern\", key $key)"
# The mounts that exist already.
findmnt -rn -t tmpfs -o TARGET | while read -r t; do
	t=$(decode "$t")
	matches "$t" && watch "$t"
done
# Then every change, as it happens.
findmnt --poll -rn -t tmpfs -o ACTION,TARGET | while read -r action t; do
	t=$(decode "$t")
	matches "$t" || continue
	case "$action" in
	mount | remount) watch "$t" ;;
	umount) unwatch "$t" ;;
	esac
done
log "findmnt --poll ended"
exit 1
