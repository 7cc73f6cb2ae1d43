#!/bin/bash
# hardenctl devcloud: a small real OpenStack Zed (Debian 12 packages) on 127.0.0.1 for the
# integration tests. Keystone + Glance (file store) + Neutron (ML2, no agents) + Placement +
# Nova (fake virt driver) + Swift (swift.sh) + MariaDB + RabbitMQ. Run as root. All state
# lives in $OSDEV.
#
# Idempotent: if the test bed in $OSDEV is healthy (status.sh), it says so and exits 0;
# if $OSDEV exists but is not healthy, it runs down.sh first and starts afresh.
# The services start in a mount namespace where the system's OpenStack directories (/etc/nova,
# /var/lib/nova, ...) are empty: the test bed proves on every start that it needs nothing there.
# See README.md for ports, accounts, knobs and timings.
set -euo pipefail
export PATH=/usr/sbin:/usr/bin:/sbin:/bin   # Debian's python3, not a pyenv shim / venv
export LC_ALL=C.UTF-8 PYTHONDONTWRITEBYTECODE=1

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
OSDEV=${OSDEV:-/tmp/hardenctl-devcloud}
OSDEV=${OSDEV%/}
SKIP_INSTALL=${SKIP_INSTALL:-0}
ADMIN_PW=${ADMIN_PW:-admin}
DEMO_PW=${DEMO_PW:-demo}
SVC_PW=${SVC_PW:-servicepass}
DB_PW=${DB_PW:-dbpass}
NOVA_HOST=${NOVA_HOST:-devcloud}
COMPUTE_DRIVER=${COMPUTE_DRIVER:-hardenctl_virt.HardenctlDriver}   # servers are real hosts (py/hardenctl_virt.py)
START_TIMEOUT=${START_TIMEOUT:-240}
ISOLATE=${DEVCLOUD_ISOLATE:-1}   # 0: start in the caller's mount namespace (to compare; no proof)
# what the services must not need: empty read-only tmpfs over each that exists, absent stays absent
FOREIGN="/etc/keystone /etc/nova /etc/neutron /etc/glance /etc/placement /etc/swift
/var/lib/keystone /var/lib/nova /var/lib/neutron /var/lib/glance /var/lib/swift /var/cache/swift"
export OSDEV ADMIN_PW DEMO_PW SVC_PW

