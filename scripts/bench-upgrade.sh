#!/usr/bin/env bash
# The rollout figures (issue 10): a fleet of six real servers on the test bed rolled with
# max_unavailable 1, 2 and 3 through every gate (ssh, tcp, score): wall time against the bound
# (the sum over batches of the slowest server's rebuild + gates), the mean time in each gate,
# hardenctl's own CPU and peak memory (/usr/bin/time -v). Needs the test bed (make platform-up).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH=/usr/local/go/bin:$PATH GOFLAGS=${GOFLAGS:--mod=mod}
export OSDEV=${OSDEV:-/tmp/hardenctl-devcloud} TESTHOSTS=${TESTHOSTS:-/tmp/hardenctl-testhosts}
export HARDENCTL_INTEGRATION=1 HARDENCTL_UPGRADE_FIGURES=1 OS_CLIENT_CONFIG_FILE=$OSDEV/clouds.yaml
go test -count=1 -timeout 60m -v -run 'TestUpgradeFigures' ./cmd/hardenctl 2>&1 | grep -v '^{' | grep -E 'upgrade_figures|rollout of 6|max_unavailable [0-9]:|Error|^(---|ok|FAIL)'
