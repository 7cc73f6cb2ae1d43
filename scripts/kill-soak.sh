#!/usr/bin/env bash
# The kill soak: hardenctl apply and destroy stopped (SIGKILL, SIGINT) at N random points (a
# request to Neutron that changes something hangs in the fault proxy, then the signal), each
# followed by force-unlock, a rerun and the convergence checks of
# cmd/hardenctl/kills_integration_test.go. make test runs five fixed points.
#   KILL_SOAK_POINTS=N   how many random points (default 20)
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH=/usr/local/go/bin:$HOME/go/bin:$PATH
export GOFLAGS=${GOFLAGS:--mod=mod}
export OSDEV=${OSDEV:-/tmp/hardenctl-devcloud}
bash scripts/devcloud/status.sh >/dev/null || { echo "kill-soak: the test bed at $OSDEV is not up (make platform-up)" >&2; exit 1; }
log=${KILL_SOAK_LOG:-$(mktemp -t kill-soak.XXXXXX.log)}
echo "kill-soak: log in $log" >&2
status=0
HARDENCTL_INTEGRATION=1 HARDENCTL_KILL_SOAK=${KILL_SOAK_POINTS:-20} OS_CLIENT_CONFIG_FILE="$OSDEV/clouds.yaml" \
  go test -count=1 -timeout 120m -run 'TestKillsConverge' -v ./cmd/hardenctl/ >"$log" 2>&1 || status=$?
sed -n '/kill points (/,/^\s*---/p' "$log" | sed 's/^ *//'
grep -E '^\s+--- FAIL' "$log" || true
exit $status
