#!/usr/bin/env bash
# The fault-injection soak: every fault kind of cmd/hardenctl/faults_integration_test.go at
# every API step of apply and destroy, through the fault proxy, against the test bed
# (make platform-up first). make test runs a selection of the same cases.
#   HARDENCTL_FAULT_CONCURRENCY=N   cases at once (default 4)
#   extra arguments go to go test (e.g. -run 'TestFaultInjection/cases/apply/create_group')
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH=/usr/local/go/bin:$HOME/go/bin:$PATH
export GOFLAGS=${GOFLAGS:--mod=mod}
export OSDEV=${OSDEV:-/tmp/hardenctl-devcloud}
bash scripts/devcloud/status.sh >/dev/null || { echo "fault-soak: the test bed at $OSDEV is not up (make platform-up)" >&2; exit 1; }
log=${FAULT_SOAK_LOG:-$(mktemp -t fault-soak.XXXXXX.log)}
echo "fault-soak: log in $log" >&2
status=0
HARDENCTL_INTEGRATION=1 HARDENCTL_FAULT_SOAK=1 OS_CLIENT_CONFIG_FILE="$OSDEV/clouds.yaml" \
  go test -count=1 -timeout 120m -run 'TestFaultInjection' -v "$@" ./cmd/hardenctl/ >"$log" 2>&1 || status=$?
# The table (fault kind x step, outcome, converged) and the failures.
sed -n '/command  step/,/cases, .* with problems/p' "$log" | sed 's/^ *//'
grep -E '^\s+--- FAIL' "$log" || true
exit $status
