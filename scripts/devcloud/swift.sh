#!/bin/bash
# hardenctl devcloud: the test bed's object store. A single-node Swift (proxy, account, container
# and object servers from Debian 12's python3-swift) with Keystone auth (keystonemiddleware
# authtoken + Swift's keystoneauth), one replica on a plain directory ($OSDEV/swift/node/d1,
# mount_check off), rings built with swift-ring-builder's code, registered in Keystone as
# object-store at http://127.0.0.1:8090/v1/AUTH_<project id>. Run as root. All state in $OSDEV.
#
#   bash swift.sh         add Swift to the test bed running in $OSDEV (idempotent: healthy ->
#                         "already up"; half-started or dead -> its own daemons restarted). It
#                         installs the packages if missing, joins the bed's mount namespace
#                         (/etc/swift, /var/lib/swift, /var/cache/swift masked there as up.sh masks
#                         the others), starts the four servers and registers them in Keystone.
#   swift.sh --job        up.sh's Swift job: already in up.sh's namespace, holding its lock.
#
# Logs: $LOG/swift-{proxy,account,container,object}.log; pid files $RUN/swift-*.pid (down.sh
# stops them with the rest); $RUN/swift.ready once a demo token can list its account.
set -euo pipefail
export PATH=/usr/sbin:/usr/bin:/sbin:/bin
export LC_ALL=C.UTF-8 PYTHONDONTWRITEBYTECODE=1

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
OSDEV=${OSDEV:-/tmp/hardenctl-devcloud}; OSDEV=${OSDEV%/}
ADMIN_PW=${ADMIN_PW:-admin} DEMO_PW=${DEMO_PW:-demo} SVC_PW=${SVC_PW:-servicepass}
SKIP_INSTALL=${SKIP_INSTALL:-0}
START_TIMEOUT=${START_TIMEOUT:-240}
export OSDEV ADMIN_PW DEMO_PW SVC_PW
ETC=$OSDEV/etc LOG=$OSDEV/log RUN=$OSDEV/run
SWIFT_ETC=$ETC/swift SWIFT_VAR=$OSDEV/swift
KS=http://127.0.0.1:5000
PROXY_PORT=8090   # not Swift's default 8080: kept apart from the platform mirror's 10.252.0.2:8080
OBJECT_PORT=6200 CONTAINER_PORT=6201 ACCOUNT_PORT=6202   # Swift's defaults
SWIFT_PORTS="$PROXY_PORT $OBJECT_PORT $CONTAINER_PORT $ACCOUNT_PORT"
SWIFT_PKGS="python3-swift python3-keystonemiddleware"
# what Swift must not need: masked in the bed's namespace like up.sh's $FOREIGN
SWIFT_FOREIGN="/etc/swift /var/lib/swift /var/cache/swift"
SERVERS="object container account proxy"
MODE=${1:-add}
T0=${DEVCLOUD_T0:-$(date +%s)}
step() { echo "[devcloud swift $(( $(date +%s) - T0 ))s] $*"; }
die() { echo "devcloud swift.sh: ERROR: $*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || die "must run as root"

starttime() { awk '{sub(/^.*\) /, ""); print $20}' /proc/$1/stat 2>/dev/null; }
alive() { local pid st; read -r pid st 2>/dev/null < "$RUN/$1.pid" || return 1; [ "$(starttime "$pid")" = "$st" ]; }
listening() { awk -v h="$(printf ':%04X' "$1")" '$4=="0A" && substr($2, length($2)-4)==h {f=1} END {exit !f}' /proc/net/tcp /proc/net/tcp6; }
http_code() { curl -s -m 5 -o /dev/null -w '%{http_code}' "$@"; }
demo_token() {
  curl -s -m 10 -i -X POST $KS/v3/auth/tokens -H 'Content-Type: application/json' -d '{"auth":{"identity":{"methods":["password"],"password":{"user":{"name":"demo","domain":{"id":"default"},"password":"'"$DEMO_PW"'"}}},"scope":{"project":{"name":"demo","domain":{"id":"default"}}}}}' |
    awk -F': ' 'tolower($1)=="x-subject-token"{print $2}' | tr -d '\r'
}
demo_project() { curl -s -m 10 -H "X-Auth-Token: $1" -H "X-Subject-Token: $1" $KS/v3/auth/tokens | jq -r '.token.project.id // empty'; }
# healthy: all four recorded and alive, the proxy's healthcheck answers, a demo token lists its account
healthy() {
  local s tok proj
  for s in $SERVERS; do alive swift-$s || return 1; done
  [ "$(http_code http://127.0.0.1:$PROXY_PORT/healthcheck)" = 200 ] || return 1
  tok=$(demo_token); [ -n "$tok" ] || return 1
  proj=$(demo_project "$tok"); [ -n "$proj" ] || return 1
  case $(http_code -H "X-Auth-Token: $tok" "http://127.0.0.1:$PROXY_PORT/v1/AUTH_$proj") in 2??) return 0;; esac
  return 1
}