ETC=$OSDEV/etc LOG=$OSDEV/log RUN=$OSDEV/run BIN=$OSDEV/bin
KS=http://127.0.0.1:5000
RABBIT_URL=rabbit://guest:guest@127.0.0.1:5672/
PORTS="3306 5672 4369 25672 5000 8774 8778 9292 9696 8090 6200 6201 6202"   # the last four: swift.sh
PKGS="python3-keystone python3-glance python3-neutron python3-placement python3-nova
python3-swift python3-keystonemiddleware python3-openstackclient python3-pymysql mariadb-server rabbitmq-server uwsgi-core
uwsgi-plugin-python3 curl jq"
IN_NS=${DEVCLOUD_NS:-} T0=${DEVCLOUD_T0:-$(date +%s)}   # set by section 2b for its second run
unset DEVCLOUD_NS DEVCLOUD_T0
step() { echo "[devcloud $(( $(date +%s) - T0 ))s] $*"; }
die() { echo "devcloud up.sh: ERROR: $*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || die "must run as root"

# Sections 0-2 run in the caller's mount namespace; then up.sh runs itself again, in the
# namespace of section 2b (DEVCLOUD_NS=1), from section 3 on. It keeps the lock (fd 9).
if [ -z "$IN_NS" ]; then
# One up.sh/down.sh per state dir at a time: a second caller waits, then finds it healthy.
exec 9>"$OSDEV.lock"
flock -w 900 9 || die "another up.sh/down.sh holds $OSDEV.lock for 15 min (fuser -v $OSDEV.lock)"

# ------------------------------------------------------------------ 0. already up?
if [ -e "$OSDEV" ]; then
  if [ -e "$RUN/up.done" ] && bash "$HERE/status.sh" -q; then
    if [ ! -e "$RUN/swift.ready" ]; then   # a bed from before Swift: add it, keep the rest
      step "healthy, but without Swift: adding it (swift.sh)"
      DEVCLOUD_LOCKED=1 DEVCLOUD_T0="$T0" bash "$HERE/swift.sh" || die "swift.sh failed (see above)"
    fi
    echo "devcloud: already up and healthy in $OSDEV ($(( $(date +%s) - T0 ))s)"
    [ -f "$RUN/isolated" ] || [ "$ISOLATE" != 1 ] || echo "devcloud: WARNING: this test bed was started" \
      "outside the mount namespace (older up.sh or DEVCLOUD_ISOLATE=0): it proves nothing about /etc/nova" \
      "etc.; down.sh + up.sh start it with the proof" >&2
    echo "export OS_CLIENT_CONFIG_FILE=$OSDEV/clouds.yaml   # or: . $OSDEV/openrc-demo"
    exit 0
  fi
  step "$OSDEV exists but is not healthy: running down.sh first"
  DEVCLOUD_LOCKED=1 bash "$HERE/down.sh"
fi

# ------------------------------------------------------------------ 1. packages
if [ "$SKIP_INSTALL" != 1 ]; then
  # another apt/dpkg (e.g. a background install of the same packages) may be running: wait for it
  apt_busy() { local p; for p in /proc/[0-9]*; do
      case "$(cat $p/comm 2>/dev/null)" in apt|apt-get|dpkg|unattended-upgr) echo "${p#/proc/}"; return 0;; esac
    done; return 1; }
  if b=$(apt_busy); then
    step "waiting for running apt/dpkg (pid $b: $(tr '\0' ' ' < /proc/$b/cmdline 2>/dev/null | cut -c1-80))"
    for i in $(seq 1 900); do apt_busy >/dev/null || break; sleep 1; done
  fi
  # shellcheck disable=SC2086
  n_ok=$(dpkg-query -W -f='${db:Status-Abbrev}\n' $PKGS 2>/dev/null | grep -c '^ii ' || true)
  if [ "$n_ok" != "$(echo $PKGS | wc -w)" ]; then
    step "apt-get update + install"
    export DEBIAN_FRONTEND=noninteractive
    # postinst scripts must not start the system mariadb/rabbitmq: we run our own copies
    if [ ! -e /usr/sbin/policy-rc.d ]; then
      printf '#!/bin/sh\n# hardenctl devcloud: no service starts from maintainer scripts\nexit 101\n' > /usr/sbin/policy-rc.d
      chmod +x /usr/sbin/policy-rc.d
      trap 'rm -f /usr/sbin/policy-rc.d' EXIT
    fi
    APT="apt-get -o DPkg::Lock::Timeout=900 -o Acquire::Retries=3"
    $APT update -qq || { sleep 20; $APT update -qq; }
    # shellcheck disable=SC2086
    $APT install -y -qq --no-install-recommends $PKGS > /tmp/hardenctl-devcloud-apt.log 2>&1 ||
      { tail -n 30 /tmp/hardenctl-devcloud-apt.log >&2; die "apt-get install failed"; }
    rm -f /usr/sbin/policy-rc.d; trap - EXIT
  fi
fi

# ------------------------------------------------------------------ 2. ports free?
port_owner() { # port -> "pid (command)" of the listener, if it can be found
  local hex ino p
  hex=$(printf ':%04X' "$1")
  for ino in $(awk -v h="$hex" '$4=="0A" && substr($2, length($2)-4)==h {print $10}' /proc/net/tcp /proc/net/tcp6); do
    p=$(find /proc/[0-9]*/fd -lname "socket:\[$ino\]" 2>/dev/null | head -n1 | cut -d/ -f3)
    [ -n "$p" ] && { echo "pid $p ($(tr '\0' ' ' < /proc/$p/cmdline | cut -c1-100))"; return; }
  done
  echo "unknown process"
}
listening() { awk -v h="$(printf ':%04X' "$1")" '$4=="0A" && substr($2, length($2)-4)==h {f=1} END {exit !f}' /proc/net/tcp /proc/net/tcp6; }
busy=0
for p in $PORTS; do
  listening "$p" || continue
  owner=$(port_owner "$p")
  if [ "$p" = 4369 ] && [[ $owner == *epmd* ]]; then
    echo "devcloud: note: port 4369 is served by an existing epmd ($owner); rabbitmq will share it"
    continue
  fi
  echo "devcloud up.sh: port $p is already in use by $owner" >&2; busy=1
