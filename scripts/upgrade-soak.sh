#!/usr/bin/env bash
# make upgrade-soak: the long version of TestUpgradeRollout's kill points. A fleet of six real
# servers is rolled between two images while `hardenctl upgrade` is SIGKILLed at
# UPGRADE_SOAK_KILLS random points (default 20); after each, force-unlock -fleet and a rerun
# must converge (all on the target, healthy by their marks, same ids and addresses) and
# -audit must show the budget (2) never exceeded. Prints the table of kill points. Needs the
# test bed (make platform-up); ~15 min for 20 points.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH=/usr/local/go/bin:$PATH GOFLAGS=${GOFLAGS:--mod=mod}
export OSDEV=${OSDEV:-/tmp/hardenctl-devcloud} TESTHOSTS=${TESTHOSTS:-/tmp/hardenctl-testhosts}
export HARDENCTL_INTEGRATION=1 OS_CLIENT_CONFIG_FILE=$OSDEV/clouds.yaml
export HARDENCTL_UPGRADE_KILLS=${UPGRADE_SOAK_KILLS:-20}
start=$SECONDS
go test -count=1 -timeout 90m -v -run 'TestUpgradeRollout/kills_converge' ./cmd/hardenctl 2>&1 |
  grep -v '^{' | grep -E 'upgrade_integration_test|^ +[0-9]+  kill after|Error|^(---|ok|FAIL|PASS)' || true
echo "upgrade soak: $HARDENCTL_UPGRADE_KILLS kill points in $((SECONDS - start)) s"
