#!/bin/bash
# Health of the devcloud test bed: exit 0 iff every API answers, tokens can be issued for
# admin and demo, nova-compute is up, and (if $OSDEV/run exists) all recorded processes live.
# -q: print only problems.
export PATH=/usr/sbin:/usr/bin:/sbin:/bin
OSDEV=${OSDEV:-/tmp/hardenctl-devcloud}; OSDEV=${OSDEV%/}
ADMIN_PW=${ADMIN_PW:-admin} DEMO_PW=${DEMO_PW:-demo}
QUIET=0; [ "${1:-}" = -q ] && QUIET=1
KS=http://127.0.0.1:5000/v3
bad=0
ok() { [ $QUIET = 1 ] || echo "ok   $*"; }
ko() { echo "FAIL $*" >&2; bad=1; }
command -v curl >/dev/null || { ko "curl not installed"; exit 1; }

starttime() { awk '{sub(/^.*\) /, ""); print $20}' /proc/$1/stat 2>/dev/null; }
if [ -d "$OSDEV/run" ]; then
  n=0
  for f in "$OSDEV"/run/*.pid; do
    [ -e "$f" ] || continue
    read -r pid st < "$f"; n=$((n + 1))
    [ "$(starttime "$pid")" = "$st" ] || ko "process $(basename "$f" .pid) (pid $pid) is not running"
  done
  [ $n -gt 0 ] && ok "$n recorded processes running" || ko "no processes recorded in $OSDEV/run"
  [ -e "$OSDEV/run/failed" ] && ko "the last up.sh failed"
  # up.sh's proof that the services need nothing of the system's OpenStack directories: every
  # recorded daemon lives in the mount namespace up.sh made, where those are still empty/absent
  if [ -f "$OSDEV/run/isolated" ]; then
    ns=$(awk '$1=="mnt" {print $2}' "$OSDEV/run/isolated") m=0
    for f in "$OSDEV"/run/*.pid; do
      [ -e "$f" ] || continue
      read -r pid st < "$f"; name=$(basename "$f" .pid)
      [ "$(starttime "$pid")" = "$st" ] || continue
      [ "$(readlink /proc/$pid/ns/mnt)" = "$ns" ] || { ko "$name (pid $pid) is not in the test bed's mount namespace $ns"; continue; }
      m=$((m + 1)); nspid=$pid
    done
    # seen through one daemon's root (/proc/PID/root resolves paths in its mount namespace)
    if [ "$m" -gt 0 ]; then
      while read -r kind d; do
        case $kind in
          empty) awk -v d="$d" '$5 == d { f = 0; for (i = 7; i < NF; i++) if ($i == "-") { f = $(i+1) == "tmpfs" && $(i+2) == "hardenctl-devcloud-empty"; break } }
                         END { exit !f }' /proc/$nspid/mountinfo ||
                   ko "$d is no longer the empty tmpfs in the test bed's namespace"
                 [ -z "$(ls -A "/proc/$nspid/root$d" 2>/dev/null)" ] || ko "$d is not empty in the test bed's namespace: $(ls -A "/proc/$nspid/root$d" | head -5 | tr '\n' ' ')" ;;
          absent) [ -e "/proc/$nspid/root$d" ] && ko "$d was created while the test bed ran (it must use \$OSDEV only)" ;;
        esac
      done < "$OSDEV/run/isolated"
      ok "$m processes in mount namespace $ns without$(awk '$1!="mnt" {printf " %s", $2}' "$OSDEV/run/isolated")"
    fi
  else
    ok "not isolated: started with DEVCLOUD_ISOLATE=0 or by an older up.sh (no proof of independence from /etc/nova etc.)"
  fi
fi

for api in identity=$KS image=http://127.0.0.1:9292/ network=http://127.0.0.1:9696/ \
           placement=http://127.0.0.1:8778/ compute=http://127.0.0.1:8774/; do
  code=$(curl -s -m 5 -o /dev/null -w '%{http_code}' "${api#*=}")
  case $code in 2??|3??) ok "${api%%=*} ${api#*=} ($code)";; *) ko "${api%%=*} ${api#*=} answers '$code'";; esac
done

token() { # user password -> token on stdout
  curl -s -m 10 -i -X POST $KS/auth/tokens -H 'Content-Type: application/json' -d '{"auth":{"identity":{"methods":["password"],"password":{"user":{"name":"'$1'","domain":{"id":"default"},"password":"'$2'"}}},"scope":{"project":{"name":"'$1'","domain":{"id":"default"}}}}}' \
    | awk -F': ' 'tolower($1)=="x-subject-token"{print $2}' | tr -d '\r'
}
DT=$(token demo "$DEMO_PW"); [ -n "$DT" ] && ok "token for demo" || ko "no token for demo"
AT=$(token admin "$ADMIN_PW")
if [ -n "$AT" ]; then
  ok "token for admin"
  up=$(curl -s -m 10 -H "X-Auth-Token: $AT" 'http://127.0.0.1:8774/v2.1/os-services?binary=nova-compute' |
       grep -o '"state": *"up"' | wc -l)
  [ "$up" -ge 1 ] && ok "nova-compute up" || ko "nova-compute is not up"
else
  ko "no token for admin"
fi

# Swift (swift.sh, up.sh's job): checked once it was started; a bed from before it has none
# (up.sh then adds it instead of starting afresh)
if ls "$OSDEV"/run/swift-*.pid >/dev/null 2>&1; then
  code=$(curl -s -m 5 -o /dev/null -w '%{http_code}' http://127.0.0.1:8090/healthcheck)
  [ "$code" = 200 ] && ok "object-store http://127.0.0.1:8090/healthcheck ($code)" || ko "swift's proxy http://127.0.0.1:8090/healthcheck answers '$code'"
  if [ -n "$DT" ]; then
    proj=$(curl -s -m 10 -H "X-Auth-Token: $DT" -H "X-Subject-Token: $DT" $KS/auth/tokens | jq -r '.token.project.id // empty')
    code=$(curl -s -m 10 -o /dev/null -w '%{http_code}' -H "X-Auth-Token: $DT" "http://127.0.0.1:8090/v1/AUTH_$proj")
    case $code in 2??) ok "object-store: demo's account AUTH_$proj ($code)";; *) ko "object-store: demo's account AUTH_$proj answers '$code'";; esac
  fi
else
  ok "object-store: not started in this bed (bash scripts/devcloud/swift.sh adds it)"
fi
exit $bad