done
[ $busy = 0 ] || die "ports needed by the test bed are taken (see above); stop those processes or run down.sh for their OSDEV"

# ------------------------------------------------------------------ 2b. a namespace of its own
# Every daemon is started in a mount namespace where $FOREIGN are empty read-only tmpfs mounts
# (or absent, as on a fresh machine), and keeps it for its life: a service that reads its
# configuration, policy, paste file, rootwrap/privsep set-up or state from there fails to start
# here, and one that writes there gets EROFS. status.sh checks every recorded daemon is in it.
if [ "$ISOLATE" = 1 ]; then
  # The one mount both sides share both ways: ip netns's directory (made shared as `ip netns add`
  # itself does), so the namespaces of the testhosts bridge and of the servers nova-compute
  # starts are seen on both sides. Everything else is copied; nothing mounted inside leaks out.
  mkdir -p /run/netns
  mountpoint -q /run/netns || mount --bind /run/netns /run/netns
  mount --make-shared /run/netns
  exec env DEVCLOUD_NS=1 DEVCLOUD_T0="$T0" unshare --mount --propagation unchanged -- bash "$HERE/up.sh"
fi
fi   # end of sections 0-2

if [ -n "$IN_NS" ]; then
  empty="" absent=""
  # nothing mounted on the root file system in here shows outside, even where / is shared (systemd)
  mount --make-slave /
  # also oslo.config's default config dirs beside them (parsed even with --config-file), if any
  for d in $FOREIGN /etc/{keystone,nova,neutron,glance,placement,uwsgi}*.conf.d \
           ${HOME:-/root}/.{keystone,nova,neutron,glance,placement}; do
    case $d in *'*'*) continue;; esac   # a glob that matched nothing
    if [ -d "$d" ]; then
      # likewise the mount holding $d, if it is not /; /run/netns keeps its own propagation
      mount --make-slave "$(findmnt -n -o TARGET -T "$d")"
      mount -t tmpfs -o ro,nosuid,nodev,mode=755,size=16k hardenctl-devcloud-empty "$d" ||
        die "cannot mount an empty tmpfs on $d"
      empty+=" $d"
    elif [[ " "$FOREIGN" " == *[[:space:]]"$d"[[:space:]]* ]]; then
      absent+=" $d"
    fi
  done
fi

# ------------------------------------------------------------------ 3. state dir, helpers
step "starting in $OSDEV"
mkdir -p $ETC/{keystone,glance,neutron/plugins/ml2,placement,nova} $LOG $RUN $BIN \
  $OSDEV/keystone $OSDEV/glance/{images,staging,lock} $OSDEV/neutron/lock \
  $OSDEV/nova/{instances,lock} $OSDEV/rabbit $OSDEV/mysql
if [ -n "$IN_NS" ]; then   # for status.sh: the namespace and what is empty/absent in it
  { echo "mnt $(readlink /proc/self/ns/mnt)"
    for d in $empty; do echo "empty $d"; done
    for d in $absent; do echo "absent $d"; done; } > $RUN/isolated
  step "in mount namespace $(readlink /proc/self/ns/mnt): empty:${empty:- none}; absent:${absent:- none}"
fi

