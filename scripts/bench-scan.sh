#!/bin/bash
# bench-scan.sh - how fast hardenctl scans a fleet, on the namespace test hosts (hosts.sh).
#
#   bench-scan.sh real [N]           N real hosts (default 20) at concurrency N through the bastion:
#                                    hardenctl wall time vs the CPU bound (sum of the hosts' oscap
#                                    CPU seconds / cores) and vs oscap-ssh over the same hosts,
#                                    one after another, through the same bastion.
#   bench-scan.sh sim [N] [C] [S]    SIMULATED: N hosts (default 200) whose oscap is a stand-in that
#                                    sleeps S s (default 10) and writes a small genuine ARF, at
#                                    concurrency C (default 20): wall time vs ceil(N/C)*S, and
#                                    hardenctl's CPU seconds and peak RSS (per host).
#
# Uses its own hosts.sh instance (HC_INSTANCE, default 60) and stops it at the end.
# env: TESTHOSTS (default /tmp/hardenctl-testhosts), PROFILE (default standard),
#      HARDENCTL (default bin/hardenctl, built if missing), OUT (default /tmp/hardenctl-bench)
set -euo pipefail

cd "$(dirname "$0")/.."
export TESTHOSTS=${TESTHOSTS:-/tmp/hardenctl-testhosts}
export HC_INSTANCE=${HC_INSTANCE:-60}
HOSTS_SH=scripts/testhosts/hosts.sh
RUN=$TESTHOSTS/run-$HC_INSTANCE
KEY=$TESTHOSTS/keys/id_ed25519
CONTENT=$TESTHOSTS/content
DS=$CONTENT/ssg-debian12-ds.xml
PROFILE=${PROFILE:-standard}
SCAP_PROFILE=xccdf_org.ssgproject.content_profile_$PROFILE
HARDENCTL=${HARDENCTL:-bin/hardenctl}
OUT=${OUT:-/tmp/hardenctl-bench}
CORES=$(nproc)

die() { echo "bench-scan.sh: $*" >&2; exit 1; }
[ -f "$DS" ] || die "no $DS: run scripts/testhosts/prepare.sh"
if [ ! -x "$HARDENCTL" ]; then
  PATH=/usr/local/go/bin:$PATH go build -o "$HARDENCTL" ./cmd/hardenctl
fi
mkdir -p "$OUT"

cleanup() { bash "$HOSTS_SH" down >/dev/null 2>&1 || true; }
trap cleanup EXIT

# Machine CPU seconds (busy, all) from /proc/stat: the cores are shared with whatever else runs.
cpu_busy() { awk '/^cpu /{b=$2+$3+$4+$7+$8+$9; t=b+$5+$6; printf "%.2f %.2f\n", b/100, t/100}' /proc/stat; }

# hardenctl scan of every host in $RUN/hosts.txt under GNU time; prints wall, CPU and RSS.
hardenctl_scan() {   # hardenctl_scan CONCURRENCY LABEL
  local c=$1 label=$2 args=()
  while read -r name addr; do args+=(--host "$name=$addr"); done <"$RUN/hosts.txt"
  local t0 t1 rc=0
  t0=$(date +%s.%N)
  /usr/bin/time -f '%e %U %S %M' -o "$OUT/$label.time" \
    "$HARDENCTL" scan "${args[@]}" --bastion "root@$(cut -d' ' -f2 "$RUN/bastion.txt")" --user root \
      -i "$KEY" --known-hosts "$RUN/known_hosts" --content-dir "$CONTENT" --profile "$PROFILE" \
      --concurrency "$c" --timeout 20m --report-dir "$OUT/reports-$label" --json >"$OUT/$label.json" 2>"$OUT/$label.err" || rc=$?
  t1=$(date +%s.%N)
  [ $rc = 0 ] || [ $rc = 2 ] || { tail -5 "$OUT/$label.err" >&2; die "hardenctl scan exited $rc"; }
  read -r wall user sys rss <"$OUT/$label.time"
  echo "$wall $user $sys $rss"
}

