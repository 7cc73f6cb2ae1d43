#!/usr/bin/env bash
# make demo: the sample platform (testdata/platform: DMZ, app, data and management zones
# behind a bastion) planned and applied on the local test bed, then planned again.
set -euo pipefail
cd "$(dirname "$0")/.."
export OS_CLIENT_CONFIG_FILE=${OSDEV:-/tmp/hardenctl-devcloud}/clouds.yaml
H="bin/hardenctl -C testdata/platform"
say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

say "hardenctl validate"
$H validate
say "hardenctl plan   (what the cloud lacks, and why)"
$H plan
say "hardenctl apply -auto-approve"
$H apply -auto-approve
say "hardenctl plan -detailed-exitcode   (nothing left to do: exit 0)"
$H plan -detailed-exitcode
say "a rule added by hand to the data zone's group is drift: plan shows it for removal"
group=$(openstack --os-cloud demo security group list --tags managed-by:hardenctl -f value -c ID -c Name 2>/dev/null | awk '$2=="sample-data"{print $1}')
if [ -n "$group" ]; then
  openstack --os-cloud demo security group rule create --protocol tcp --dst-port 3306 --remote-ip 0.0.0.0/0 "$group" -f value -c id >/dev/null
  $H plan || true
  say "hardenctl apply -auto-approve   (removes it)"
  $H apply -auto-approve
fi
printf '\nThe sample platform is applied on the test bed. Look at it with:\n'
printf '  export OS_CLIENT_CONFIG_FILE=%s\n  openstack --os-cloud demo security group list\n' "$OS_CLIENT_CONFIG_FILE"
printf 'Remove it with: %s destroy\n' "$H"