PYPATH=$HERE/py
starttime() { awk '{sub(/^.*\) /, ""); print $20}' /proc/$1/stat 2>/dev/null; }
# start a daemon in its own session (= process group). The pid and its start time are recorded
# for down.sh; every process also carries HARDENCTL_DEVCLOUD=$OSDEV in its environment, so
# down.sh can recognise (only) the processes started here, e.g. the epmd erl daemonises.
start() { # name cmd...
  local name=$1; shift
  setsid env HARDENCTL_DEVCLOUD="$OSDEV" PYTHONPATH="$PYPATH" PYTHONDONTWRITEBYTECODE=1 \
    "$@" > "$LOG/$name.out" 2>&1 < /dev/null 9>&- &   # 9 = the lock: daemons must not hold it
  local pid=$!
  echo "$pid $(starttime $pid)" > "$RUN/$name.pid"
}
alive() { local pid st; read -r pid st < "$RUN/$1.pid" 2>/dev/null || return 1; [ "$(starttime "$pid")" = "$st" ]; }
all_alive() { # fail as soon as any started service has died
  local f n
  for f in "$RUN"/*.pid; do
    [ -e "$f" ] || continue; n=$(basename "$f" .pid)
    alive "$n" || fail "$n" "process died"
  done
}
tail_logs() { # name: print the end of the service's logs
  local f
  for f in "$LOG/$1.log" "$LOG/$1.err" "$LOG/$1.out"; do
    [ -s "$f" ] || continue
    echo "----- tail of $f" >&2; tail -n 25 "$f" >&2
  done
}
fail() { # name message
  echo "devcloud up.sh: ERROR: $1: $2" >&2; tail_logs "$1"
  echo "(the processes are left running for inspection; up.sh or down.sh cleans up)" >&2
  touch "$RUN/failed"; exit 1
}
run() { # name cmd...: a set-up command, output to $LOG/name.out
  local name=$1; shift
  "$@" > "$LOG/$name.out" 2>&1 || fail "$name" "'$*' failed"
}
wait_until() { # name seconds cmd...: wait for cmd to succeed while service `name` is alive
  local name=$1 t=$2 i; shift 2
  for ((i = 0; i < t * 4; i++)); do
    "$@" >/dev/null 2>&1 && return 0
    [ -e "$RUN/failed" ] && exit 1
    [ $((i % 4)) = 0 ] && all_alive
    sleep 0.25
  done
  fail "$name" "not ready after ${t}s ($*)"
}
http_up() { curl -s -m 5 -o /dev/null "$1"; }
tcp_up() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
wait_file() { # file: wait for another job's milestone
  local i
  for ((i = 0; i < START_TIMEOUT * 4; i++)); do
    [ -e "$1" ] && return 0; [ -e "$RUN/failed" ] && exit 1
    [ $((i % 4)) = 0 ] && all_alive
    sleep 0.25
  done
  fail "$(basename "$1" .ready)" "milestone $1 not reached"
}
dburl() { echo "mysql+pymysql://openstack:$DB_PW@127.0.0.1/$1?charset=utf8"; }

# console scripts of the service packages we do not install (only the python3-* libraries are)
mk_launcher() { # name module
  printf '#!/usr/bin/python3\nimport sys\nfrom %s import main\nsys.argv[0] = "%s"\nsys.exit(main())\n' "$2" "$1" > "$BIN/$1"
  chmod +x "$BIN/$1"
}
mk_launcher glance-api        glance.cmd.api
mk_launcher glance-manage     glance.cmd.manage
mk_launcher neutron-server    neutron.cmd.eventlet.server
mk_launcher neutron-db-manage neutron.db.migration.cli
mk_launcher nova-api          nova.cmd.api
mk_launcher nova-conductor    nova.cmd.conductor
mk_launcher nova-scheduler    nova.cmd.scheduler
mk_launcher nova-manage       nova.cmd.manage

# ------------------------------------------------------------------ 4. configuration files
authtoken() { # service-user
  cat <<EOF
[keystone_authtoken]
www_authenticate_uri = $KS
auth_url = $KS
auth_type = password
project_domain_name = Default
user_domain_name = Default
project_name = service
username = $1
password = $SVC_PW
EOF
}
# oslo.policy looks for policy.yaml and policy.d/ beside the config files, then in /etc/<project>/
# and /etc/: each service gets its own (no rules = the built-in defaults), by absolute path
policy() { # service
  mkdir -p $ETC/$1/policy.d
  echo '{}' > $ETC/$1/policy.yaml
  printf '[oslo_policy]\npolicy_file = %s\npolicy_dirs = %s\n' $ETC/$1/policy.yaml $ETC/$1/policy.d
}
service_auth() { # section user
  cat <<EOF
[$1]
auth_url = $KS
auth_type = password
project_domain_name = Default
user_domain_name = Default
project_name = service
username = $2
password = $SVC_PW
region_name = RegionOne
EOF
}

cat > $ETC/keystone/keystone.conf <<EOF
[DEFAULT]
log_file = $LOG/keystone.log
[database]
connection = $(dburl keystone)
[token]
provider = fernet
expiration = 86400
[fernet_tokens]
key_repository = $OSDEV/keystone/fernet-keys
# the receipt provider has a key repository of its own (default /etc/keystone/fernet-keys/,
# which a fresh machine does not have): bootstrap fails without it
[fernet_receipts]
key_repository = $OSDEV/keystone/fernet-keys
[credential]
key_repository = $OSDEV/keystone/credential-keys
[identity]
password_hash_rounds = 4
$(policy keystone)
EOF

cat > $ETC/glance/glance-api.conf <<EOF
[DEFAULT]
bind_host = 127.0.0.1
bind_port = 9292
workers = 0
log_file = $LOG/glance-api.log
node_staging_uri = file://$OSDEV/glance/staging
[database]
connection = $(dburl glance)
[glance_store]
stores = file,http
default_store = file
filesystem_store_datadir = $OSDEV/glance/images/
[paste_deploy]
flavor = keystone
config_file = $HERE/etc/glance-api-paste.ini
[oslo_concurrency]
lock_path = $OSDEV/glance/lock
$(policy glance)
$(authtoken glance)
EOF
# glance looks for it beside its config file, else in /etc/glance/ and /etc/: no custom properties
echo '{}' > $ETC/glance/schema-image.json

cat > $ETC/placement/placement.conf <<EOF
[DEFAULT]
log_file = $LOG/placement.log
[placement_database]
connection = $(dburl placement)
[api]
auth_strategy = keystone
[placement]
policy_file = $ETC/placement/policy.yaml
$(policy placement)
$(authtoken placement)
EOF

cat > $ETC/neutron/neutron.conf <<EOF
[DEFAULT]
bind_host = 127.0.0.1
bind_port = 9696
core_plugin = ml2
service_plugins = router
auth_strategy = keystone
allow_overlapping_ips = true
transport_url = $RABBIT_URL
notify_nova_on_port_status_changes = false
notify_nova_on_port_data_changes = false
api_workers = 0
rpc_workers = 0
rpc_state_report_workers = 0
api_paste_config = $HERE/etc/neutron-api-paste.ini
state_path = $OSDEV/neutron
log_file = $LOG/neutron-server.log
[database]
connection = $(dburl neutron)
[oslo_concurrency]
lock_path = $OSDEV/neutron/lock
[quotas]
quota_network = 1000
quota_subnet = 1000
quota_port = 5000
quota_router = 1000
quota_floatingip = 1000
quota_security_group = 1000
quota_security_group_rule = 10000
$(policy neutron)
$(authtoken neutron)
EOF
cat > $ETC/neutron/plugins/ml2/ml2_conf.ini <<EOF
[ml2]
type_drivers = flat,vlan,vxlan
tenant_network_types = vxlan
mechanism_drivers = hardenctl_noop
extension_drivers = port_security
[ml2_type_flat]
flat_networks = public
[ml2_type_vxlan]
vni_ranges = 1:1000
[securitygroup]
enable_security_group = true
EOF

# own compute driver: COMPUTE_DRIVER=<module>.<Class> with <module>.py in scripts/devcloud/py
compute_modules=""
drv_mod=${COMPUTE_DRIVER%%.*}
[ -e "$PYPATH/$drv_mod.py" ] && compute_modules=$drv_mod
cat > $ETC/nova/nova.conf <<EOF
[DEFAULT]
host = $NOVA_HOST
my_ip = 127.0.0.1
transport_url = $RABBIT_URL
compute_driver = $COMPUTE_DRIVER
state_path = $OSDEV/nova
instances_path = $OSDEV/nova/instances
enabled_apis = osapi_compute
osapi_compute_listen = 127.0.0.1
osapi_compute_listen_port = 8774
osapi_compute_workers = 1
[wsgi]
api_paste_config = $HERE/etc/nova-api-paste.ini
[conductor]
workers = 1
[scheduler]
workers = 1
discover_hosts_in_cells_interval = -1
$(service_auth neutron neutron)
$(service_auth placement placement)
[oslo_concurrency]
lock_path = $OSDEV/nova/lock
[vnc]
enabled = false
[compute]
provider_config_location = $ETC/nova/provider_config/
[quota]
instances = 1000
cores = 10000
ram = 10240000
$(policy nova)
$(authtoken nova)
EOF
mkdir -p $ETC/nova/provider_config
# nova's vendor strings: found beside the config files, else /etc/nova/release or /etc/release
printf '[Nova]\n' > $ETC/nova/release
# DB settings in a separate file: nova-compute must not see them ("No DB access allowed")
cat > $ETC/nova/nova-db.conf <<EOF
[api_database]
connection = $(dburl nova_api)
[database]
connection = $(dburl nova)
EOF

cat > $ETC/rabbitmq.conf <<EOF
listeners.tcp.default = 127.0.0.1:5672
loopback_users.guest = true
EOF
echo '[].' > $ETC/rabbitmq-enabled-plugins

cat > $OSDEV/clouds.yaml <<EOF
clouds:
  admin:
    auth: {auth_url: '$KS/v3', username: admin, password: '$ADMIN_PW', project_name: admin,
           user_domain_name: Default, project_domain_name: Default}
    region_name: RegionOne
    identity_api_version: 3
  demo:
    auth: {auth_url: '$KS/v3', username: demo, password: '$DEMO_PW', project_name: demo,
           user_domain_name: Default, project_domain_name: Default}
    region_name: RegionOne
    identity_api_version: 3
EOF
for u in admin demo; do
  pw=$ADMIN_PW; [ $u = demo ] && pw=$DEMO_PW
  cat > $OSDEV/openrc-$u <<EOF
export OS_AUTH_URL=$KS/v3
export OS_IDENTITY_API_VERSION=3
export OS_USERNAME=$u
export OS_PASSWORD=$pw
export OS_PROJECT_NAME=$u
export OS_USER_DOMAIN_NAME=Default
export OS_PROJECT_DOMAIN_NAME=Default
export OS_REGION_NAME=RegionOne
EOF
done

# ------------------------------------------------------------------ 5. mariadb + rabbitmq
step "mariadb, rabbitmq"
run mariadb-install mariadb-install-db --no-defaults --datadir=$OSDEV/mysql/data --user=root \
  --skip-test-db --auth-root-authentication-method=socket
start mariadb mariadbd --no-defaults --datadir=$OSDEV/mysql/data --socket=$OSDEV/mysql/mysqld.sock \
  --pid-file=$OSDEV/mysql/mysqld.pid --bind-address=127.0.0.1 --port=3306 --user=root \
  --skip-name-resolve --max-connections=1000 --innodb-buffer-pool-size=128M \
  --innodb-flush-log-at-trx-commit=0 --skip-innodb-doublewrite --character-set-server=utf8mb3 \
  --collation-server=utf8mb3_general_ci --log-error=$LOG/mariadb.err
start rabbitmq env RABBITMQ_CONFIG_FILE=$ETC/rabbitmq.conf \
  RABBITMQ_ENABLED_PLUGINS_FILE=$ETC/rabbitmq-enabled-plugins RABBITMQ_MNESIA_BASE=$OSDEV/rabbit/mnesia \
  RABBITMQ_LOG_BASE=$LOG RABBITMQ_NODENAME=rabbit@localhost RABBITMQ_NODE_IP_ADDRESS=127.0.0.1 \
  RABBITMQ_DIST_PORT=25672 ERL_EPMD_ADDRESS=127.0.0.1 HOME=$OSDEV/rabbit \
  RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS='-kernel inet_dist_use_interface {127,0,0,1}' \
  /usr/lib/rabbitmq/bin/rabbitmq-server
MYSQL="mariadb --no-defaults -S $OSDEV/mysql/mysqld.sock -uroot"
wait_until mariadb 60 $MYSQL -e 'select 1'
$MYSQL <<EOF || fail mariadb "creating databases failed"
CREATE USER 'openstack'@'127.0.0.1' IDENTIFIED BY '$DB_PW';
GRANT ALL PRIVILEGES ON *.* TO 'openstack'@'127.0.0.1';
CREATE DATABASE keystone; CREATE DATABASE glance; CREATE DATABASE neutron; CREATE DATABASE placement;
CREATE DATABASE nova_api; CREATE DATABASE nova_cell0; CREATE DATABASE nova;
EOF

# ------------------------------------------------------------------ 6. services, in parallel
# Each service is one background job; they meet at milestone files in $RUN (*.ready).
job_rabbit() {
  wait_until rabbitmq "$START_TIMEOUT" tcp_up 5672
  touch $RUN/rabbit.ready
}
job_keystone() {
  local KM="keystone-manage --config-file $ETC/keystone/keystone.conf"
  run keystone-db-sync $KM db_sync
  # fernet and credential key repositories as keystone-manage fernet_setup/credential_setup
  # write them (urlsafe base64 of 32 random bytes; 0 = staged key, 1 = primary) without two
  # more slow python start-ups
  local d k
  for d in fernet-keys credential-keys; do
    mkdir -m 700 -p $OSDEV/keystone/$d
    for k in 0 1; do
      (umask 077; head -c 32 /dev/urandom | base64 -w0 | tr '+/' '-_' > $OSDEV/keystone/$d/$k)
    done
  done
  run keystone-bootstrap $KM bootstrap --bootstrap-password "$ADMIN_PW" --bootstrap-region-id RegionOne \
    --bootstrap-admin-url $KS/v3 --bootstrap-internal-url $KS/v3 --bootstrap-public-url $KS/v3
  # uwsgi: --lazy-apps (forked workers otherwise share/reset DB connections) and
  # Connection: close (--http-socket does no keep-alive; reusing clients get resets)
  start keystone uwsgi --plugin python3 --http-socket 127.0.0.1:5000 --wsgi-file /usr/bin/keystone-wsgi-public \
    --master --processes 2 --threads 1 --buffer-size 65535 --die-on-term --need-app --lazy-apps \
    --add-header 'Connection: close' --env OS_KEYSTONE_CONFIG_FILES=$ETC/keystone/keystone.conf
  wait_until keystone "$START_TIMEOUT" http_up $KS/v3
  run keystone-identity /usr/bin/python3 $PYPATH/devcloud_data.py identity
  touch $RUN/keystone.ready
}
job_glance() {
  run glance-db-sync $BIN/glance-manage --config-file $ETC/glance/glance-api.conf db_sync
  start glance-api $BIN/glance-api --config-file $ETC/glance/glance-api.conf
}
job_placement() {
  run placement-db-sync placement-manage --config-file $ETC/placement/placement.conf db sync
  start placement uwsgi --plugin python3 --http-socket 127.0.0.1:8778 --wsgi-file /usr/bin/placement-api \
    --master --processes 2 --threads 1 --buffer-size 65535 --die-on-term --need-app --lazy-apps \
    --add-header 'Connection: close' --env OS_PLACEMENT_CONFIG_DIR=$ETC/placement
  wait_until placement "$START_TIMEOUT" http_up http://127.0.0.1:8778/
  touch $RUN/placement.ready
}
job_neutron() {
  local NCONF="--config-file $ETC/neutron/neutron.conf --config-file $ETC/neutron/plugins/ml2/ml2_conf.ini"
  run neutron-db-manage $BIN/neutron-db-manage $NCONF upgrade heads
  wait_file $RUN/rabbit.ready
  start neutron-server $BIN/neutron-server $NCONF
}
job_nova() {
  local NM="$BIN/nova-manage --config-file $ETC/nova/nova.conf --config-file $ETC/nova/nova-db.conf" s
  # the three schema syncs (api, cell1, cell0) run side by side; the cell mappings need the api schema
  printf '[database]\nconnection = %s\n' "$(dburl nova_cell0)" > $ETC/nova/nova-cell0.conf
  ( run nova-db-sync $NM db sync --local_cell ) &
  local p1=$!
  ( run nova-cell0-db-sync $NM --config-file $ETC/nova/nova-cell0.conf db sync --local_cell ) &
  local p0=$!
  run nova-api-db-sync $NM api_db sync
  run nova-map-cell0 $NM cell_v2 map_cell0 --database_connection "$(dburl nova_cell0)"
  run nova-create-cell $NM cell_v2 create_cell --name cell1 --database_connection "$(dburl nova)" \
    --transport-url $RABBIT_URL
  wait $p1 || exit 1
  wait $p0 || exit 1
  # conductor/scheduler/api talk to keystone (placement client) at start: needs the service users
  wait_file $RUN/rabbit.ready
  wait_file $RUN/keystone.ready
  for s in nova-conductor nova-scheduler nova-api; do
    start $s $BIN/$s --config-file $ETC/nova/nova.conf --config-file $ETC/nova/nova-db.conf --log-file $LOG/$s.log
  done
  # nova-compute registers with placement at start
  wait_file $RUN/placement.ready
  HARDENCTL_COMPUTE_MODULES=$compute_modules \
    start nova-compute /usr/bin/python3 $PYPATH/nova_compute.py --config-file $ETC/nova/nova.conf \
    --log-file $LOG/nova-compute.log
}

# Swift: its own script (swift.sh also adds it to a running bed); keystone registers it
job_swift() {
  wait_file $RUN/keystone.ready
  run swift env DEVCLOUD_T0="$T0" bash "$HERE/swift.sh" --job
}

step "keystone, glance, placement, neutron, nova, swift (parallel db syncs and starts)"
jobs_pids=()
for j in rabbit keystone glance placement neutron nova swift; do
  ( job_$j ) &
  jobs_pids+=($!)
done
rc=0
for p in "${jobs_pids[@]}"; do wait "$p" || rc=1; done
[ $rc = 0 ] || exit 1

step "waiting for the APIs"
wait_until glance-api "$START_TIMEOUT" http_up http://127.0.0.1:9292/
wait_until neutron-server "$START_TIMEOUT" http_up http://127.0.0.1:9696/
wait_until nova-api "$START_TIMEOUT" http_up http://127.0.0.1:8774/

step "waiting for nova-compute to register, then mapping it to cell1"
compute_node() { [ "$($MYSQL -N -e "SELECT COUNT(*) FROM nova.compute_nodes WHERE deleted=0 AND host='$NOVA_HOST'")" -ge 1 ]; }
wait_until nova-compute "$START_TIMEOUT" compute_node
run nova-discover-hosts $BIN/nova-manage --config-file $ETC/nova/nova.conf --config-file $ETC/nova/nova-db.conf \
  cell_v2 discover_hosts --strict

step "flavors, images, demo network, demo quotas"
run sample-data /usr/bin/python3 $PYPATH/devcloud_data.py sample
cat $LOG/sample-data.out
# shared network `platform` = the testhosts bridge, for real servers (platform.sh adds mirror + image)
run platform-network /usr/bin/python3 $PYPATH/hardenctl_platform.py network
cat $LOG/platform-network.out

date -u +%FT%TZ > $RUN/up.done
bash "$HERE/status.sh" -q || fail status "status.sh fails right after start (see above)"
step "devcloud up in $OSDEV"
echo "export OS_CLIENT_CONFIG_FILE=$OSDEV/clouds.yaml   # openstack --os-cloud admin|demo ...; or: . $OSDEV/openrc-demo"
