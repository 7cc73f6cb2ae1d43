#!/usr/bin/env bash
# make demo: the product's tour on the local test bed, with the sample platform
# (testdata/platform: DMZ, app, data and management zones behind a bastion, a node image built
# on the internal mirror, fleets of servers). Each step says what it proves. scripts/testbed.env
# points the sample at the test bed (keys, known_hosts, bastion, content); `make demo` has
# brought the test bed up first.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/testbed.env
export HARDENCTL_REPORTS=${HARDENCTL_REPORTS:-$TESTHOSTS/reports}
export HARDENCTL_VAR_report_dir=$HARDENCTL_REPORTS
H="bin/hardenctl -C testdata/platform"
start=$SECONDS
n=0
step() { n=$((n + 1)); printf '\n\033[1m== %d. %s\033[0m  [%ds]\n' "$n" "$1" $((SECONDS - start)); shift; printf '   %s\n' "$@"; }
run() { printf '\033[2m$ %s\033[0m\n' "$*"; "$@"; }
fail() { printf '\ndemo: %s\n' "$*" >&2; exit 1; }

step "validate" "The configuration loads: HCL errors would show file:line:column and the fix."
run $H validate

step "plan and apply the zones" \
  "Four zones and the bastion become security groups; every zone takes SSH only from the" \
  "bastion's group; Neutron's allow-all egress is removed. The db fleet boots from the base image;" \
  "the app fleet waits, with a warning, until its image is built."
run $H plan -out demo.plan
run $H apply demo.plan
rm -f demo.plan

step "nothing left to do" "A second plan finds the cloud as configured (exit 0 of -detailed-exitcode)."
run $H plan -detailed-exitcode

step "drift is removed" \
  "A rule added by hand (MySQL from anywhere into the data zone) is drift: plan shows it for" \
  "removal, apply removes it, and the plan is empty again."
group=$(openstack --os-cloud demo security group list --tags managed-by:hardenctl,hardenctl-config:sample -f value -c ID -c Name | awk '$2=="sample-data"{print $1}')
[ -n "$group" ] || fail "no sample-data group after apply"
run openstack --os-cloud demo security group rule create --protocol tcp --dst-port 3306 --remote-ip 0.0.0.0/0 "$group" -f value -c id
set +e; run $H plan -detailed-exitcode; rc=$?; set -e
[ "$rc" = 2 ] || fail "plan after the hand-made rule: exit $rc, want 2 (changes)"
run $H apply -auto-approve
run $H plan -detailed-exitcode

step "build the node image on the mirror, gated on its score" \
  "A builder boots from debian-12-base with SSH only from the bastion's group, its host key" \
  "read from its console; the mirrors are its only package sources; it is updated, hardened and" \
  "scanned with the pinned datastream, and published with its score only at or above min_score."
run $H image build debian12-node

step "a build that fails its gate publishes nothing" \
  "debian12-plain is judged by the compliance block's min_score (70), which a test bed host" \
  "cannot reach: the build fails, names the failed rules, and no image is published."
set +e; run $H image build debian12-plain; rc=$?; set -e
[ "$rc" != 0 ] || fail "debian12-plain passed its gate"
run $H image list
if $H image list -json | grep -q '"debian12-plain"'; then fail "debian12-plain was published"; fi

step "boot the app fleet from the new image" \
  "The plan now creates the app fleet's four servers from the image just published (after an" \
  "earlier demo it shows their move onto it as a rollout, which apply leaves to upgrade: below)."
run $H plan
run $H apply -auto-approve

step "scan the fleet through the bastion" \
  "The hosts come from Nova by their ownership tags, their host keys from their consoles (no" \
  "trust on first use); OpenSCAP runs through the bastion on all four at once; the fleet is" \
  "judged by its image's profile and gate; reports and summary.json under $HARDENCTL_REPORTS."
for i in 1 2 3; do   # a server prints its host key on the console once its sshd is up
  set +e; $H scan --fleet app; rc=$?; set -e
  [ "$rc" = 3 ] && [ "$i" -lt 3 ] && { sleep 10; continue; }
  break
done
[ "$rc" = 0 ] || fail "scan --fleet app: exit $rc"

step "the scheduled rebuild: a new image, and a rolling upgrade onto it" \
  "schedule run rebuild --now does what the bi-weekly timer does: under the configuration's lock" \
  "it builds the node image again (the mirror's newest packages, hardened and gated anew), moves" \
  "the app fleet onto it with a rolling upgrade (Nova's rebuild: same ids and addresses, root" \
  "disks wiped; a canary, then half the fleet at a time, never more out of service; each server" \
  "passes SSH with the new host key from its console, its ports probed from inside and its" \
  "compliance scan at the image's gate before it counts as available), scans the db fleet for" \
  "the score trend, and leaves its record in Swift. Nova's own records (-audit) show the budget kept."
run $H schedule run rebuild --now
run $H upgrade app -audit
run $H schedule next rebuild -n 3
run $H schedule history rebuild
run openstack --os-cloud demo object list hardenctl-history

printf '\n\033[1mThe tour took %ds.\033[0m Look at the platform with:\n' $((SECONDS - start))
printf '  . scripts/testbed.env; openstack --os-cloud demo security group list; openstack --os-cloud demo server list\n'
printf 'Remove it with: . scripts/testbed.env; %s destroy -auto-approve\n' "$H"