real() {
  local n=${1:-20}
  bash "$HOSTS_SH" up "$n"
  # oscap's own CPU time on every host: a wrapper ahead of /usr/bin/oscap in PATH (and in
  # sudo's secure_path) records its children's user+sys seconds with the shell's `times`.
  local name addr
  while read -r name addr; do
    bash "$HOSTS_SH" exec "$name" sh -c 'cat >/usr/local/bin/oscap <<"EOF"
#!/bin/sh
/usr/bin/oscap "$@"; rc=$?
times >/var/tmp/oscap-times.$$   # not in a pipe: a subshell would report its own children
tail -n 1 /var/tmp/oscap-times.$$ >>/var/tmp/oscap-cpu; rm -f /var/tmp/oscap-times.$$
exit $rc
EOF
chmod 755 /usr/local/bin/oscap; rm -f /var/tmp/oscap-cpu'
  done <"$RUN/hosts.txt"

  echo "== real: $n hosts, profile $PROFILE, concurrency $n, $CORES cores"
  local b0 t0c b1 t1c
  read -r b0 t0c < <(cpu_busy)
  read -r wall user sys rss < <(hardenctl_scan "$n" real)
  read -r b1 t1c < <(cpu_busy)
  local cpu=0 line
  while read -r name addr; do
    line=$(bash "$HOSTS_SH" exec "$name" cat /var/tmp/oscap-cpu)
    cpu=$(awk -v acc="$cpu" -v l="$line" 'BEGIN{split(l, a, " "); for (i in a) { s=a[i]; sub(/s$/, "", s); split(s, p, "m"); acc += p[1]*60 + p[2] } print acc}')
  done <"$RUN/hosts.txt"
  local bound; bound=$(awk -v c="$cpu" -v n="$CORES" 'BEGIN{printf "%.1f", c/n}')
  echo "hardenctl: wall ${wall}s; hosts' oscap CPU ${cpu}s / $CORES cores = bound ${bound}s; ratio $(awk -v w="$wall" -v b="$bound" 'BEGIN{printf "%.2f", w/b}')x"
  echo "hardenctl itself: CPU $(awk -v u="$user" -v s="$sys" 'BEGIN{print u+s}')s, peak RSS $((rss / 1024)) MiB"
  awk -v b="$(awk -v a="$b0" -v b="$b1" 'BEGIN{print b-a}')" -v t="$(awk -v a="$t0c" -v b="$t1c" 'BEGIN{print b-a}')" \
      -v o="$cpu" -v h="$(awk -v u="$user" -v s="$sys" 'BEGIN{print u+s}')" -v w="$wall" -v n="$CORES" \
      'BEGIN{other=b-o-h; if (other<0) other=0; avail=n-other/w;
             printf "machine during the run: %.1f of %.1f core-seconds busy; besides oscap and hardenctl (sshd and gzip on the hosts, the bastion, anything else): %.1f core-s = %.2f cores on average\n", b, t, other, other/w;
             if (avail > 0.1) printf "bound on the cores left to us (%.2f): %.1fs; ratio %.2fx\n", avail, o/avail, w/(o/avail)}' 
  python3 - "$OUT/real.json" <<'EOF'
import json, sys
s = json.load(open(sys.argv[1]))
for h in s["hosts"]:
    print(f'  {h["host"]}: {h["status"]} score {h["score"]} in {h["duration_seconds"]}s')
EOF

  echo "== oscap-ssh, the same $n hosts one after another through the same bastion"
  local t0 t1 rc
  t0=$(date +%s.%N)
  while read -r name addr; do
    rc=0
    SSH_ADDITIONAL_OPTIONS="-F $RUN/ssh_config" oscap-ssh "root@$addr" 22 xccdf eval --profile "$SCAP_PROFILE" \
      --results-arf "$OUT/oscap-ssh-$name-arf.xml" \
      --report "$OUT/oscap-ssh-$name.html" "$DS" </dev/null >"$OUT/oscap-ssh-$name.log" 2>&1 || rc=$?
    [ $rc = 0 ] || [ $rc = 2 ] || { tail -5 "$OUT/oscap-ssh-$name.log" >&2; die "oscap-ssh $name exited $rc"; }
  done <"$RUN/hosts.txt"
  t1=$(date +%s.%N)
  local serial; serial=$(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.1f", b-a}')
  echo "oscap-ssh serial: ${serial}s; hardenctl ${wall}s: $(awk -v s="$serial" -v w="$wall" 'BEGIN{printf "%.1f", s/w}')x faster"
}