# ------------------------------------------------------------------ add to a running bed
if [ "$MODE" = add ]; then
  if [ -z "${DEVCLOUD_LOCKED:-}" ]; then
    exec 9>"$OSDEV.lock"
    flock -w 900 9 || die "another up.sh/down.sh/swift.sh holds $OSDEV.lock for 15 min"
  fi
  [ -e "$RUN/up.done" ] || die "no test bed is up in $OSDEV (up.sh starts one, with Swift)"
  [ "$(http_code $KS/v3)" = 200 ] || die "keystone does not answer on $KS/v3"
  if healthy; then
    step "already up: http://127.0.0.1:$PROXY_PORT (registering in Keystone again)"
    /usr/bin/python3 "$HERE/py/devcloud_data.py" swift
    exit 0
  fi
  if [ "$SKIP_INSTALL" != 1 ]; then
    # shellcheck disable=SC2086
    n_ok=$(dpkg-query -W -f='${db:Status-Abbrev}\n' $SWIFT_PKGS 2>/dev/null | grep -c '^ii ' || true)
    if [ "$n_ok" != "$(echo $SWIFT_PKGS | wc -w)" ]; then
      step "apt-get install $SWIFT_PKGS"
      export DEBIAN_FRONTEND=noninteractive
      if [ ! -e /usr/sbin/policy-rc.d ]; then
        printf '#!/bin/sh\n# hardenctl devcloud: no service starts from maintainer scripts\nexit 101\n' > /usr/sbin/policy-rc.d
        chmod +x /usr/sbin/policy-rc.d
        trap 'rm -f /usr/sbin/policy-rc.d' EXIT
      fi
      APT="apt-get -o DPkg::Lock::Timeout=900 -o Acquire::Retries=3"
      # shellcheck disable=SC2086
      $APT install -y -qq --no-install-recommends $SWIFT_PKGS > /tmp/hardenctl-devcloud-swift-apt.log 2>&1 ||
        { $APT update -qq && $APT install -y -qq --no-install-recommends $SWIFT_PKGS > /tmp/hardenctl-devcloud-swift-apt.log 2>&1; } ||
        { tail -n 30 /tmp/hardenctl-devcloud-swift-apt.log >&2; die "apt-get install failed"; }
      rm -f /usr/sbin/policy-rc.d; trap - EXIT
    fi
  fi
  # the bed's mount namespace: that of a live daemon up.sh recorded (status.sh checks Swift's there too)
  if [ -f "$RUN/isolated" ]; then
    ns=$(awk '$1=="mnt" {print $2}' "$RUN/isolated") nspid=""
    for f in "$RUN"/*.pid; do
      n=$(basename "$f" .pid); case $n in swift-*) continue;; esac
      alive "$n" || continue
      read -r pid _ < "$f"
      [ "$(readlink /proc/$pid/ns/mnt)" = "$ns" ] && { nspid=$pid; break; }
    done
    [ -n "$nspid" ] || die "no live daemon of the test bed in its mount namespace $ns (status.sh says more)"
    step "joining the test bed's mount namespace $ns (through pid $nspid)"
    exec env DEVCLOUD_T0="$T0" nsenter --mount=/proc/$nspid/ns/mnt -- bash "$HERE/swift.sh" --join
  fi
  step "the test bed is not isolated (DEVCLOUD_ISOLATE=0): starting Swift in this mount namespace"
  MODE=--join
fi

case $MODE in
  --join|--job) ;;
  *) die "usage: swift.sh [--job]" ;;
esac

# ------------------------------------------------------------------ in the bed's namespace
if [ "$MODE" = --join ] && [ -f "$RUN/isolated" ]; then
  # mask Swift's system directories as up.sh masks the others (unless up.sh already did)
  for d in $SWIFT_FOREIGN; do
    grep -qE "^(empty|absent) $d\$" "$RUN/isolated" && continue
    if [ -d "$d" ]; then
      mount --make-slave "$(findmnt -n -o TARGET -T "$d")"
      mount -t tmpfs -o ro,nosuid,nodev,mode=755,size=16k hardenctl-devcloud-empty "$d" ||
        die "cannot mount an empty tmpfs on $d"
      echo "empty $d" >> "$RUN/isolated"
    else
      echo "absent $d" >> "$RUN/isolated"
    fi
  done
  step "in mount namespace $(readlink /proc/self/ns/mnt): $(grep -E " /(etc|var/lib|var/cache)/swift\$" "$RUN/isolated" | tr '\n' ' ')"
fi

# a restart: stop Swift's own recorded process groups (never the rest of the bed)
for s in $SERVERS; do
  if alive swift-$s; then read -r pid _ < "$RUN/swift-$s.pid"; kill -TERM -- -"$pid" 2>/dev/null || true; fi
done
for i in $(seq 1 20); do
  left=0; for s in $SERVERS; do alive swift-$s && left=1; done
  [ $left = 0 ] && break; sleep 0.25
done
for s in $SERVERS; do
  if alive swift-$s; then read -r pid _ < "$RUN/swift-$s.pid"; kill -KILL -- -"$pid" 2>/dev/null || true; fi
  rm -f "$RUN/swift-$s.pid"
done
rm -f "$RUN/swift.ready"
for p in $SWIFT_PORTS; do
  listening "$p" && die "port $p is already in use (Swift needs $SWIFT_PORTS)"
done

# ------------------------------------------------------------------ configuration
step "configuration in $SWIFT_ETC, storage in $SWIFT_VAR/node/d1"
mkdir -p "$SWIFT_ETC" "$SWIFT_VAR/node/d1" "$SWIFT_VAR/cache" "$SWIFT_VAR/lock" "$LOG" "$RUN"
# the hash path suffix decides where objects live: made once, kept across restarts
if [ ! -s "$SWIFT_ETC/swift.conf" ]; then
  cat > "$SWIFT_ETC/swift.conf" <<EOF
[swift-hash]
swift_hash_path_suffix = $(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')
swift_hash_path_prefix = hardenctl-devcloud
[storage-policy:0]
name = Policy-0
default = yes
EOF
fi
server_conf() { # type port
  cat <<EOF
[DEFAULT]
bind_ip = 127.0.0.1
bind_port = $2
workers = 0
user = root
swift_dir = $SWIFT_ETC
devices = $SWIFT_VAR/node
mount_check = false
disable_fallocate = true
log_name = swift-$1
recon_cache_path = $SWIFT_VAR/cache
[pipeline:main]
pipeline = $1-server
[app:$1-server]
use = egg:swift#$1
EOF
}
server_conf object $OBJECT_PORT > "$SWIFT_ETC/object-server.conf"
server_conf container $CONTAINER_PORT > "$SWIFT_ETC/container-server.conf"
server_conf account $ACCOUNT_PORT > "$SWIFT_ETC/account-server.conf"
# no replicators, auditors, updaters: one replica on a short-lived bed (an object's container
# listing is updated by the object server itself; only account totals lag without the updater)
cat > "$SWIFT_ETC/proxy-server.conf" <<EOF
[DEFAULT]
bind_ip = 127.0.0.1
bind_port = $PROXY_PORT
workers = 0
user = root
swift_dir = $SWIFT_ETC
log_name = swift-proxy
[pipeline:main]
pipeline = catch_errors gatekeeper healthcheck proxy-logging listing_formats authtoken keystoneauth copy dlo slo proxy-logging proxy-server
[app:proxy-server]
use = egg:swift#proxy
account_autocreate = true
[filter:authtoken]
paste.filter_factory = keystonemiddleware.auth_token:filter_factory
www_authenticate_uri = $KS
auth_url = $KS
auth_type = password
project_domain_id = default
user_domain_id = default
project_name = service
username = swift
password = $SVC_PW
delay_auth_decision = true
[filter:keystoneauth]
use = egg:swift#keystoneauth
operator_roles = admin, member
reseller_admin_role = ResellerAdmin
[filter:catch_errors]
use = egg:swift#catch_errors
[filter:gatekeeper]
use = egg:swift#gatekeeper
[filter:healthcheck]
use = egg:swift#healthcheck
[filter:proxy-logging]
use = egg:swift#proxy_logging
[filter:listing_formats]
use = egg:swift#listing_formats
[filter:copy]
use = egg:swift#copy
[filter:dlo]
use = egg:swift#dlo
[filter:slo]
use = egg:swift#slo
EOF

launch() { # name log args...: swift_server.py with swift.conf and the log in $OSDEV
  local log=$1; shift
  SWIFT_DIR=$SWIFT_ETC SWIFT_LOG=$LOG/$log.log /usr/bin/python3 "$HERE/py/swift_server.py" "$@"
}
# rings: 2^8 partitions, one replica, one device each; built once (kept with the data)
for r in object:$OBJECT_PORT container:$CONTAINER_PORT account:$ACCOUNT_PORT; do
  ring=${r%%:*} port=${r#*:}
  [ -s "$SWIFT_ETC/$ring.ring.gz" ] && continue
  rm -f "$SWIFT_ETC/$ring.builder"
  { launch swift-ring-builder ring-builder "$SWIFT_ETC/$ring.builder" create 8 1 0 &&
    launch swift-ring-builder ring-builder "$SWIFT_ETC/$ring.builder" add "r1z1-127.0.0.1:$port/d1" 100 &&
    launch swift-ring-builder ring-builder "$SWIFT_ETC/$ring.builder" rebalance; } \
    >> "$LOG/swift-ring-builder.out" 2>&1 ||
    { tail -n 20 "$LOG/swift-ring-builder.out" >&2; die "swift-ring-builder for the $ring ring failed"; }
done

# ------------------------------------------------------------------ start, register, wait
start() { # server: own session, pid + start time recorded, marked for down.sh (as up.sh's start)
  SWIFT_DIR=$SWIFT_ETC SWIFT_LOG=$LOG/swift-$1.log setsid env HARDENCTL_DEVCLOUD="$OSDEV" \
    PYTHONPATH="$HERE/py" PYTHONDONTWRITEBYTECODE=1 \
    /usr/bin/python3 "$HERE/py/swift_server.py" "$1-server" "$SWIFT_ETC/$1-server.conf" \
    > "$LOG/swift-$1.out" 2>&1 < /dev/null 9>&- &
  local pid=$!
  echo "$pid $(starttime $pid)" > "$RUN/swift-$1.pid"
}
fail() {
  local s f
  echo "devcloud swift.sh: ERROR: $*" >&2
  for s in $SERVERS; do
    for f in "$LOG/swift-$s.log" "$LOG/swift-$s.out"; do
      [ -s "$f" ] && { echo "----- tail of $f" >&2; tail -n 15 "$f" >&2; }
    done
  done
  echo "(the processes are left running for inspection; swift.sh or down.sh cleans up)" >&2
  exit 1
}
step "starting swift-object, -container, -account, -proxy"
for s in $SERVERS; do start $s; done
wait_swift() { # what seconds cmd...
  local what=$1 t=$2 i s; shift 2
  for ((i = 0; i < t * 4; i++)); do
    "$@" >/dev/null 2>&1 && return 0
    if [ $((i % 4)) = 0 ]; then for s in $SERVERS; do alive swift-$s || fail "swift-$s died"; done; fi
    sleep 0.25
  done
  fail "$what not ready after ${t}s"
}
for p in $SWIFT_PORTS; do wait_swift "port $p" "$START_TIMEOUT" listening "$p"; done
proxy_up() { [ "$(http_code http://127.0.0.1:$PROXY_PORT/healthcheck)" = 200 ]; }
wait_swift "the proxy's healthcheck" "$START_TIMEOUT" proxy_up
step "registering object-store in Keystone"
/usr/bin/python3 "$HERE/py/devcloud_data.py" swift > "$LOG/swift-identity.out" 2>&1 ||
  { cat "$LOG/swift-identity.out" >&2; fail "keystone registration failed"; }
cat "$LOG/swift-identity.out"
wait_swift "an authenticated account listing" 60 healthy
date -u +%FT%TZ > "$RUN/swift.ready"
step "swift up: http://127.0.0.1:$PROXY_PORT/v1/AUTH_<project id> (object-store in Keystone)"