sim() {
  local n=${1:-200} c=${2:-20} s=${3:-10}
  bash "$HOSTS_SH" up "$n"
  # The stand-in: sleeps (almost no CPU), then writes a small genuine ARF, results and report.
  local arf name addr
  arf=$(cat hardening/testdata/xccdf/mini-arf.xml)
  while read -r name addr; do
    bash "$HOSTS_SH" exec "$name" sh -c "mkdir -p /var/lib/hardenctl-bench && cat >/var/lib/hardenctl-bench/arf.xml && cat >/usr/local/bin/oscap <<'EOF'
#!/bin/sh
# SIMULATED oscap for bench-scan.sh: sleep, then write a canned result (exit 2, not compliant)
arf= res= rep=
while [ \$# -gt 0 ]; do
  case \$1 in --results-arf) arf=\$2; shift ;; --results) res=\$2; shift ;; --report) rep=\$2; shift ;; esac
  shift
done
sleep $s
cp /var/lib/hardenctl-bench/arf.xml \"\$arf\"
[ -z \"\$res\" ] || cp /var/lib/hardenctl-bench/arf.xml \"\$res\"
echo '<html><body>simulated</body></html>' >\"\$rep\"
exit 2
EOF
chmod 755 /usr/local/bin/oscap" <<<"$arf"
  done <"$RUN/hosts.txt"

  echo "== SIMULATED: $n hosts, stand-in oscap sleeping ${s}s, concurrency $c"
  local b0 t0c b1 t1c
  read -r b0 t0c < <(cpu_busy)
  read -r wall user sys rss < <(hardenctl_scan "$c" "sim-$n-$c")
  read -r b1 t1c < <(cpu_busy)
  local ideal; ideal=$(awk -v n="$n" -v c="$c" -v s="$s" 'BEGIN{r=int(n/c); if (r*c<n) r++; print r*s}')
  local cpu; cpu=$(awk -v u="$user" -v s="$sys" 'BEGIN{print u+s}')
  echo "SIMULATED: wall ${wall}s vs ideal ceil($n/$c)*$s = ${ideal}s: $(awk -v w="$wall" -v i="$ideal" 'BEGIN{printf "%.2f", w/i}')x"
  echo "SIMULATED: hardenctl CPU ${cpu}s ($(awk -v c="$cpu" -v n="$n" 'BEGIN{printf "%.3f", c/n}')s per host), peak RSS $((rss / 1024)) MiB ($(awk -v r="$rss" -v n="$n" 'BEGIN{printf "%.2f", r/1024/n}') MiB per host)"
  awk -v b="$(awk -v a="$b0" -v b="$b1" 'BEGIN{print b-a}')" -v h="$cpu" -v n="$n" -v w="$wall" -v k="$CORES" \
      'BEGIN{printf "machine during the run: %.1f core-seconds busy (%.0f%% of %d cores); besides hardenctl (the hosts'"'"' sshd, unpacking, the bastion, anything else): %.3f core-s per host\n", b, 100*b/(w*k), k, (b-h)/n}'
  python3 - "$OUT/sim-$n-$c.json" <<'EOF'
import json, sys, collections
s = json.load(open(sys.argv[1]))
print("  statuses:", dict(collections.Counter(h["status"] for h in s["hosts"])))
EOF
}

case "${1:-}" in
  real) shift; real "$@" ;;
  sim) shift; sim "$@" ;;
  *) sed -n '2,18p' "$0"; exit 1 ;;
esac
